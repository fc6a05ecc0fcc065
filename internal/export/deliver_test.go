package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/memsink"
)

var day24, _ = audit.ParseDay("2026-11-24")

func TestDeliverGenerated(t *testing.T) {
	ctx := context.Background()
	s := memsink.New()
	res, err := Deliver(ctx, &genstore.Store{Events: 10000}, s, "org1", day24, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, ok, _ := s.Get(ctx, "f.csv")
	if !ok {
		t.Fatal("no object")
	}
	sum := sha256.Sum256(body)
	if res.Rows != 10000 || res.Bytes != int64(len(body)) || res.SHA256 != hex.EncodeToString(sum[:]) || res.Key != "f.csv" {
		t.Fatalf("result %+v does not describe the object (%d bytes)", res, len(body))
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != csvenc.Header || len(recs) != 10001 {
		t.Fatalf("header %v, %d records", recs[0], len(recs))
	}
	for i := 2; i < len(recs); i++ {
		if recs[i][0] < recs[i-1][0] {
			t.Fatalf("row %d out of time order: %s after %s", i, recs[i][0], recs[i-1][0])
		}
	}
}

func TestDeliverEmptyDayWritesHeader(t *testing.T) {
	s := memsink.New()
	res, err := Deliver(context.Background(), &genstore.Store{}, s, "org1", day24, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, ok, _ := s.Get(context.Background(), "f.csv")
	if !ok || string(body) != csvenc.Header+"\r\n" || res.Rows != 0 {
		t.Fatalf("empty day: exists %v body %q rows %d", ok, body, res.Rows)
	}
}

func TestDeliverSourceFailsMidway(t *testing.T) {
	for _, after := range []int64{0, 10, 50000} { // before the first row, inside the first chunk, after many chunks
		t.Run(strconv.FormatInt(after, 10), func(t *testing.T) {
			boom := errors.New("store went away")
			s := memsink.New()
			_, err := Deliver(context.Background(), &genstore.Store{Events: 100000, Fail: boom, FailAfter: after}, s, "org1", day24, "f.csv")
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the source's error", err)
			}
			if names, _ := s.List(context.Background(), ""); len(names) != 0 {
				t.Fatalf("objects after a failed delivery: %v", names)
			}
		})
	}
}

// failingSink reads some bytes, then fails, as a network error would.
type failingSink struct {
	after int
	err   error
}

func (f failingSink) Upload(_ context.Context, _ string, r io.Reader, _ sink.Object) error {
	if _, err := io.CopyN(io.Discard, r, int64(f.after)); err != nil {
		return err
	}
	return f.err
}

// TestDeliverSinkFailsMidway: a day encoded from its events is spooled,
// then uploaded; an upload that fails midway is the sink's error, its
// reader ends, and the spooled file is gone.
func TestDeliverSinkFailsMidway(t *testing.T) {
	before := runtime.NumGoroutine()
	boom := errors.New("connection reset")
	src := &countingSource{Store: genstore.Store{Events: 1000000}}
	tmp := t.TempDir()
	_, err := DeliverFile(context.Background(), src, failingSink{after: 200000, err: boom}, "org1", day24, File{Name: "f.csv", TempDir: tmp})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the sink's error", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("the spool holds %v after the delivery", left)
	}
	// The producer ends on its own once Deliver returned: wait for that
	// (a loaded machine may take a while to schedule it), not for a time.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after 30 s: the producer leaked", before, runtime.NumGoroutine())
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

type countingSource struct {
	genstore.Store
	rows int64
}

func (c *countingSource) ReadDay(ctx context.Context, org string, day audit.Day, fn func(*audit.Event) error) error {
	return c.Store.ReadDay(ctx, org, day, func(e *audit.Event) error { c.rows++; return fn(e) })
}

// earlySink claims success without reading everything: a bug that must not
// pass as a delivery.
type earlySink struct{}

func (earlySink) Upload(_ context.Context, _ string, r io.Reader, _ sink.Object) error {
	_, err := io.CopyN(io.Discard, r, 100)
	return err
}

func TestDeliverSinkStoppingEarlyIsAnError(t *testing.T) {
	if _, err := Deliver(context.Background(), &genstore.Store{Events: 100000}, earlySink{}, "org1", day24, "f.csv"); err == nil {
		t.Fatal("a sink that did not read the whole stream passed as a complete delivery")
	}
}

// sliceSource returns fixed events as they are, however wrong.
type sliceSource []audit.Event

func (s sliceSource) ReadDay(_ context.Context, _ string, _ audit.Day, fn func(*audit.Event) error) error {
	for i := range s {
		if err := fn(&s[i]); err != nil {
			return err
		}
	}
	return nil
}

func ev(org, id string, t time.Time) audit.Event {
	return audit.Event{OrgID: org, RequestID: id, RequestTime: t, RequestMethod: "PUT", RequestPath: "/x", ResponseStatus: 200}
}

func TestDeliverRefusesInconsistentStore(t *testing.T) {
	t0 := day24.Start().Add(time.Hour)
	cases := map[string]sliceSource{
		"other org":    {ev("org1", "a", t0), ev("org2", "b", t0.Add(time.Second))},
		"other day":    {ev("org1", "a", t0), ev("org1", "b", day24.End())},
		"out of order": {ev("org1", "a", t0.Add(time.Second)), ev("org1", "b", t0)},
		"tie order":    {ev("org1", "b", t0), ev("org1", "a", t0)},
		"duplicate":    {ev("org1", "a", t0), ev("org1", "a", t0)},
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			s := memsink.New()
			_, err := Deliver(context.Background(), src, s, "org1", day24, "f.csv")
			if !errors.Is(err, ErrInconsistentStore) {
				t.Fatalf("err = %v, want ErrInconsistentStore", err)
			}
			if names, _ := s.List(context.Background(), ""); len(names) != 0 {
				t.Fatalf("objects: %v", names)
			}
		})
	}
}

