package compaction_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/objstore"
	"github.com/contentful/auditlogs/internal/objstore/memobj"
)

var day = func() audit.Day {
	d, err := audit.ParseDay("2026-11-24")
	if err != nil {
		panic(err)
	}
	return d
}()

// orgsOfBucket returns n org IDs that share an org bucket, and the bucket.
func orgsOfBucket(n int) ([]string, int) {
	byBucket := map[int][]string{}
	for i := 0; ; i++ {
		org := fmt.Sprintf("org-%04d", i)
		b := lake.BucketOf(org)
		byBucket[b] = append(byBucket[b], org)
		if len(byBucket[b]) == n {
			return byBucket[b], b
		}
	}
}

func ev(org, id string, at time.Time, status int) audit.Event {
	return audit.Event{OrgID: org, RequestID: id, RequestTime: at, RequestMethod: "PUT",
		RequestPath: "/spaces/sp1/entries/" + id, RequestQuery: "locale=en-US", ResponseStatus: status,
		ContentLength: 10, Space: "sp1", Route: "/spaces/:space/entries/:entry", ActorID: "user:1"}
}

// gen makes n events per org, spread over the day in a scrambled order,
// with every 10th request ID repeated later with another status (the last
// write wins).
func gen(orgs []string, n int) (writes [][]audit.Event, want map[string][]audit.Event) {
	last := map[string]map[string]audit.Event{}
	var w []audit.Event
	for i := range n {
		for _, org := range orgs {
			at := day.Start().Add(time.Duration((i*7919)%86400) * time.Second).Add(time.Duration(i%1000) * time.Millisecond)
			e := ev(org, fmt.Sprintf("req-%06d", i), at, 200)
			w = append(w, e)
			if last[org] == nil {
				last[org] = map[string]audit.Event{}
			}
			last[org][e.RequestID] = e
		}
		if len(w) >= 500 {
			writes, w = append(writes, w), nil
		}
	}
	for i := 0; i < n; i += 10 {
		for _, org := range orgs {
			e := last[org][fmt.Sprintf("req-%06d", i)]
			e.ResponseStatus, e.RequestTime = 409, e.RequestTime.Add(time.Minute)
			if !day.Contains(e.RequestTime) {
				e.RequestTime = day.Start()
			}
			w = append(w, e)
			last[org][e.RequestID] = e
		}
	}
	writes = append(writes, w)
	want = map[string][]audit.Event{}
	for org, m := range last {
		evs := slices.Collect(maps.Values(m))
		slices.SortFunc(evs, func(a, b audit.Event) int {
			if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
				return c
			}
			return strings.Compare(a.RequestID, b.RequestID)
		})
		want[org] = evs
	}
	return writes, want
}

