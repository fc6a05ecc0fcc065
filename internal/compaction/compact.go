// Package compaction turns one bucket-day of the lake's raw objects (what
// Firehose wrote, in any order, with repeats) into one object per org-day,
// sorted by (request time, request ID), each request ID once, with the
// org-day's delivered file beside it (the customer's CSV, byte for byte,
// which the export copies), and then a manifest that names every object
// with its rows, bytes and SHA-256 (see internal/lake for the layout). It is the handler the Step Functions
// Distributed Map runs for each bucket, and what `auditctl compact` runs
// in process.
//
// Memory stays flat whatever the size of the bucket-day: records go
// through two external merge sorts with a fixed budget (sorted runs on the
// function's local disk, a k-way merge): one by (org, request ID, input
// order) that keeps the last copy of each request ID, one by (org, time,
// request ID) that feeds the org-day objects, each streamed to S3.
//
// It is idempotent: the objects and the manifest depend only on the raw
// objects listed, so a compaction killed midway and run again writes the
// same bytes; each object becomes visible whole (objstore.Bucket.Put), and
// the manifest, written last, is what readers trust. A bucket-day whose
// manifest already lists exactly its raw objects is left alone. When a
// later compaction changes an org-day that an earlier manifest named (late
// events), the org-day is marked stale in the ledger before the new
// manifest is written, so the catch-up delivers it again, complete.
//
// It imports audit, checksum (the files' SHA-256 and CRC32C), csvenc (the
// delivered file's encoder), lake and objstore, and declares the one
// ledger method it needs (StaleMarker).
package compaction

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/checksum"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/objstore"
)

// StaleMarker records that a delivered org-day may be out of date
// (ledger.Ledger.MarkStale).
type StaleMarker interface {
	MarkStale(ctx context.Context, org string, day audit.Day) error
}

// DefaultRunBytes is the memory budget of each sort's buffer: two sorts,
// so a compaction holds about twice this in records.
const DefaultRunBytes = 64 << 20

// Compactor compacts bucket-days of one lake.
type Compactor struct {
	Lake  objstore.Bucket
	Stale StaleMarker // nil: nothing is marked (a lake no delivery has read)
	// TempDir holds the sorted runs ("" for os.TempDir: /tmp in Lambda,
	// whose ephemeral storage the stack sizes).
	TempDir string
	// RunBytes is the budget of each sort (DefaultRunBytes if 0).
	RunBytes int
	Log      *slog.Logger
}

// Result says what one compaction did.
type Result struct {
	Day        audit.Day `json:"day"`
	Bucket     int       `json:"bucket"`
	UpToDate   bool      `json:"up_to_date"` // the manifest already listed exactly these raw objects
	Inputs     int       `json:"inputs"`
	Records    int64     `json:"records"`
	Duplicates int64     `json:"duplicates"`
	Orgs       int       `json:"orgs"`
	Rows       int64     `json:"rows"`
	// Changed are the org-days that an earlier manifest named differently
	// (or not at all): marked stale, to be delivered again.
	Changed []string `json:"changed,omitempty"`
}

// ErrCorruptRaw is wrapped when a raw object cannot be read as raw
// records, or holds a record that does not belong to its partition. The
// compaction stops: nothing is dropped silently.
var ErrCorruptRaw = errors.New("raw object is not a valid part of its bucket-day")

