package lakestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
	"github.com/contentful/auditlogs/internal/logstore/storetest"
	"github.com/contentful/auditlogs/internal/objstore"
	"github.com/contentful/auditlogs/internal/objstore/memobj"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/sink/memsink"
)

// seeded writes events as Firehose would (one Write), compacts every
// bucket-day that received any, with a small sort budget so that the
// suite's larger days go through sorted runs on disk, and returns the
// reader.
func seeded(t *testing.T, b objstore.Bucket, events []audit.Event) logstore.Reader {
	t.Helper()
	ctx := context.Background()
	if len(events) > 0 {
		if err := (&directwriter.Writer{Lake: b}).Write(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	type part struct {
		day    audit.Day
		bucket int
	}
	done := map[part]bool{}
	c := &compaction.Compactor{Lake: b, TempDir: t.TempDir(), RunBytes: 64 << 10}
	for _, e := range events {
		p := part{audit.DayOf(e.RequestTime.UTC()), lake.BucketOf(e.OrgID)}
		if done[p] {
			continue
		}
		done[p] = true
		if _, err := c.Compact(ctx, p.day, p.bucket); err != nil {
			t.Fatal(err)
		}
	}
	return &lakestore.Store{Lake: b}
}

// compacting compacts the org's bucket-day before each read, as auditctl
// export does: the suite reads orgs and days that received no events, and
// their bucket-days need a manifest too.
type compacting struct {
	c *compaction.Compactor
	s *lakestore.Store
}

func (r compacting) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	if _, err := r.c.Compact(ctx, day, lake.BucketOf(org)); err != nil {
		return err
	}
	return r.s.ReadDay(ctx, org, day, fn)
}

func open(t *testing.T, b objstore.Bucket, events []audit.Event) logstore.Reader {
	seeded(t, b, events)
	return compacting{&compaction.Compactor{Lake: b, TempDir: t.TempDir()}, &lakestore.Store{Lake: b}}
}

func testDay(t *testing.T) audit.Day {
	d, err := audit.ParseDay("2026-11-24")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAcceptanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, events []audit.Event) logstore.Reader {
		return open(t, &memobj.Bucket{}, events)
	})
}

func TestAcceptanceOnMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	client := s3.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}), func(o *s3.Options) { o.UsePathStyle = true })
	storetest.Run(t, func(t *testing.T, events []audit.Event) logstore.Reader {
		name := testenv.UniqueName("lake")
		if _, err := client.CreateBucket(testenv.Context(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		return open(t, s3obj.New(client, name), events)
	})
}

// TestNotCompactedIsAnError: a bucket-day without a manifest is never an
// empty day.
func TestNotCompactedIsAnError(t *testing.T) {
	b := &memobj.Bucket{}
	day := testDay(t)
	e := audit.Event{OrgID: "acme", RequestID: "r1", RequestTime: day.Start().Add(time.Hour), RequestMethod: "PUT",
		RequestPath: "/spaces/s/entries/e", ResponseStatus: 200}
	if err := (&directwriter.Writer{Lake: b}).Write(context.Background(), []audit.Event{e}); err != nil {
		t.Fatal(err)
	}
	s := &lakestore.Store{Lake: b}
	err := s.ReadDay(context.Background(), "acme", day, func(*audit.Event) error { return nil })
	if !errors.Is(err, lakestore.ErrNotCompacted) || !strings.Contains(err.Error(), lake.ManifestKey(day, lake.BucketOf("acme"))) {
		t.Fatalf("read before compaction: %v, want ErrNotCompacted naming the manifest", err)
	}
}

// TestChangedObjectIsAnError: an object that differs from its manifest
// fails the read, after the events it held were handed out (the export
// then aborts its upload).
func TestChangedObjectIsAnError(t *testing.T) {
	b := &memobj.Bucket{}
	day := testDay(t)
	var events []audit.Event
	for i := range 3 {
		events = append(events, audit.Event{OrgID: "acme", RequestID: "r" + string(rune('0'+i)), RequestTime: day.Start().Add(time.Duration(i) * time.Hour),
			RequestMethod: "PUT", RequestPath: "/spaces/s/entries/e", ResponseStatus: 200})
	}
	s := seeded(t, b, events)
	// Another compaction's object, of two of the three events, in place.
	other := &memobj.Bucket{}
	seeded(t, other, events[:2])
	r, _ := other.Get(context.Background(), lake.OrgDayKey("acme", day))
	if err := b.Put(context.Background(), lake.OrgDayKey("acme", day), r); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := s.ReadDay(context.Background(), "acme", day, func(*audit.Event) error { n++; return nil })
	if !errors.Is(err, lakestore.ErrChanged) || !strings.Contains(err.Error(), "2 rows") {
		t.Fatalf("read of a replaced object: %v (after %d events), want ErrChanged saying 2 rows", err, n)
	}
}

// TestDeliveredFileIsTheEncodedDay: the export copies the lake's file of
// an org-day, and what it delivers is byte for byte what it delivers from
// the same events read one by one (the in-memory store); a file that does
// not match its manifest fails the delivery and leaves nothing in the
// sink; an org without events gets the header-only file.
func TestDeliveredFileIsTheEncodedDay(t *testing.T) {
	ctx := context.Background()
	day := testDay(t)
	var events []audit.Event
	for i := range 3000 {
		e := audit.Event{OrgID: []string{"acme", "globex"}[i%2], RequestID: fmt.Sprintf("r%05d", i), RequestTime: day.Start().Add(time.Duration((i*7919)%86400) * time.Second),
			RequestMethod: "PATCH", RequestPath: fmt.Sprintf("/spaces/s/entries/%d", i), RequestQuery: "a=\"1\",b", ResponseStatus: 200 + i%3, ContentLength: int64(i),
			Space: "s", Route: "/spaces/:space/entries/:entry", Referrer: "https://app.contentful.com/x,y", ActorID: "user:é"}
		events = append(events, e, e) // and a Firehose retry of each
	}
	b := &memobj.Bucket{}
	lakeStore := seeded(t, b, events)
	mem := memstore.New()
	if err := mem.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"acme", "globex", "initech"} {
		if org == "initech" {
			// A bucket-day of its own, compacted with nothing in it.
			if _, err := (&compaction.Compactor{Lake: b, TempDir: t.TempDir()}).Compact(ctx, day, lake.BucketOf(org)); err != nil {
				t.Fatal(err)
			}
		}
		fromLake, fromEvents := memsink.New(), memsink.New()
		rl, err := export.Deliver(ctx, lakeStore, fromLake, org, day, "f.csv")
		if err != nil {
			t.Fatal(err)
		}
		re, err := export.Deliver(ctx, mem, fromEvents, org, day, "f.csv")
		if err != nil {
			t.Fatal(err)
		}
		a, _, _ := fromLake.Get(ctx, "f.csv")
		e, _, _ := fromEvents.Get(ctx, "f.csv")
		if !bytes.Equal(a, e) || rl.Rows != re.Rows || rl.SHA256 != re.SHA256 || rl.Bytes != re.Bytes {
			t.Fatalf("%s: from the lake %d rows %d bytes %s, from the events %d rows %d bytes %s", org, rl.Rows, rl.Bytes, rl.SHA256, re.Rows, re.Bytes, re.SHA256)
		}
		if want := map[string]int64{"acme": 1500, "globex": 1500, "initech": 0}[org]; rl.Rows != want {
			t.Fatalf("%s: %d rows, want %d", org, rl.Rows, want)
		}
	}
	// The file expired: the day is encoded from its events, the same bytes.
	key := lake.OrgDayFileKey("acme", day)
	data, _ := io.ReadAll(must(b.Get(ctx, key)))
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	expired := memsink.New()
	if _, err := export.Deliver(ctx, lakeStore, expired, "acme", day, "f.csv"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := expired.Get(ctx, "f.csv"); !bytes.Equal(got, data) {
		t.Fatalf("delivered from the events after the file expired: %d bytes, the file had %d", len(got), len(data))
	}
	// The file replaced by another (one byte changed): the delivery fails
	// and the sink holds nothing.
	data[len(data)-2] ^= 1
	if err := b.Put(ctx, key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s := memsink.New()
	_, err := export.Deliver(ctx, lakeStore, s, "acme", day, "f.csv")
	if !errors.Is(err, export.ErrInconsistentStore) {
		t.Fatalf("delivery of a changed file: %v, want ErrInconsistentStore", err)
	}
	if names, _ := s.List(ctx, ""); len(names) != 0 {
		t.Fatalf("the sink holds %v after a failed delivery", names)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDayFileChecksums: compaction records the file's SHA-256 and CRC32C
// (each checked here by computing it from the file's bytes); the export
// checks its copy by the CRC32C and reports the SHA-256; a manifest
// without a CRC32C (written before it was recorded) has the copy hashed
// with SHA-256. Either way one changed byte fails the delivery, naming the
// checksum that caught it, and leaves nothing in the sink.
func TestDayFileChecksums(t *testing.T) {
	ctx := context.Background()
	day := testDay(t)
	var events []audit.Event
	for i := range 200 {
		events = append(events, audit.Event{OrgID: "acme", RequestID: fmt.Sprintf("r%03d", i), RequestTime: day.Start().Add(time.Duration(i) * time.Minute),
			RequestMethod: "DELETE", RequestPath: "/spaces/s/entries/e", ResponseStatus: 204})
	}
	b := &memobj.Bucket{}
	store := seeded(t, b, events)
	mk := lake.ManifestKey(day, lake.BucketOf("acme"))
	m, err := lake.DecodeManifest(must(b.Get(ctx, mk)))
	if err != nil {
		t.Fatal(err)
	}
	od, _ := m.Org("acme")
	data, _ := io.ReadAll(must(b.Get(ctx, od.File.Key)))
	sha := sha256.Sum256(data)
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if od.File.SHA256 != hex.EncodeToString(sha[:]) || od.File.CRC32C != fmt.Sprintf("%08x", crc) || od.File.Bytes != int64(len(data)) {
		t.Fatalf("manifest says %d bytes sha256 %s crc32c %s; the file has %d, %x, %08x", od.File.Bytes, od.File.SHA256, od.File.CRC32C, len(data), sha, crc)
	}
	deliver := func() (export.Result, *memsink.Sink, error) {
		s := memsink.New()
		res, err := export.Deliver(ctx, store, s, "acme", day, "f.csv")
		return res, s, err
	}
	for _, tc := range []struct {
		name, algo string
		crc        string
	}{{"with crc32c", "crc32c", od.File.CRC32C}, {"without crc32c", "sha256", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			m.Orgs[0].File.CRC32C = tc.crc
			var buf bytes.Buffer
			if err := lake.EncodeManifest(&buf, m); err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, mk, &buf); err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, od.File.Key, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			res, s, err := deliver()
			if err != nil {
				t.Fatal(err)
			}
			got, _, _ := s.Get(ctx, "f.csv")
			if gs := sha256.Sum256(got); res.SHA256 != hex.EncodeToString(gs[:]) || !bytes.Equal(got, data) || res.Rows != 200 {
				t.Fatalf("delivered %d rows sha256 %s; the sink holds %d bytes of sha256 %x", res.Rows, res.SHA256, len(got), gs)
			}
			changed := bytes.Clone(data)
			changed[len(changed)/2] ^= 0x20
			if err := b.Put(ctx, od.File.Key, bytes.NewReader(changed)); err != nil {
				t.Fatal(err)
			}
			_, s, err = deliver()
			if !errors.Is(err, export.ErrInconsistentStore) || !strings.Contains(err.Error(), tc.algo) {
				t.Fatalf("delivery of a changed file: %v, want ErrInconsistentStore naming %s", err, tc.algo)
			}
			if names, _ := s.List(ctx, ""); len(names) != 0 {
				t.Fatalf("the sink holds %v after a failed delivery", names)
			}
		})
	}
}