func ingest(t *testing.T, b objstore.Bucket, writes [][]audit.Event) {
	t.Helper()
	fw := &directwriter.Writer{Lake: b}
	for _, w := range writes {
		if err := fw.Write(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	r, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// orgDay decodes an org-day object and checks it against its manifest.
func orgDay(t *testing.T, b objstore.Bucket, m *lake.Manifest, org string) []audit.Event {
	t.Helper()
	od, ok := m.Org(org)
	if !ok {
		t.Fatalf("manifest has no org %s", org)
	}
	data := read(t, b, od.Key)
	sum := sha256.Sum256(data)
	if int64(len(data)) != od.Bytes || hex.EncodeToString(sum[:]) != od.SHA256 {
		t.Fatalf("%s: %d bytes sha256 %x, manifest says %d %s", od.Key, len(data), sum, od.Bytes, od.SHA256)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	rd := lake.NewReader(zr)
	for {
		var e audit.Event
		if _, err := rd.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if int64(len(out)) != od.Rows {
		t.Fatalf("%s: %d rows, manifest says %d", od.Key, len(out), od.Rows)
	}
	return out
}

func manifest(t *testing.T, b objstore.Bucket, bucket int) *lake.Manifest {
	t.Helper()
	m, err := lake.DecodeManifest(bytes.NewReader(read(t, b, lake.ManifestKey(day, bucket))))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func compact(t *testing.T, c *compaction.Compactor, bucket int) compaction.Result {
	t.Helper()
	res, err := c.Compact(context.Background(), day, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func equalEvents(t *testing.T, what string, got, want []audit.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// clone copies every object of b: the same raw objects, keys included.
func clone(t *testing.T, b *memobj.Bucket) *memobj.Bucket {
	out := &memobj.Bucket{}
	for _, k := range b.Keys() {
		if err := out.Put(context.Background(), k, bytes.NewReader(read(t, b, k))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// snapshot is every object of the lake but the raw ones (org-days,
// delivered files, manifests), by key.
func snapshot(t *testing.T, b *memobj.Bucket) map[string]string {
	out := map[string]string{}
	for _, k := range b.Keys() {
		if strings.HasPrefix(k, lake.LakePrefix) || strings.HasPrefix(k, lake.ExportPrefix) {
			out[k] = string(read(t, b, k))
		}
	}
	return out
}

// TestSortedDeduplicatedWhateverTheBudget: the org-day objects hold each
// request ID once (its last write), in (time, request ID) order, and are
// byte for byte the same whether the sort fits in memory or spills
// hundreds of runs.
func TestSortedDeduplicatedWhateverTheBudget(t *testing.T) {
	orgs, bucket := orgsOfBucket(3)
	writes, want := gen(orgs, 3000)
	raw := &memobj.Bucket{}
	ingest(t, raw, writes)
	var snaps []map[string]string
	for _, budget := range []int{256 << 20, 32 << 10} {
		b := clone(t, raw)
		res := compact(t, &compaction.Compactor{Lake: b, TempDir: t.TempDir(), RunBytes: budget}, bucket)
		if res.Orgs != 3 || res.Rows != 9000 || res.Duplicates != 900 || res.Records != 9900 || res.Inputs != len(writes) {
			t.Fatalf("budget %d: %+v, want 3 orgs, 9000 rows, 900 duplicates of 9900 records, %d inputs", budget, res, len(writes))
		}
		m := manifest(t, b, bucket)
		for _, org := range orgs {
			equalEvents(t, fmt.Sprintf("budget %d, org %s", budget, org), orgDay(t, b, m, org), want[org])
		}
		snaps = append(snaps, snapshot(t, b))
	}
	if !maps.Equal(snaps[0], snaps[1]) {
		t.Fatal("the lake differs between a sort in memory and one through sorted runs")
	}
}

// TestRunAgain: a compaction run again on the same raw objects changes
// nothing; one whose manifest was lost writes the same bytes again.
func TestRunAgain(t *testing.T) {
	orgs, bucket := orgsOfBucket(2)
	writes, _ := gen(orgs, 500)
	b := &memobj.Bucket{}
	ingest(t, b, writes)
	c := &compaction.Compactor{Lake: b, TempDir: t.TempDir()}
	first := compact(t, c, bucket)
	before := snapshot(t, b)
	if again := compact(t, c, bucket); !again.UpToDate || again.Rows != first.Rows {
		t.Fatalf("second run: %+v, want up to date with %d rows", again, first.Rows)
	}
	if err := b.Delete(context.Background(), lake.ManifestKey(day, bucket)); err != nil {
		t.Fatal(err)
	}
	if res := compact(t, c, bucket); res.UpToDate {
		t.Fatal("a bucket-day without a manifest was taken for up to date")
	}
	if !maps.Equal(before, snapshot(t, b)) {
		t.Fatal("a compaction run again wrote other bytes")
	}
}

// failingPuts fails the Put of the n-th org-day object, after reading part
// of its body: a compaction killed midway.
type failingPuts struct {
	*memobj.Bucket
	mu   sync.Mutex
	left int
}

var errKilled = errors.New("killed")

func (f *failingPuts) Put(ctx context.Context, key string, r io.Reader) error {
	f.mu.Lock()
	if strings.HasSuffix(key, lake.OrgDayObject) {
		f.left--
	}
	fail := f.left == 0
	f.mu.Unlock()
	if fail {
		io.CopyN(io.Discard, r, 100)
		return errKilled
	}
	return f.Bucket.Put(ctx, key, r)
}

// TestKilledMidwayThenRunAgain: a compaction that dies writing its second
// org-day leaves no manifest (readers see the bucket-day as not
// compacted); run again, it produces exactly what an undisturbed one does.
func TestKilledMidwayThenRunAgain(t *testing.T) {
	orgs, bucket := orgsOfBucket(3)
	writes, _ := gen(orgs, 400)
	raw := &memobj.Bucket{}
	ingest(t, raw, writes)
	clean := clone(t, raw)
	compact(t, &compaction.Compactor{Lake: clean, TempDir: t.TempDir()}, bucket)

	b := &failingPuts{Bucket: clone(t, raw), left: 2}
	if _, err := (&compaction.Compactor{Lake: b, TempDir: t.TempDir()}).Compact(context.Background(), day, bucket); !errors.Is(err, errKilled) {
		t.Fatalf("killed compaction: %v, want errKilled", err)
	}
	if _, err := b.Get(context.Background(), lake.ManifestKey(day, bucket)); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a killed compaction left a manifest: %v", err)
	}
	compact(t, &compaction.Compactor{Lake: b.Bucket, TempDir: t.TempDir()}, bucket)
	if got, want := snapshot(t, b.Bucket), snapshot(t, clean); !maps.Equal(got, want) {
		t.Fatalf("after the rerun the lake holds %d objects, an undisturbed compaction %d, or their bytes differ", len(got), len(want))
	}
}

type staleLog struct {
	mu   sync.Mutex
	orgs []string
}

func (s *staleLog) MarkStale(_ context.Context, org string, d audit.Day) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgs = append(s.orgs, org+" "+d.String())
	return nil
}

// TestLateEvents: a raw object that arrives after its bucket-day was
// compacted is found, merged with what was compacted (even once the
// earlier raw objects have expired) and the org-day it changed is marked
// stale; the others are not.
func TestLateEvents(t *testing.T) {
	orgs, bucket := orgsOfBucket(2)
	writes, want := gen(orgs, 300)
	b := &memobj.Bucket{}
	ingest(t, b, writes)
	stale := &staleLog{}
	c := &compaction.Compactor{Lake: b, TempDir: t.TempDir(), Stale: stale}
	compact(t, c, bucket)
	if len(stale.orgs) != 0 {
		t.Fatalf("a first compaction marked %v stale", stale.orgs)
	}
	// The raw objects expire (the lake's lifecycle rule).
	for _, k := range b.Keys() {
		if strings.HasPrefix(k, lake.RawPrefix) {
			b.Delete(context.Background(), k)
		}
	}
	late := ev(orgs[1], "late-1", day.End().Add(-time.Millisecond), 204)
	repeat := want[orgs[1]][0] // a Firehose retry of an event already compacted
	ingest(t, b, [][]audit.Event{{late, repeat}})
	res := compact(t, c, bucket)
	if !slices.Equal(res.Changed, []string{orgs[1]}) || !slices.Equal(stale.orgs, []string{orgs[1] + " " + day.String()}) {
		t.Fatalf("changed %v, marked stale %v; want only %s", res.Changed, stale.orgs, orgs[1])
	}
	m := manifest(t, b, bucket)
	equalEvents(t, "the org with the late event", orgDay(t, b, m, orgs[1]), append(slices.Clone(want[orgs[1]]), late))
	equalEvents(t, "the other org", orgDay(t, b, m, orgs[0]), want[orgs[0]])
	if res.Duplicates != m.Duplicates || m.Records != int64(300*2+30*2+2) {
		t.Fatalf("manifest counts %d records, %d duplicates; result %+v", m.Records, m.Duplicates, res)
	}
	if again := compact(t, c, bucket); !again.UpToDate || len(stale.orgs) != 1 {
		t.Fatalf("third run: %+v, stale %v", again, stale.orgs)
	}
}

// TestCorruptRawStops: a raw object that cannot be read, or holds a record
// of another partition, stops the compaction with an error naming the
// object; nothing is written.
func TestCorruptRawStops(t *testing.T) {
	orgs, bucket := orgsOfBucket(1)
	other := "x"
	for i := 0; lake.BucketOf(other) == bucket || !audit.ValidOrgID(other); i++ {
		other = fmt.Sprintf("other-%d", i)
	}
	for name, body := range map[string][]byte{
		"not gzip":       []byte("plain text"),
		"bad record":     gz([]byte(`{"org_id":"` + orgs[0] + `"}` + "\n")),
		"other bucket":   gz(lake.AppendRaw(nil, ptr(ev(other, "r", day.Start(), 200)))),
		"other day":      gz(lake.AppendRaw(nil, ptr(ev(orgs[0], "r", day.End(), 200)))),
		"truncated gzip": gz(lake.AppendRaw(nil, ptr(ev(orgs[0], "r", day.Start(), 200))))[:30],
	} {
		b := &memobj.Bucket{}
		key := lake.RawBucketPrefix(day, bucket) + "corrupt.gz"
		if err := b.Put(context.Background(), key, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		_, err := (&compaction.Compactor{Lake: b, TempDir: t.TempDir()}).Compact(context.Background(), day, bucket)
		if !errors.Is(err, compaction.ErrCorruptRaw) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want ErrCorruptRaw naming %s", name, err, key)
		}
		if keys := b.Keys(); len(keys) != 1 {
			t.Errorf("%s: the lake holds %v after a failed compaction", name, keys)
		}
	}
}

func gz(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }
