// Package memobj is an objstore.Bucket in memory, for tests. It keeps the
// contract that matters to the lake: a Put is visible whole or not at all,
// List is in key order, a missing key wraps objstore.ErrNotFound. It
// imports only objstore.
package memobj

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/contentful/auditlogs/internal/objstore"
)

// Bucket is an in-memory bucket. The zero value is empty and ready.
type Bucket struct {
	mu      sync.Mutex
	objects map[string][]byte
}

var _ objstore.Bucket = (*Bucket)(nil)

// Get returns a reader over the stored bytes, which a later Put replaces
// but never changes.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memobj: get %s: %w", key, err)
	}
	b.mu.Lock()
	data, ok := b.objects[key]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memobj: get %s: %w", key, objstore.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Put reads r to the end and then stores it.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("memobj: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memobj: put %s: %w", key, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.objects == nil {
		b.objects = map[string][]byte{}
	}
	b.objects[key] = data
	return nil
}

// List lists a snapshot of the keys under prefix.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	b.mu.Lock()
	var objs []objstore.Object
	for k, v := range b.objects {
		if strings.HasPrefix(k, prefix) {
			sum := md5.Sum(v)
			objs = append(objs, objstore.Object{Key: k, Size: int64(len(v)), ETag: `"` + hex.EncodeToString(sum[:]) + `"`})
		}
	}
	b.mu.Unlock()
	slices.SortFunc(objs, func(a, b objstore.Object) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memobj: list %s: %w", prefix, err)
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes key.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memobj: delete %s: %w", key, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objects, key)
	return nil
}

// Keys returns every key, sorted: for tests that check what is visible.
func (b *Bucket) Keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
