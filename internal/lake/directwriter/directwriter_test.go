package directwriter_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/objstore/memobj"
)

func ev(org, id string, at time.Time) audit.Event {
	return audit.Event{OrgID: org, RequestID: id, RequestTime: at, RequestMethod: "PUT", RequestPath: "/spaces/s/entries/" + id, ResponseStatus: 200}
}

// TestLayout: one gzip object per (day, bucket) of a Write, under its
// partition, named as Firehose names objects, later writes listing after
// earlier ones within the same second.
func TestLayout(t *testing.T) {
	b := &memobj.Bucket{}
	fixed := time.Date(2026, 12, 2, 0, 5, 9, 0, time.UTC)
	d1 := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	w := &directwriter.Writer{Lake: b, Now: func() time.Time { return fixed }}
	first := []audit.Event{ev("acme", "a1", d1), ev("globex", "g1", d1), ev("acme", "a2", d1.Add(2*time.Minute))}
	if err := w.Write(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	again := &directwriter.Writer{Lake: b, Now: func() time.Time { return fixed }}
	if err := again.Write(context.Background(), []audit.Event{ev("acme", "a3", d1)}); err != nil {
		t.Fatal(err)
	}
	keys := b.Keys()
	if len(keys) != 4 {
		t.Fatalf("objects %v, want 3 partitions of the first write and 1 of the second", keys)
	}
	var acmeDay1 []string
	for _, k := range keys {
		day, bucket, err := lake.ParseRawKey(k)
		if err != nil {
			t.Fatal(err)
		}
		name := k[strings.LastIndex(k, "/")+1:]
		if !strings.HasPrefix(name, directwriter.DefaultStream+"-1-2026-12-02-00-05-09-") || !strings.HasSuffix(name, ".gz") {
			t.Errorf("object name %s is not Firehose's pattern", name)
		}
		if day.String() == "2026-12-01" && bucket == lake.BucketOf("acme") {
			acmeDay1 = append(acmeDay1, k)
		}
	}
	if len(acmeDay1) != 2 {
		t.Fatalf("acme's objects of 2026-12-01: %v", acmeDay1)
	}
	// The first write's object lists first, and holds a1.
	r, _ := b.Get(context.Background(), acmeDay1[0])
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(zr)
	if !strings.Contains(string(data), `"i":"a1"`) || strings.Contains(string(data), `"a3"`) || !strings.Contains(string(data), `"`+lake.KeyBucket+`":"`+lake.BucketName(lake.BucketOf("acme"))+`"`) {
		t.Fatalf("first object of acme's partition holds %s", data)
	}
}

func TestInvalidEventWritesNothing(t *testing.T) {
	b := &memobj.Bucket{}
	bad := ev("acme", "a2", time.Now())
	bad.ResponseStatus = 0
	err := (&directwriter.Writer{Lake: b}).Write(context.Background(), []audit.Event{ev("acme", "a1", time.Now()), bad})
	var fe *audit.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), `"a2"`) || len(b.Keys()) != 0 {
		t.Fatalf("err %v, objects %v", err, b.Keys())
	}
}
