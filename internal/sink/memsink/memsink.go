// Package memsink is an in-memory Sink for unit tests. It holds whole
// objects in memory, so it is not for production or large benchmarks
// (see export's discarding sink for those).
//
// Tests only: production code imports it only from _test.go files. It
// imports only the standard library: not even sink, whose interface it
// implements as it is.
package memsink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
)

// Sink keeps uploaded objects in a map.
type Sink struct {
	mu      sync.Mutex
	objects map[string][]byte
}

// New returns an empty Sink.
func New() *Sink { return &Sink{objects: map[string][]byte{}} }

// Upload reads r to the end and, only if that succeeds, stores the bytes.
func (s *Sink) Upload(ctx context.Context, name string, r io.Reader) error {
	if name == "" {
		return fmt.Errorf("memsink: empty object name")
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("memsink: upload %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[name] = buf.Bytes()
	return nil
}

// Get returns the stored object and whether it exists.
func (s *Sink) Get(_ context.Context, name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[name]
	return bytes.Clone(b), ok, nil
}

// List returns the names of all objects with the prefix, sorted.
func (s *Sink) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.objects {
		if len(n) >= len(prefix) && n[:len(prefix)] == prefix {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