// Compact compacts day's raw objects of bucket.
func (c *Compactor) Compact(ctx context.Context, day audit.Day, bucket int) (Result, error) {
	res := Result{Day: day, Bucket: bucket}
	if day.IsZero() || bucket < 0 || bucket >= lake.Buckets {
		return res, fmt.Errorf("compaction: day %q bucket %d: not a bucket-day of the lake", day, bucket)
	}
	where := fmt.Sprintf("compaction of day %s bucket %s", day, lake.BucketName(bucket))
	var inputs []lake.Input
	if err := c.Lake.List(ctx, lake.RawBucketPrefix(day, bucket), func(o objstore.Object) error {
		inputs = append(inputs, lake.Input{Key: o.Key, ETag: o.ETag, Size: o.Size})
		return nil
	}); err != nil {
		return res, fmt.Errorf("%s: list raw objects: %w", where, err)
	}
	old, err := c.manifest(ctx, day, bucket)
	if err != nil {
		return res, fmt.Errorf("%s: %w", where, err)
	}
	// The raw objects not compacted yet. Those an earlier compaction read
	// are not read again: their events are in its org-day objects, which
	// are read instead, so raw objects may expire once compacted.
	fresh := inputs
	if old != nil {
		done := make(map[lake.Input]bool, len(old.Inputs))
		for _, in := range old.Inputs {
			done[in] = true
		}
		fresh = nil
		for _, in := range inputs {
			if !done[in] {
				fresh = append(fresh, in)
			}
		}
		if len(fresh) == 0 {
			res.UpToDate, res.Inputs, res.Records, res.Duplicates, res.Orgs = true, len(old.Inputs), old.Records, old.Duplicates, len(old.Orgs)
			for _, o := range old.Orgs {
				res.Rows += o.Rows
			}
			return res, nil
		}
	}

	budget := c.RunBytes
	if budget <= 0 {
		budget = DefaultRunBytes
	}
	dir, err := os.MkdirTemp(c.TempDir, "compaction-*")
	if err != nil {
		return res, fmt.Errorf("%s: %w", where, err)
	}
	defer os.RemoveAll(dir)
	ids := newSorter(byID, dir, budget)
	defer ids.close()
	times := newSorter(byTime, dir, budget)
	defer times.close()

	// What an earlier compaction kept comes first, then the new raw
	// objects in key order: the order in which their events were written.
	var seq int64
	if old != nil {
		for _, o := range old.Orgs {
			if err := c.readOrgDay(ctx, o, &seq, ids); err != nil {
				return res, fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	var records int64
	for _, in := range fresh {
		n, err := c.readRaw(ctx, in, day, bucket, &seq, ids)
		records += n
		if err != nil {
			return res, fmt.Errorf("%s: %w", where, err)
		}
	}
	// Keep the last copy of each (org, request ID).
	var prev rec
	have := false
	err = ids.merge(func(r *rec) error {
		if have && (r.e.OrgID != prev.e.OrgID || r.e.RequestID != prev.e.RequestID) {
			if err := times.add(prev); err != nil {
				return err
			}
		} else if have {
			res.Duplicates++
		}
		prev, have = *r, true
		return nil
	})
	if err == nil && have {
		err = times.add(prev)
	}
	if err != nil {
		return res, fmt.Errorf("%s: deduplicate: %w", where, err)
	}
	ids.close()

	// Write the org-day objects.
	m := &lake.Manifest{Version: lake.ManifestVersion, Day: day, Bucket: bucket, Inputs: fresh,
		Records: records, Duplicates: res.Duplicates}
	if old != nil {
		m.Inputs = lake.MergeInputs(old.Inputs, fresh)
		m.Records += old.Records
		m.Duplicates += old.Duplicates
	}
	res.Inputs, res.Records, res.Duplicates = len(m.Inputs), m.Records, m.Duplicates
	var w *orgWriter
	finish := func() error {
		if w == nil {
			return nil
		}
		od, err := w.close()
		w = nil
		if err != nil {
			return err
		}
		m.Orgs = append(m.Orgs, od)
		res.Rows += od.Rows
		return nil
	}
	err = times.merge(func(r *rec) error {
		if w != nil && w.org != r.e.OrgID {
			if err := finish(); err != nil {
				return err
			}
		}
		if w == nil {
			var err error
			if w, err = c.newOrgWriter(ctx, r.e.OrgID, day); err != nil {
				return err
			}
		}
		return w.write(&r.e)
	})
	if err == nil {
		err = finish()
	}
	if err != nil {
		if w != nil {
			w.abort(err)
		}
		return res, fmt.Errorf("%s: write org-days: %w", where, err)
	}
	res.Orgs = len(m.Orgs)

	// The org-days an earlier manifest named otherwise are stale: marked
	// before the new manifest is written, so that a compaction killed in
	// between marks them again when it runs again.
	if old != nil {
		for _, o := range m.Orgs {
			if prev, ok := old.Org(o.Org); !ok || prev.SHA256 != o.SHA256 {
				res.Changed = append(res.Changed, o.Org)
			}
		}
		for _, org := range res.Changed {
			if c.Stale == nil {
				continue
			}
			if err := c.Stale.MarkStale(ctx, org, day); err != nil {
				return res, fmt.Errorf("%s: mark org %s stale: %w", where, org, err)
			}
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(lake.EncodeManifest(pw, m)) }()
	if err := c.Lake.Put(ctx, lake.ManifestKey(day, bucket), pr); err != nil {
		pr.CloseWithError(err)
		return res, fmt.Errorf("%s: write manifest: %w", where, err)
	}
	if c.Log != nil {
		c.Log.InfoContext(ctx, "compacted", "day", day.String(), "bucket", bucket, "inputs", res.Inputs,
			"records", res.Records, "duplicates", res.Duplicates, "orgs", res.Orgs, "rows", res.Rows, "changed", len(res.Changed))
	}
	return res, nil
}

// manifest reads the bucket-day's manifest; nil if there is none.
func (c *Compactor) manifest(ctx context.Context, day audit.Day, bucket int) (*lake.Manifest, error) {
	r, err := c.Lake.Get(ctx, lake.ManifestKey(day, bucket))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer r.Close()
	m, err := lake.DecodeManifest(r)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", lake.ManifestKey(day, bucket), err)
	}
	return m, nil
}

// readOrgDay adds the events of an org-day object that an earlier
// compaction wrote.
func (c *Compactor) readOrgDay(ctx context.Context, o lake.OrgDay, seq *int64, s *sorter) error {
	body, err := c.Lake.Get(ctx, o.Key)
	if err != nil {
		return fmt.Errorf("read compacted org-day: %w", err)
	}
	defer body.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(body, 256<<10))
	if err != nil {
		return fmt.Errorf("compacted org-day %s: %w", o.Key, err)
	}
	rd := lake.NewReader(zr)
	for {
		var r rec
		_, err := rd.Next(&r.e)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("compacted org-day %s: %w", o.Key, err)
		}
		if r.e.OrgID != o.Org {
			return fmt.Errorf("compacted org-day %s: record %d is of org %s", o.Key, rd.Line(), r.e.OrgID)
		}
		*seq++
		r.seq = *seq
		if err := s.add(r); err != nil {
			return err
		}
	}
}

// readRaw adds the records of one raw object (gzip-compressed raw
// records, as Firehose writes them) to s and returns how many it read.
func (c *Compactor) readRaw(ctx context.Context, in lake.Input, day audit.Day, bucket int, seq *int64, s *sorter) (int64, error) {
	body, err := c.Lake.Get(ctx, in.Key)
	if err != nil {
		return 0, fmt.Errorf("read raw object: %w", err)
	}
	defer body.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(body, 256<<10))
	if err != nil {
		return 0, fmt.Errorf("raw object %s: %w: %v", in.Key, ErrCorruptRaw, err)
	}
	rd := lake.NewReader(zr)
	want := lake.BucketName(bucket)
	var n int64
	for {
		var r rec
		b, err := rd.Next(&r.e)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, fmt.Errorf("raw object %s: %w", in.Key, ctx.Err())
			}
			return n, fmt.Errorf("raw object %s: %w: %v", in.Key, ErrCorruptRaw, err)
		}
		n++
		if b != want || lake.BucketOf(r.e.OrgID) != bucket || !day.Contains(r.e.RequestTime) {
			return n, fmt.Errorf("raw object %s: %w: record %d (org %s, bucket %q, time %s) belongs to day %s bucket %s",
				in.Key, ErrCorruptRaw, rd.Line(), r.e.OrgID, b, r.e.RequestTime.Format(audit.TimeLayout),
				audit.DayOf(r.e.RequestTime), lake.BucketName(lake.BucketOf(r.e.OrgID)))
		}
		*seq++
		r.seq = *seq
		if err := s.add(r); err != nil {
			return n, err
		}
	}
}

