package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/redact"
)

// Raw is one record as received.
type Raw struct {
	// Source says where the record came from, for rejects and logs:
	// "file.ndjson:12", or a Kinesis shard and sequence number.
	Source string
	Data   []byte
}

// Counts adds up what became of records. Stored counts the records whose
// event was written: a record delivered twice counts twice, and its event
// is stored once.
type Counts struct {
	Records       int `json:"records"`
	Stored        int `json:"stored"`
	SkippedMethod int `json:"skipped_method"`
	SkippedRoute  int `json:"skipped_route"`
	// SkippedNearMiss counts audited requests on paths that match an
	// audited route only when case is ignored (Kind SkippedNearMiss).
	SkippedNearMiss int            `json:"skipped_near_miss"`
	Rejected        int            `json:"rejected"`
	Entities        map[string]int `json:"entities,omitempty"` // stored events by entity type
}

// Skipped is the records skipped for any reason (method, route, near miss).
func (c Counts) Skipped() int { return c.SkippedMethod + c.SkippedRoute + c.SkippedNearMiss }

// Add adds d to c.
func (c *Counts) Add(d Counts) {
	c.Records += d.Records
	c.Stored += d.Stored
	c.SkippedMethod += d.SkippedMethod
	c.SkippedRoute += d.SkippedRoute
	c.SkippedNearMiss += d.SkippedNearMiss
	c.Rejected += d.Rejected
	for k, v := range d.Entities {
		if c.Entities == nil {
			c.Entities = map[string]int{}
		}
		c.Entities[k] += v
	}
}

// Reject is a rejected record and why.
type Reject struct {
	Source    string `json:"source,omitempty"`
	Field     string `json:"field"`                // the record's key, or "record"
	Reason    string `json:"reason"`               // what is wrong with it
	Error     string `json:"error"`                // field, value and reason in one line
	RequestID string `json:"request_id,omitempty"` // when the record got that far
	OrgID     string `json:"org_id,omitempty"`     // when the record got that far
	// The record as received, its credentials redacted (docs/ingest-format.md):
	// Record when it is valid UTF-8, else RecordBase64 (encoding/json
	// writes []byte as base64).
	Record       string `json:"record,omitempty"`
	RecordBase64 []byte `json:"record_base64,omitempty"`
}

// newReject describes a rejected record. Nothing in it holds a credential:
// the record is redacted (redactRecord), and so are the error and the
// reason, which may quote a value of the record.
func newReject(raw Raw, rec *Record, err error) Reject {
	r := Reject{Source: raw.Source, Field: FieldRecord, Reason: err.Error(), Error: redact.Text(err.Error())}
	var fe *audit.FieldError
	if errors.As(err, &fe) {
		r.Field, r.Reason = fe.Field, fe.Reason
	}
	r.Reason = redact.Text(r.Reason)
	if rec != nil {
		r.RequestID, r.OrgID = rec.RequestID, rec.OrgID
	}
	data := redactRecord(raw.Data)
	if utf8.Valid(data) {
		r.Record = string(data)
	} else {
		r.RecordBase64 = data
	}
	return r
}

// RejectSink receives rejected records. Reject is called once per Ingest
// call that rejected records, from one goroutine at a time per Ingester.
type RejectSink interface {
	Reject(ctx context.Context, rejects []Reject) error
}

// MemorySink keeps rejects in memory (tests). It is safe for concurrent use.
type MemorySink struct {
	mu      sync.Mutex
	rejects []Reject
}

func (m *MemorySink) Reject(_ context.Context, rs []Reject) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejects = append(m.rejects, rs...)
	return nil
}

// Rejects returns a copy of what the sink received.
func (m *MemorySink) Rejects() []Reject {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Reject(nil), m.rejects...)
}

// JSONLSink writes each reject as one JSON line to W (a file, standard
// error). It is safe for concurrent use.
type JSONLSink struct {
	mu sync.Mutex
	W  io.Writer
}

func (s *JSONLSink) Reject(_ context.Context, rs []Reject) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.W)
	enc.SetEscapeHTML(false)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write reject: %w", err)
		}
	}
	return nil
}

// DefaultBatchSize is the number of events an Ingester hands to one
// Store.Write: it bounds the memory of one call (the lake's Firehose
// writer packs it into PutRecordBatch calls of at most 500 records).
const DefaultBatchSize = 1000

// LateNoter is told, after their events are stored, of the org-days in the
// past (before the ingester's UTC today) that received events: their file
// may have been delivered without them. The delivery ledger implements it
// (ledger.Ledger.NoteLate); n is the number of events.
type LateNoter interface {
	NoteLate(ctx context.Context, org string, day audit.Day, n int) error
}

