// Package sinktest is the acceptance suite that every sink.Sink provider
// must pass: the in-memory fake, S3 on moto_server and Azure on Azurite run
// the same tests, so the fake cannot drift from the real providers.
//
// Tests only: production code never imports it; the providers import it
// from their tests. Of this module it imports only sink and audit (the
// error type of bad metadata), never a provider.
package sinktest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
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
	// Head returns the Content-Type, Content-Encoding and user metadata
	// stored with the object, and false if it does not exist. Metadata
	// names are lowercase, as sink.ValidateMetadata has them: where a
	// provider's client changes their case (azblob gives them in HTTP's
	// canonical form), Head lowercases them, which is sound because both
	// providers treat the names as case-insensitive.
	Head func(ctx context.Context, name string) (sink.Object, bool, error)
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
	if tg.Get == nil || tg.List == nil || tg.Head == nil {
		t.Fatal("sinktest: Target needs Get, List and Head")
	}

	t.Run("RoundTrip", func(t *testing.T) {
		name := prefix + "roundtrip.csv"
		want := []byte("request_time,request_method\r\n2026-11-24T00:00:00.000Z,PUT\r\n")
		mustUpload(t, tg, name, bytes.NewReader(want))
		assertObject(t, tg, name, want)
		// The zero Object: today's file, CSV in UTF-8, nothing else.
		assertHead(t, tg, name, sink.Object{ContentType: sink.DefaultContentType})
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
		assertHead(t, tg, name, sink.Object{ContentType: sink.DefaultContentType})
	})

	// An Object's headers and metadata reach the object both on the path
	// of a small body (one request) and on that of a large one (parts or
	// blocks, committed at the end).
	for _, tc := range []struct {
		name string
		size int
	}{{"ObjectSmall", 1000}, {"ObjectLarge", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = tg.LargeSize
			}
			name := prefix + strings.ToLower(tc.name) + ".csv.gz"
			body := gzipped(t, size)
			o := objectFor(body)
			uploadObject(t, tg, name, &chunkReader{r: bytes.NewReader(body), n: 7919}, o)
			assertObject(t, tg, name, body)
			assertHead(t, tg, name, o)
		})
	}

	t.Run("OverwriteReplacesObject", func(t *testing.T) {
		// A second delivery of a name replaces its headers and metadata
		// with its own: nothing of the first is kept or merged.
		name := prefix + "replaced.csv"
		first := sink.Object{ContentType: "text/plain", ContentEncoding: "gzip",
			Metadata: map[string]string{"org": "org1", "attempt": "1"}}
		uploadObject(t, tg, name, bytes.NewReader(gzipped(t, 100)), first)
		assertHead(t, tg, name, first)
		second := sink.Object{Metadata: map[string]string{"org": "org2"}}
		uploadObject(t, tg, name, strings.NewReader("second\n"), second)
		assertObject(t, tg, name, []byte("second\n"))
		assertHead(t, tg, name, sink.Object{ContentType: sink.DefaultContentType, Metadata: second.Metadata})
	})

	t.Run("InvalidMetadataRefused", func(t *testing.T) {
		name := prefix + "badmeta.csv"
		r := &readCounter{r: strings.NewReader("a,b\r\n")}
		err := tg.Sink.Upload(ctx, name, r, sink.Object{Metadata: map[string]string{"org": "org1", "Org-ID": "org1"}})
		var fe *audit.FieldError
		if !errors.As(err, &fe) || fe.Value != "Org-ID" {
			t.Fatalf("Upload with metadata name Org-ID: err = %v, want an *audit.FieldError naming it", err)
		}
		if sink.IsPermanent(err) {
			t.Errorf("invalid metadata is classified as a permanent destination failure, but it is the caller's bug: %v", err)
		}
		if r.n != 0 {
			t.Errorf("the body was read (%d bytes) although the metadata was refused", r.n)
		}
		assertAbsent(t, tg, name)
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
		want := gzipped(t, 100)
		o := objectFor(want)
		uploadObject(t, tg, name, bytes.NewReader(want), o)
		err := tg.Sink.Upload(ctx, name, io.MultiReader(strings.NewReader("partial"), errReader{errors.New("boom")}),
			sink.Object{ContentType: "text/plain", Metadata: map[string]string{"attempt": "2"}})
		if err == nil {
			t.Fatal("Upload with failing source succeeded")
		}
		assertObject(t, tg, name, want)
		assertHead(t, tg, name, o)
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
	uploadObject(t, tg, name, r, sink.Object{})
}

func uploadObject(t *testing.T, tg Target, name string, r io.Reader, o sink.Object) {
	t.Helper()
	if err := tg.Sink.Upload(context.Background(), name, r, o); err != nil {
		t.Fatalf("Upload(%s): %v", name, err)
	}
}

// gzipped is the gzip of size random bytes: random, so that it does not
// shrink below the size asked for, and gzip, so that the object is what
// its Content-Encoding says.
func gzipped(t *testing.T, size int) []byte {
	t.Helper()
	raw := make([]byte, size)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// objectFor is an Object such as a delivery would send: every field set,
// none to its default, metadata that depends on the body.
func objectFor(body []byte) sink.Object {
	sum := sha256.Sum256(body)
	return sink.Object{
		ContentType:     "text/csv; charset=utf-8; header=present",
		ContentEncoding: "gzip",
		Metadata: map[string]string{
			"org":    "6xPqd2yYc1sZ",
			"day":    "2026-11-24",
			"sha256": hex.EncodeToString(sum[:]),
			"note":   "printable ASCII, inner spaces: a=b; c,d ~!",
		},
	}
}

// assertHead checks the object's Content-Type, Content-Encoding and
// metadata (a nil and an empty map are the same: no metadata).
func assertHead(t *testing.T, tg Target, name string, want sink.Object) {
	t.Helper()
	got, ok, err := tg.Head(context.Background(), name)
	if err != nil {
		t.Fatalf("head %s: %v", name, err)
	}
	if !ok {
		t.Fatalf("object %s does not exist after a successful upload", name)
	}
	if got.ContentType != want.ContentType {
		t.Errorf("object %s: Content-Type %q, want %q", name, got.ContentType, want.ContentType)
	}
	if got.ContentEncoding != want.ContentEncoding {
		t.Errorf("object %s: Content-Encoding %q, want %q", name, got.ContentEncoding, want.ContentEncoding)
	}
	if !maps.Equal(got.Metadata, want.Metadata) {
		t.Errorf("object %s: metadata %q, want %q", name, got.Metadata, want.Metadata)
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

// readCounter counts the bytes read through it.
type readCounter struct {
	r io.Reader
	n int
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

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
