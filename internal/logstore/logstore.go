// Package logstore defines the log store: where ingested audit events wait,
// grouped by org and UTC day, until the export delivers them. It holds the
// interfaces the rest of the code reads and writes through (Reader for the
// export, Writer for the ingest, Store for what the functions and auditctl
// hold) and WriteBatches.
//
// Providers live in packages below this one (lakestore reading the S3
// data lake that internal/compaction writes, the production one; memstore
// in memory for tests, genstore generating days for benchmarks)
// and pass the acceptance suite in storetest. factory opens the provider
// that the configuration names. This package imports only audit: it may
// not import a provider, factory or anything that uses the store.
package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// Reader streams one org-day.
type Reader interface {
	// ReadDay calls fn once per event of org on day, in (RequestTime,
	// RequestID) order, each request ID once. fn must not keep e after it
	// returns: implementations reuse it. An error from fn stops the read
	// and is returned as is. A store error is returned, never taken for
	// the end of the day: a truncated day must not look complete.
	ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error
}

// DayFile is an org-day already encoded as the customer's file: the CSV of
// internal/csvenc, header included, as export.Deliver would write it from
// the day's events. Body must be closed.
//
// SHA256 was computed by the writer of the file (compaction) as it wrote
// it. When CRC32C is set the export proves its copy is those bytes by
// their count and CRC32C, and reports SHA256 as the delivered file's:
// CRC32C catches every burst error up to 32 bits and any other corruption
// but for one chance in 2^32, as S3's own end-to-end checksums do, and
// runs at over ten times SHA-256's rate (docs/benchmarks.md). Neither
// would stop someone who can rewrite the lake, who could rewrite its
// manifest too. Without CRC32C the export hashes the copy with SHA-256.
type DayFile struct {
	Body   io.ReadCloser
	Rows   int64
	Bytes  int64
	SHA256 string // hex, of exactly Bytes bytes of Body
	CRC32C string // hex, of the same bytes; may be empty
	// First and Last are the request times of the first and last event.
	First, Last time.Time
}

// FileReader is a Reader that may hold org-days as files (the lake, whose
// compaction writes them). The export copies such a file instead of
// encoding the events again, checking its bytes and SHA-256 as they flow.
type FileReader interface {
	Reader
	// OpenDayFile opens the org-day's file; ErrNoDayFile (wrapped) when
	// the store holds none for it, and the export then reads the events.
	OpenDayFile(ctx context.Context, org string, day audit.Day) (DayFile, error)
}

// ErrNoDayFile is wrapped by OpenDayFile when there is no file to copy.
var ErrNoDayFile = errors.New("no delivered file for this org-day")

// Writer stores events.
type Writer interface {
	// Write stores events, which must be valid (see audit.Event.Validate).
	// It is idempotent by (OrgID, RequestID): writing an event again
	// replaces it and never adds a second row.
	Write(ctx context.Context, events []audit.Event) error
}

// Store is a log store as the functions and auditctl hold it (app.App's
// Store, opened by factory.Open): the ingest writes it, the export reads
// it, and its retention bounds the days the export delivers. A provider
// that is only read (genstore, storetest's read-only store) implements
// Reader alone.
type Store interface {
	Reader
	Writer
	// Retention is how long after its request time the store may forget
	// an event (a TTL, a lifecycle rule): the export refuses a day whose
	// first events may be gone rather than deliver it short.
	Retention() time.Duration
}

// WriteBatches stores the events that source emits, size at a time (1000
// when size <= 0), so that a source of any length streams through, and
// returns how many it stored. An error from source or from the store
// stops it; a store error says how many events were stored before it.
func WriteBatches(ctx context.Context, w Writer, size int, source func(emit func(audit.Event) error) error) (int, error) {
	if size <= 0 {
		size = 1000
	}
	buf := make([]audit.Event, 0, size)
	stored := 0
	flush := func() error {
		if err := w.Write(ctx, buf); err != nil {
			return fmt.Errorf("store events (after %d stored): %w", stored, err)
		}
		stored += len(buf)
		buf = buf[:0]
		return nil
	}
	err := source(func(e audit.Event) error {
		buf = append(buf, e)
		if len(buf) == size {
			return flush()
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		err = flush()
	}
	return stored, err
}