// Ingester classifies request-log records and stores the audited ones.
// Set the fields before the first call; an Ingester may then be used by
// several goroutines.
type Ingester struct {
	Store   logstore.Writer
	Config  Config
	Rejects RejectSink // nil: rejects are counted and dropped
	// Late, when set, is told of events stored for past days, so that a
	// day delivered before they arrived is delivered again.
	Late LateNoter
	// Now is the clock that bounds request times (time.Now when nil).
	Now func() time.Time
	// BatchSize is the most events in one Store.Write (DefaultBatchSize
	// when 0).
	BatchSize int
	// Log, when set, receives a line for the near misses of an Ingest
	// call (SkippedNearMiss): their count and the first one.
	Log *slog.Logger
}

// nearMiss is what the log line says of the first near miss.
type nearMiss struct{ source, method, path, route string }

type orgDay struct {
	org string
	day audit.Day
}

// StoreEvents writes the audit events that source emits to the store, in
// batches of BatchSize, and tells Late of the past org-days (before the
// ingester's UTC today) that received them, as Ingest does for the events
// of the records it classifies: `auditctl events load` stores through it,
// so that an event loaded for a day already delivered makes the day stale
// and it is delivered again. It returns how many events were stored; the
// error is source's, the store's or the ledger's. The days of the events
// stored before an error are noted all the same; storing the events again
// is safe.
func (in *Ingester) StoreEvents(ctx context.Context, source func(emit func(audit.Event) error) error) (int, error) {
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	return in.store(ctx, now, source)
}

// store is StoreEvents with the ingester's clock read once (Ingest reads
// it for Parse too).
func (in *Ingester) store(ctx context.Context, now time.Time, source func(emit func(audit.Event) error) error) (int, error) {
	w := &lateCounter{Writer: in.Store, today: audit.DayOf(now), days: map[orgDay]int{}}
	stored, err := logstore.WriteBatches(ctx, w, in.BatchSize, source)
	if in.Late != nil {
		// After the store: a day noted late is sure to hold the events
		// when it is delivered again.
		for k, n := range w.days {
			if nerr := in.Late.NoteLate(ctx, k.org, k.day, n); nerr != nil {
				return stored, errors.Join(err, fmt.Errorf("note %d late events of org %s day %s: %w", n, k.org, k.day, nerr))
			}
		}
	}
	return stored, err
}

// lateCounter counts, per org-day before today, the events its Writer has
// stored.
type lateCounter struct {
	logstore.Writer
	today audit.Day
	days  map[orgDay]int
}

func (l *lateCounter) Write(ctx context.Context, events []audit.Event) error {
	if err := l.Writer.Write(ctx, events); err != nil {
		return err
	}
	for i := range events {
		if d := audit.DayOf(events[i].RequestTime); d.Before(l.today) {
			l.days[orgDay{events[i].OrgID, d}]++
		}
	}
	return nil
}

// Ingest parses and classifies records, writes the events of the audited
// ones to the store in batches and tells Late of the past days that
// received events (StoreEvents), sends the rejected records to the RejectSink and counts
// everything. The error is a store, ledger or reject sink error: then some
// events may be stored already, and ingesting the records again is safe
// (events are keyed by request ID). Counts are complete only without
// error.
func (in *Ingester) Ingest(ctx context.Context, records []Raw) (Counts, error) {
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	c := Counts{Records: len(records)}
	var rejects []Reject
	var firstNear nearMiss
	stored, err := in.store(ctx, now, func(emit func(audit.Event) error) error {
		for _, raw := range records {
			rec, err := Parse(raw.Data, now)
			if err != nil {
				c.Rejected++
				rejects = append(rejects, newReject(raw, nil, err))
				continue
			}
			e, out := in.Config.Classify(&rec)
			switch out.Kind {
			case Stored:
				if c.Entities == nil {
					c.Entities = map[string]int{}
				}
				c.Entities[out.Entity]++
				if err := emit(e); err != nil {
					return err
				}
			case SkippedMethod:
				c.SkippedMethod++
			case SkippedRoute:
				c.SkippedRoute++
			case SkippedNearMiss:
				c.SkippedNearMiss++
				if c.SkippedNearMiss == 1 {
					firstNear = nearMiss{raw.Source, rec.Method, rec.Path, out.Route}
				}
			default:
				c.Rejected++
				rejects = append(rejects, newReject(raw, &rec, out.Err))
			}
		}
		return nil
	})
	c.Stored = stored
	if c.SkippedNearMiss > 0 && in.Log != nil {
		// One line a call, however many: enough to find the client.
		in.Log.WarnContext(ctx, "near miss: an audited method on a path that matches an audited route only when case is ignored; not stored",
			"count", c.SkippedNearMiss, "first_source", firstNear.source, "first_method", firstNear.method,
			"first_path", redact.Text(firstNear.path), "first_route", firstNear.route)
	}
	if err != nil {
		return c, fmt.Errorf("ingest: %w", err)
	}
	if len(rejects) > 0 && in.Rejects != nil {
		if err := in.Rejects.Reject(ctx, rejects); err != nil {
			return c, fmt.Errorf("ingest: send %d rejected records: %w", len(rejects), err)
		}
	}
	return c, nil
}
