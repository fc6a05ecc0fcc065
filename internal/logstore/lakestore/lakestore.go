// Package lakestore is the log store's reader on the S3 data lake (see
// internal/lake for the layout and internal/compaction for how org-day
// objects are made). ReadDay is one sequential read: the bucket-day's
// manifest, then the org-day's object as one stream, checked as it flows
// (each event of the org, in strictly increasing (time, request ID)
// order) and at its end (rows, bytes and SHA-256 as the manifest says).
//
// A bucket-day without a manifest is not compacted yet: ReadDay fails with
// ErrNotCompacted, which the delivery treats as transient (retried), never
// as an empty day. An org that the manifest does not name had no events
// that day. An object that does not match its manifest (a compaction
// rewriting it at that moment) fails with ErrChanged, also transient;
// since the export streams into an upload that it completes only after
// ReadDay returned nil, no short or mixed file becomes visible.
//
// It imports audit, lake, logstore and objstore.
package lakestore

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/objstore"
)

// ErrNotCompacted is wrapped when the org's bucket-day has no manifest yet.
var ErrNotCompacted = errors.New("the org's bucket-day is not compacted yet")

// ErrChanged is wrapped when an org-day object does not match its manifest.
var ErrChanged = errors.New("the org-day object does not match its manifest (being compacted again?)")

// DefaultRetention is how long the lake keeps org-day objects unless the
// configuration says otherwise: the lifecycle rule of lake/ in the stack.
const DefaultRetention = 35 * 24 * time.Hour

// Store reads org-days from a lake and, through Writer, stores events as
// raw objects for compaction (Firehose, or the lake's direct writer).
type Store struct {
	Lake objstore.Bucket
	// Writer stores events; nil for a store that only reads (the
	// export's): Write then fails.
	Writer logstore.Writer
	// RetentionPeriod is how long org-day objects are kept (0:
	// DefaultRetention).
	RetentionPeriod time.Duration
}

var (
	_ logstore.Store      = (*Store)(nil)
	_ logstore.FileReader = (*Store)(nil)
)

// Write hands events to the store's writer. They become readable once
// their bucket-day is compacted.
func (s *Store) Write(ctx context.Context, events []audit.Event) error {
	if s.Writer == nil {
		return errors.New("lakestore: this store has no writer (read only)")
	}
	return s.Writer.Write(ctx, events)
}

// Retention is how long the lake keeps an org-day; see logstore.Store.
func (s *Store) Retention() time.Duration {
	if s.RetentionPeriod > 0 {
		return s.RetentionPeriod
	}
	return DefaultRetention
}

// ReadDay streams the org-day; see the package doc.
func (s *Store) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	if err := audit.ValidateOrgID(org); err != nil {
		return fmt.Errorf("lakestore: read day: %w", err)
	}
	if day.IsZero() {
		return fmt.Errorf("lakestore: read day for org %s: day is not set", org)
	}
	where := fmt.Sprintf("lakestore: read org %s day %s", org, day)
	od, ok, err := s.entry(ctx, org, day)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if !ok {
		return nil // no events that day
	}
	body, err := s.Lake.Get(ctx, od.Key)
	if errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("%s: %w: %s is missing", where, ErrChanged, od.Key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	defer body.Close()
	ch := &hashReader{r: body, h: sha256.New()}
	zr, err := gzip.NewReader(bufio.NewReaderSize(ch, 256<<10))
	if err != nil {
		return fmt.Errorf("%s: %s: %w (%v)", where, od.Key, ErrChanged, err)
	}
	rd := lake.NewReader(zr)
	var e, prev audit.Event
	var rows int64
	for {
		_, err := rd.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", where, ctx.Err())
			}
			return fmt.Errorf("%s: %s: %w", where, od.Key, err)
		}
		rows++
		// A canceled read stops within 64 events, whatever the body's
		// reader does with the context.
		if rows%64 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		if e.OrgID != org {
			return fmt.Errorf("%s: %s: event %d is of org %s", where, od.Key, rows, e.OrgID)
		}
		if rows > 1 && !before(&prev, &e) {
			return fmt.Errorf("%s: %s: event %d (%s %s) is not after event %d (%s %s)", where, od.Key,
				rows, e.RequestTime.Format(audit.TimeLayout), e.RequestID, rows-1, prev.RequestTime.Format(audit.TimeLayout), prev.RequestID)
		}
		if err := fn(&e); err != nil {
			return err
		}
		prev = e
	}
	// The rest of the stream (gzip's trailer has been read; anything after
	// it would be a second member) counts too.
	if _, err := io.Copy(io.Discard, ch); err != nil {
		return fmt.Errorf("%s: %s: %w", where, od.Key, err)
	}
	if sum := hex.EncodeToString(ch.h.Sum(nil)); rows != od.Rows || ch.n != od.Bytes || sum != od.SHA256 {
		return fmt.Errorf("%s: %s: %w: %d rows, %d bytes, sha256 %s; the manifest says %d rows, %d bytes, sha256 %s",
			where, od.Key, ErrChanged, rows, ch.n, sum, od.Rows, od.Bytes, od.SHA256)
	}
	return nil
}

