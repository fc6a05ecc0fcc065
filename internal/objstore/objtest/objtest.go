// Package objtest is the acceptance suite every objstore.Bucket provider
// passes: memobj in memory and s3obj on moto's S3 run the same tests, so
// what the lake relies on (whole-or-nothing writes, key order, not-found
// errors) holds for the fake exactly as for S3. It imports only objstore.
package objtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/objstore"
)

// Run runs the suite; newBucket returns an empty bucket for each subtest.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	t.Run("PutGetReplace", func(t *testing.T) { testPutGet(t, newBucket(t)) })
	t.Run("MissingIsNotFound", func(t *testing.T) { testMissing(t, newBucket(t)) })
	t.Run("FailedPutLeavesNothing", func(t *testing.T) { testFailedPut(t, newBucket(t)) })
	t.Run("ListOrderAndPrefix", func(t *testing.T) { testList(t, newBucket(t)) })
	t.Run("ListManyPages", func(t *testing.T) { testListPages(t, newBucket(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newBucket(t)) })
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	r, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return data
}

func list(t *testing.T, b objstore.Bucket, prefix string) []objstore.Object {
	t.Helper()
	var out []objstore.Object
	if err := b.List(context.Background(), prefix, func(o objstore.Object) error { out = append(out, o); return nil }); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

// big is larger than two 8 MiB parts, so S3 takes it as a multipart
// upload.
func big() []byte {
	data := make([]byte, 17<<20+123)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	return data
}

func testPutGet(t *testing.T, b objstore.Bucket) {
	put(t, b, "a/small", []byte("one"))
	if got := get(t, b, "a/small"); string(got) != "one" {
		t.Fatalf("Get = %q, want %q", got, "one")
	}
	before := list(t, b, "a/small")
	put(t, b, "a/small", []byte("two!"))
	if got := get(t, b, "a/small"); string(got) != "two!" {
		t.Fatalf("after a second Put, Get = %q, want %q", got, "two!")
	}
	after := list(t, b, "a/small")
	if len(before) != 1 || len(after) != 1 || after[0].Size != 4 || before[0].ETag == after[0].ETag || after[0].ETag == "" {
		t.Fatalf("List before/after a replacing Put: %+v / %+v, want one object each, size 4 after, ETags set and different", before, after)
	}
	data := big()
	put(t, b, "a/big", data)
	if got := get(t, b, "a/big"); !bytes.Equal(got, data) {
		t.Fatalf("a %d-byte object came back as %d bytes, or changed", len(data), len(got))
	}
	put(t, b, "a/empty", nil)
	if got := get(t, b, "a/empty"); len(got) != 0 {
		t.Fatalf("an empty object came back as %d bytes", len(got))
	}
}

func testMissing(t *testing.T, b objstore.Bucket) {
	_, err := b.Get(context.Background(), "no/such/key")
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "no/such/key") {
		t.Fatalf("the error does not name the key: %v", err)
	}
}

// failingReader yields n bytes and then fails.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func testFailedPut(t *testing.T, b objstore.Bucket) {
	boom := errors.New("boom")
	for _, n := range []int{10, 9 << 20} { // one part, then beyond the first part
		key := fmt.Sprintf("f/%d", n)
		err := b.Put(context.Background(), key, &failingReader{n: n, err: boom})
		if !errors.Is(err, boom) {
			t.Fatalf("Put of a body failing after %d bytes: %v, want it to wrap the body's error", n, err)
		}
		if objs := list(t, b, key); len(objs) != 0 {
			t.Fatalf("a failed Put left %+v", objs)
		}
		// The old object stays.
		put(t, b, key, []byte("old"))
		if err := b.Put(context.Background(), key, &failingReader{n: n, err: boom}); err == nil {
			t.Fatal("Put of a failing body succeeded")
		}
		if got := get(t, b, key); string(got) != "old" {
			t.Fatalf("after a failed Put over %s, Get = %d bytes, want the old object", key, len(got))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Put(ctx, "f/canceled", strings.NewReader("data")); err == nil {
		t.Fatal("Put on a canceled context succeeded")
	}
	if objs := list(t, b, "f/canceled"); len(objs) != 0 {
		t.Fatalf("a canceled Put left %+v", objs)
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	for _, k := range []string{"p/b", "p/a/2", "p/a/10", "p/a", "q/a", "p0", "p/B"} {
		put(t, b, k, []byte(k))
	}
	var keys []string
	for _, o := range list(t, b, "p/") {
		keys = append(keys, o.Key)
		if o.Size != int64(len(o.Key)) {
			t.Errorf("%s: size %d, want %d", o.Key, o.Size, len(o.Key))
		}
	}
	if want := "p/B p/a p/a/10 p/a/2 p/b"; strings.Join(keys, " ") != want {
		t.Fatalf("List(p/) = %v, want %s (bytewise order, prefix only)", keys, want)
	}
	stop := errors.New("stop")
	n := 0
	err := b.List(context.Background(), "p/", func(objstore.Object) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with fn failing: err %v after %d calls, want stop after 1", err, n)
	}
	if objs := list(t, b, "none/"); len(objs) != 0 {
		t.Fatalf("List of an empty prefix: %+v", objs)
	}
}

func testListPages(t *testing.T, b objstore.Bucket) {
	const n = 1003 // S3 answers at most 1000 keys a page
	for i := range n {
		put(t, b, fmt.Sprintf("m/%05d", i), nil)
	}
	objs := list(t, b, "m/")
	if len(objs) != n {
		t.Fatalf("List returned %d of %d keys", len(objs), n)
	}
	for i, o := range objs {
		if want := fmt.Sprintf("m/%05d", i); o.Key != want {
			t.Fatalf("key %d = %s, want %s", i, o.Key, want)
		}
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	put(t, b, "d/x", []byte("x"))
	if err := b.Delete(context.Background(), "d/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(context.Background(), "d/x"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := b.Delete(context.Background(), "d/never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}
