// Package sinktest is the acceptance suite that every sink.Sink provider
// must pass: the in-memory fake, S3 on moto_server and Azure on Azurite run
// the same tests, so the fake cannot drift from the real providers.
//
// Tests only: production code never imports it; the providers import it
// from their tests. It imports only sink of this module, never a provider.
package sinktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/sink"
)

// Target is a provider under test together with a way to read back what it
// stored. Read-back goes around the Sink on purpose: the Sink itself is
// write-only, as the customers' credentials are.
type Target struct {
	Sink sink.Sink
	// Get returns the object's bytes, and false if it does not exist.
	Get func(ctx context.Context, name string) ([]byte, bool, error)
	// List returns every object name under prefix.
	List func(ctx context.Context, prefix string) ([]string, error)
	// LargeSize is the size of the object used to exercise multi-part or
	// multi-block uploads: set it above the provider's part size.
	LargeSize int
}

// Run runs the suite. Object names are made unique per run under prefix.
func Run(t *testing.T, prefix string, tg Target) {
	ctx := context.Background()
	if tg.LargeSize == 0 {
		tg.LargeSize = 3 << 20
	}

	t.Run("RoundTrip", func(t *testing.T) {
		name := prefix + "roundtrip.csv"
		want := []byte("request_time,request_method\r\n2026-11-24T00:00:00.000Z,PUT\r\n")
		mustUpload(t, tg, name, bytes.NewReader(want))
		assertObject(t, tg, name, want)
	})

	t.Run("Empty", func(t *testing.T) {
		name := prefix + "empty.csv"
		mustUpload(t, tg, name, bytes.NewReader(nil))
		assertObject(t, tg, name, []byte{})
	})

	t.Run("LargeStreamedInParts", func(t *testing.T) {
		name := prefix + "large.csv"
		want := make([]byte, tg.LargeSize)
		if _, err := rand.Read(want); err != nil {
			t.Fatal(err)
		}
		// A reader that hands out small, uneven chunks, as a pipe does.
		mustUpload(t, tg, name, &chunkReader{r: bytes.NewReader(want), n: 7919})
		assertObject(t, tg, name, want)
	})

	t.Run("OverwriteIsIdempotent", func(t *testing.T) {
		name := prefix + "again.csv"
		mustUpload(t, tg, name, strings.NewReader("first attempt, longer than the second\n"))
		mustUpload(t, tg, name, strings.NewReader("second\n"))
		assertObject(t, tg, name, []byte("second\n"))
		names, err := tg.List(ctx, prefix+"again")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 1 {
			t.Fatalf("objects under %q = %v, want exactly one", prefix+"again", names)
		}
	})

	for _, tc := range []struct {
		name string
		size int
	}{{"FailingSourceSmall", 1000}, {"FailingSourceAfterParts", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = tg.LargeSize
			}
			name := prefix + strings.ToLower(tc.name) + ".csv"
			boom := errors.New("source failed midway")
			r := io.MultiReader(&chunkReader{r: bytes.NewReader(make([]byte, size)), n: 65536}, errReader{boom})
			err := tg.Sink.Upload(ctx, name, r, sink.Object{})
			if !errors.Is(err, boom) && (err == nil || !strings.Contains(err.Error(), boom.Error())) {
				t.Fatalf("Upload with failing source: err = %v, want it to carry %q", err, boom)
			}
			assertAbsent(t, tg, name)
		})
	}

	t.Run("FailedRetryKeepsCompleteObject", func(t *testing.T) {
		name := prefix + "kept.csv"
		want := []byte("complete day\n")
		mustUpload(t, tg, name, bytes.NewReader(want))
		err := tg.Sink.Upload(ctx, name, io.MultiReader(strings.NewReader("partial"), errReader{errors.New("boom")}), sink.Object{})
		if err == nil {
			t.Fatal("Upload with failing source succeeded")
		}
		assertObject(t, tg, name, want)
	})

	t.Run("CanceledContext", func(t *testing.T) {
		name := prefix + "canceled.csv"
		cctx, cancel := context.WithCancel(ctx)
		r := &cancelAfter{r: bytes.NewReader(make([]byte, tg.LargeSize)), after: tg.LargeSize / 2, cancel: cancel}
		if err := tg.Sink.Upload(cctx, name, r, sink.Object{}); err == nil {
			t.Fatal("Upload succeeded although its context was canceled midway")
		}
		assertAbsent(t, tg, name)
	})
}

func mustUpload(t *testing.T, tg Target, name string, r io.Reader) {
	t.Helper()
	if err := tg.Sink.Upload(context.Background(), name, r, sink.Object{}); err != nil {
		t.Fatalf("Upload(%s): %v", name, err)
	}
}

func assertObject(t *testing.T, tg Target, name string, want []byte) {
	t.Helper()
	got, ok, err := tg.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("read back %s: %v", name, err)
	}
	if !ok {
		t.Fatalf("object %s does not exist after a successful upload", name)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("object %s: got %d bytes, want %d bytes (equal: false)", name, len(got), len(want))
	}
}

func assertAbsent(t *testing.T, tg Target, name string) {
	t.Helper()
	_, ok, err := tg.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("read back %s: %v", name, err)
	}
	if ok {
		t.Fatalf("object %s exists after a failed upload: a partial file became visible", name)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

type cancelAfter struct {
	r      io.Reader
	after  int
	read   int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
		return 0, context.Canceled
	}
	if len(p) > 65536 {
		p = p[:65536]
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}