// entry is the org's entry in its bucket-day's manifest; ok is false when
// the manifest names no such org (no events that day).
func (s *Store) entry(ctx context.Context, org string, day audit.Day) (lake.OrgDay, bool, error) {
	bucket := lake.BucketOf(org)
	mk := lake.ManifestKey(day, bucket)
	mr, err := s.Lake.Get(ctx, mk)
	if errors.Is(err, objstore.ErrNotFound) {
		return lake.OrgDay{}, false, fmt.Errorf("%w (no %s)", ErrNotCompacted, mk)
	}
	if err != nil {
		return lake.OrgDay{}, false, fmt.Errorf("manifest: %w", err)
	}
	m, err := lake.DecodeManifest(mr)
	mr.Close()
	if err != nil {
		return lake.OrgDay{}, false, fmt.Errorf("manifest %s: %w", mk, err)
	}
	if m.Day != day || m.Bucket != bucket {
		return lake.OrgDay{}, false, fmt.Errorf("manifest %s is of day %s bucket %d", mk, m.Day, m.Bucket)
	}
	od, ok := m.Org(org)
	return od, ok, nil
}

// OpenDayFile opens the org-day's delivered file that compaction wrote;
// see logstore.FileReader. A file that is gone (expired) is ErrNoDayFile,
// and the export encodes the events instead. The caller checks the bytes
// and their checksum against the DayFile as they flow: a file that does not match (a
// compaction rewriting it at that moment) must fail the delivery.
func (s *Store) OpenDayFile(ctx context.Context, org string, day audit.Day) (logstore.DayFile, error) {
	if err := audit.ValidateOrgID(org); err != nil {
		return logstore.DayFile{}, fmt.Errorf("lakestore: open day file: %w", err)
	}
	where := fmt.Sprintf("lakestore: open the file of org %s day %s", org, day)
	od, ok, err := s.entry(ctx, org, day)
	if err != nil {
		return logstore.DayFile{}, fmt.Errorf("%s: %w", where, err)
	}
	if !ok || od.File.Key == "" {
		return logstore.DayFile{}, fmt.Errorf("%s: %w", where, logstore.ErrNoDayFile)
	}
	body, err := s.Lake.Get(ctx, od.File.Key)
	if errors.Is(err, objstore.ErrNotFound) {
		// Delivered files expire a week after their day (the lake's
		// lifecycle rule): a later delivery, a backfill, encodes the
		// day from its events, which the lake keeps for the retention.
		return logstore.DayFile{}, fmt.Errorf("%s: %s has expired: %w", where, od.File.Key, logstore.ErrNoDayFile)
	}
	if err != nil {
		return logstore.DayFile{}, fmt.Errorf("%s: %w", where, err)
	}
	return logstore.DayFile{Body: body, Rows: od.Rows, Bytes: od.File.Bytes, SHA256: od.File.SHA256, CRC32C: od.File.CRC32C, First: od.First, Last: od.Last}, nil
}

func before(a, b *audit.Event) bool {
	if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
		return c < 0
	}
	return strings.Compare(a.RequestID, b.RequestID) < 0
}

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}
