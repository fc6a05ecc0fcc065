// Package memsink is an in-memory Sink for unit tests. It holds whole
// objects in memory, so it is not for production or large benchmarks
// (see export's discarding sink for those).
//
// Tests only: production code imports it only from _test.go files. Of
// this module it imports only sink (the interface it implements, and the
// metadata rules the real providers apply too).
package memsink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"sort"
	"sync"

	"github.com/contentful/auditlogs/internal/sink"
)

// Sink keeps uploaded objects in a map.
type Sink struct {
	mu      sync.Mutex
	objects map[string]object
}

type object struct {
	body []byte
	obj  sink.Object
}

var _ sink.Sink = (*Sink)(nil)

// New returns an empty Sink.
func New() *Sink { return &Sink{objects: map[string]object{}} }

// Upload reads r to the end and, only if that succeeds, stores the bytes
// and o, with o's Content-Type defaulted as the real providers do. Like
// them it refuses metadata that fails sink.ValidateMetadata before it
// reads r.
func (s *Sink) Upload(ctx context.Context, name string, r io.Reader, o sink.Object) error {
	if name == "" {
		return fmt.Errorf("memsink: empty object name")
	}
	if err := sink.ValidateMetadata(o.Metadata); err != nil {
		return fmt.Errorf("memsink: upload %s: %w", name, err)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("memsink: upload %s: %w", name, err)
	}
	o.ContentType = o.ContentTypeOrDefault()
	o.Metadata = maps.Clone(o.Metadata) // the caller's map may change later
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[name] = object{body: buf.Bytes(), obj: o}
	return nil
}

// Get returns the stored object and whether it exists.
func (s *Sink) Get(_ context.Context, name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[name]
	return bytes.Clone(o.body), ok, nil
}

// Object returns what the upload of name said about it besides its bytes
// (with the default Content-Type filled in), and whether it exists.
func (s *Sink) Object(name string) (sink.Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[name]
	if !ok {
		return sink.Object{}, false
	}
	obj := o.obj
	obj.Metadata = maps.Clone(obj.Metadata)
	return obj, true
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