type fakeDestinations map[string]destination.Destination

func (f fakeDestinations) Get(_ context.Context, org string) (destination.Destination, error) {
	d, ok := f[org]
	if !ok {
		return d, registry.ErrNotFound
	}
	return d, nil
}

// memOpener opens the memory sink under the destination's prefix, as the
// real sinks do.
type memOpener struct{ s *memsink.Sink }

func (m memOpener) Open(_ context.Context, d destination.Destination) (sink.Sink, error) {
	return prefixed{m.s, d.Prefix}, nil
}

type prefixed struct {
	s      sink.Sink
	prefix string
}

func (p prefixed) Upload(ctx context.Context, name string, r io.Reader, o sink.Object) error {
	return p.s.Upload(ctx, p.prefix+name, r, o)
}

type refusingOpener struct{}

func (refusingOpener) Open(context.Context, destination.Destination) (sink.Sink, error) {
	return nil, errors.Join(sink.ErrAccessDenied, errors.New("AccessDenied: not authorized to perform sts:AssumeRole"))
}

func TestExporter(t *testing.T) {
	ctx := context.Background()
	now := day24.End().Add(time.Hour)
	dests := fakeDestinations{
		"org1": {OrgID: "org1", Kind: destination.KindS3, Prefix: "logs/", Enabled: true},
		"off1": {OrgID: "off1", Kind: destination.KindS3, Enabled: false},
	}
	s := memsink.New()
	x := &Exporter{Destinations: dests, Store: &genstore.Store{Events: 10}, Sinks: memOpener{s}, Retention: days35, Now: func() time.Time { return now }}

	res, err := x.Export(ctx, "org1", day24)
	if err != nil {
		t.Fatal(err)
	}
	if want := "logs/contentful-audit-unstable-beta-org1-20261124T000000000Z.csv"; res.Key != want || res.Rows != 10 {
		t.Fatalf("result %+v, want key %s and 10 rows", res, want)
	}
	if _, ok, _ := s.Get(ctx, res.Key); !ok {
		t.Fatal("object missing")
	}

	for name, tc := range map[string]struct {
		org  string
		day  audit.Day
		now  time.Time
		want error
	}{
		"disabled":         {"off1", day24, now, ErrDisabled},
		"unknown org":      {"nobody", day24, now, registry.ErrNotFound},
		"today":            {"org1", day24, day24.End().Add(-time.Minute), ErrDayNotOver},
		"beyond retention": {"org1", day24, day24.Start().Add(days35), ErrOutsideRetention},
	} {
		t.Run(name, func(t *testing.T) {
			x := *x
			x.Now = func() time.Time { return tc.now }
			_, err := x.Export(ctx, tc.org, tc.day)
			if !errors.Is(err, tc.want) || !IsPermanent(err) {
				t.Fatalf("err = %v, want permanent %v", err, tc.want)
			}
		})
	}
	if _, err := x.Export(ctx, "bad#org", day24); !IsPermanent(err) || !strings.Contains(err.Error(), "org_id") {
		t.Fatalf("bad org: %v", err)
	}
	x.Sinks = refusingOpener{}
	if _, err := x.Export(ctx, "org1", day24); !IsPermanent(err) || !errors.Is(err, sink.ErrAccessDenied) {
		t.Fatalf("refused role: %v", err)
	}
	x.Sinks = memOpener{s}
	x.Store = &genstore.Store{Events: 10, Fail: errors.New("throttled"), FailAfter: 5}
	if _, err := x.Export(ctx, "org1", day24); err == nil || IsPermanent(err) {
		t.Fatalf("a store failure must be transient: %v", err)
	}
}