// orgWriter streams one org-day's two objects (the NDJSON record and the
// delivered file), each counted and hashed as it goes, through a pipe into
// the lake's Put.
type orgWriter struct {
	org   string
	rows  int64
	first audit.Event
	last  audit.Event
	line  []byte

	ndjson *upload
	zw     *gzip.Writer
	bw     *bufio.Writer
	file   *upload
	csv    *csvenc.Encoder
}

// upload is one object being streamed to the lake.
type upload struct {
	key  string
	pw   *io.PipeWriter
	cnt  *checksum.Writer
	done chan error
}

func (c *Compactor) upload(ctx context.Context, key string) *upload {
	pr, pw := io.Pipe()
	u := &upload{key: key, pw: pw, cnt: checksum.NewWriter(pw), done: make(chan error, 1)}
	go func() {
		err := c.Lake.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock the writer if Put stopped early
		u.done <- err
	}()
	return u
}

// finish ends the stream: complete (err nil) or aborted with err.
func (u *upload) finish(err error) error {
	if err != nil {
		u.pw.CloseWithError(err)
		<-u.done
		return err
	}
	u.pw.Close()
	if err := <-u.done; err != nil {
		return fmt.Errorf("%s: %w", u.key, err)
	}
	return nil
}

func (c *Compactor) newOrgWriter(ctx context.Context, org string, day audit.Day) (*orgWriter, error) {
	w := &orgWriter{org: org, ndjson: c.upload(ctx, lake.OrgDayKey(org, day)), file: c.upload(ctx, lake.OrgDayFileKey(org, day))}
	w.zw, _ = gzip.NewWriterLevel(w.ndjson.cnt, gzip.DefaultCompression)
	w.bw = bufio.NewWriterSize(w.zw, 256<<10)
	w.csv = csvenc.NewEncoder(w.file.cnt)
	if err := w.csv.WriteHeader(); err != nil {
		w.abort(err)
		return nil, fmt.Errorf("org-day file %s: %w", w.file.key, err)
	}
	return w, nil
}

func (w *orgWriter) write(e *audit.Event) error {
	if w.rows == 0 {
		w.first = *e
	}
	w.last = *e
	w.rows++
	w.line = lake.AppendEvent(w.line[:0], e)
	if _, err := w.bw.Write(w.line); err != nil {
		return fmt.Errorf("org-day %s: %w", w.ndjson.key, err)
	}
	if err := w.csv.Write(e); err != nil {
		return fmt.Errorf("org-day file %s: %w", w.file.key, err)
	}
	return nil
}

func (w *orgWriter) close() (lake.OrgDay, error) {
	err := w.bw.Flush()
	if err == nil {
		err = w.zw.Close()
	}
	if err != nil {
		w.abort(err)
		return lake.OrgDay{}, fmt.Errorf("org-day %s: %w", w.ndjson.key, err)
	}
	if err := w.csv.Flush(); err != nil {
		w.abort(err)
		return lake.OrgDay{}, fmt.Errorf("org-day file %s: %w", w.file.key, err)
	}
	// Both complete, or neither counts: a failed one fails the
	// compaction, whose manifest then is not written.
	errN := w.ndjson.finish(nil)
	errF := w.file.finish(nil)
	if err := errors.Join(errN, errF); err != nil {
		return lake.OrgDay{}, err
	}
	return lake.OrgDay{Org: w.org, Key: w.ndjson.key, Rows: w.rows, Bytes: w.ndjson.cnt.N(), SHA256: w.ndjson.cnt.SHA256(),
		First: w.first.RequestTime, Last: w.last.RequestTime,
		File: lake.File{Key: w.file.key, Bytes: w.file.cnt.N(), SHA256: w.file.cnt.SHA256(), CRC32C: w.file.cnt.CRC32C()}}, nil
}

// abort stops both uploads: the objects stay as they were.
func (w *orgWriter) abort(cause error) {
	w.ndjson.finish(cause)
	w.file.finish(cause)
}
