package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/storetest"
)

// fileStore is a read-only log store over NDJSON files (docs/event-format.md),
// laid out as a data lake's objects would be:
//
//	<dir>/<org>/<YYYY-MM-DD>/<sequence>.ndjson
//
// one file per ingest batch, a later file's event replacing an earlier
// one's with the same request ID. It has no Write method: whoever fills
// the lake writes the files (here lakeOpen, as the suite's Open), and the
// store only reads them. It holds a day in memory to sort it, which a real
// lake store would not.
type fileStore struct{ dir string }

var _ logstore.Reader = fileStore{}

func (s fileStore) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	// The org names a directory: only a valid org ID may.
	if err := audit.ValidateOrgID(org); err != nil {
		return fmt.Errorf("filestore: read day: %w", err)
	}
	if day.IsZero() {
		return fmt.Errorf("filestore: read day for org %s: day is not set", org)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: read org %s day %s: %w", org, day, err)
	}
	dir := filepath.Join(s.dir, org, day.String())
	files, err := os.ReadDir(dir) // sorted by name: the write order
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing was written for the day
	}
	if err != nil {
		return fmt.Errorf("filestore: read org %s day %s: %w", org, day, err)
	}
	last := map[string]audit.Event{}
	for _, f := range files {
		if err := readFile(filepath.Join(dir, f.Name()), org, day, last); err != nil {
			return fmt.Errorf("filestore: read org %s day %s: %w", org, day, err)
		}
	}
	events := make([]audit.Event, 0, len(last))
	for _, e := range last {
		events = append(events, e)
	}
	slices.SortFunc(events, func(a, b audit.Event) int {
		if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	for i := range events {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("filestore: read org %s day %s: %w", org, day, err)
		}
		if err := fn(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

// readFile adds the events of one file to last, checking that they belong
// where the file lies: a misfiled event is an error, not a silent extra.
func readFile(name, org string, day audit.Day, last map[string]audit.Event) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	err = audit.ReadNDJSON(f, func(e audit.Event) error {
		if e.OrgID != org || !day.Contains(e.RequestTime) {
			return fmt.Errorf("event %s of org %s at %s is misfiled", e.RequestID, e.OrgID, e.RequestTime.Format(audit.TimeLayout))
		}
		last[e.RequestID] = e
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return nil
}

// lakeOpen is the suite's Open for fileStore: it writes the events as the
// lake's writer would, normalized, in files of at most 29 events per
// org-day (an uneven size, so that request IDs repeat across files), and
// opens the store on them.
func lakeOpen(t *testing.T, events []audit.Event) logstore.Reader {
	t.Helper()
	dir := t.TempDir()
	byDay := map[string][]audit.Event{}
	var order []string // org-days in the order of their first event
	for _, e := range events {
		e.Normalize()
		if err := e.Validate(); err != nil {
			t.Fatalf("seed event %s: %v", e.RequestID, err)
		}
		k := filepath.Join(e.OrgID, audit.DayOf(e.RequestTime).String())
		if _, ok := byDay[k]; !ok {
			order = append(order, k)
		}
		byDay[k] = append(byDay[k], e)
	}
	seq := 0
	for _, k := range order {
		if err := os.MkdirAll(filepath.Join(dir, k), 0o755); err != nil {
			t.Fatal(err)
		}
		for es := range slices.Chunk(byDay[k], 29) {
			seq++
			var b strings.Builder
			if err := audit.WriteNDJSON(&b, es...); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, k, fmt.Sprintf("%06d.ndjson", seq)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fileStore{dir: dir}
}

// TestReadOnlyStore: a store without a Write method passes the reading
// suite, seeded by a function that writes its files.
func TestReadOnlyStore(t *testing.T) {
	if _, ok := any(fileStore{}).(logstore.Writer); ok {
		t.Fatal("fileStore has a Write method: it is meant to show that a read-only store passes")
	}
	storetest.Run(t, lakeOpen)
}

// brokenEnv names, in the child process of TestSuiteCatchesBrokenStores,
// the broken store that TestBrokenStore runs the suite on.
const brokenEnv = "STORETEST_BROKEN_STORE"

// broken are stores with one fault each, and a test of the suite that
// must fail for it.
var broken = map[string]struct {
	open     storetest.Open
	mustFail string
}{
	// The first event of every day goes missing.
	"DropsAnEvent": {func(t *testing.T, events []audit.Event) logstore.Reader {
		return dropFirst{lakeOpen(t, events)}
	}, "OrderAcrossShardsWithEqualTimes"},
	// A repeated request ID keeps its first version.
	"FirstWriteWins": {func(t *testing.T, events []audit.Event) logstore.Reader {
		seen := map[string]bool{}
		var firsts []audit.Event
		for _, e := range events {
			if k := e.OrgID + "\x00" + e.RequestID; !seen[k] {
				seen[k] = true
				firsts = append(firsts, e)
			}
		}
		return lakeOpen(t, firsts)
	}, "SameRequestIDIsOneRow"},
	// Events with the same time come in reverse request ID order.
	"TiesUnordered": {func(t *testing.T, events []audit.Event) logstore.Reader {
		return reverseTies{lakeOpen(t, events)}
	}, "OrderAcrossShardsWithEqualTimes"},
	// A canceled read ends as if the day were complete.
	"IgnoresCancel": {func(t *testing.T, events []audit.Event) logstore.Reader {
		return ignoreCancel{lakeOpen(t, events)}
	}, "CanceledContext"},
}

type dropFirst struct{ logstore.Reader }

func (s dropFirst) ReadDay(ctx context.Context, org string, day audit.Day, fn func(*audit.Event) error) error {
	first := true
	return s.Reader.ReadDay(ctx, org, day, func(e *audit.Event) error {
		if first {
			first = false
			return nil
		}
		return fn(e)
	})
}

type reverseTies struct{ logstore.Reader }

func (s reverseTies) ReadDay(ctx context.Context, org string, day audit.Day, fn func(*audit.Event) error) error {
	var all []audit.Event
	if err := s.Reader.ReadDay(ctx, org, day, func(e *audit.Event) error { all = append(all, *e); return nil }); err != nil {
		return err
	}
	slices.SortStableFunc(all, func(a, b audit.Event) int {
		if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
			return c
		}
		return strings.Compare(b.RequestID, a.RequestID)
	})
	for i := range all {
		if err := fn(&all[i]); err != nil {
			return err
		}
	}
	return nil
}

type ignoreCancel struct{ logstore.Reader }

func (s ignoreCancel) ReadDay(_ context.Context, org string, day audit.Day, fn func(*audit.Event) error) error {
	return s.Reader.ReadDay(context.Background(), org, day, fn)
}

// TestBrokenStore runs the suite on the broken store that brokenEnv
// names; it is TestSuiteCatchesBrokenStores's child and skips otherwise.
func TestBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	storetest.Run(t, broken[name].open)
}

// TestSuiteCatchesBrokenStores: the suite fails for each broken store, in
// the test meant to catch its fault. Each runs in a child process (this
// test binary, running TestBrokenStore), because a failing suite fails
// the test that runs it.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in the child")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run=^TestBrokenStore$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite did not fail for a store that %s: %v\n%s", name, err, out)
			}
			if want := "--- FAIL: TestBrokenStore/" + b.mustFail + " "; !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed, but not in %s:\n%s", b.mustFail, out)
			}
		})
	}
}
