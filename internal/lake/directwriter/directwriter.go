// Package directwriter writes raw objects into the lake itself, in the
// layout Amazon Data Firehose produces: the writer of the lake when no
// Firehose stream is configured (AUDITLOG_LAKE_STREAM unset): auditctl's
// `events load` and `ingest` run by an operator, the local stack, whose
// emulated Firehose neither partitions nor compresses, and the tests. Each
// Write becomes one gzip-compressed object per (day, org bucket)
// partition, named
//
//	raw/day=YYYY-MM-DD/bucket=NNN/<stream>-1-YYYY-MM-DD-HH-MM-SS-<sequence>-<random>.gz
//
// as Firehose names them (stream, version, the time of the oldest record,
// a UUID), with the writer's sequence number ahead of the random part, so
// that this process's objects of the same second list in the order they were
// written: the order compaction takes for the order of writes. (Objects of
// two writers in the same second, as of two Firehose buffers, have no
// order; the platform's request IDs make that matter only for a replay
// that changes an event, which comes later anyway.)
//
// It imports audit, lake and objstore.
package directwriter

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/objstore"
)

// DefaultStream is the stream name in the objects' names when Stream is
// empty.
const DefaultStream = "auditlogs-direct"

// Writer is a logstore.Writer that writes raw objects.
type Writer struct {
	Lake   objstore.Bucket
	Stream string           // the stream's name in object names (DefaultStream if empty)
	Now    func() time.Time // nil for time.Now

	mu sync.Mutex
}

// seq numbers the objects of this process, across writers.
var seq atomic.Int64

// Write stores events as raw objects, one per partition, after checking
// every event (nothing is written if one is invalid). A failed Write may
// have written some of its objects: writing the same events again is safe,
// since compaction keeps one copy of each request ID.
func (w *Writer) Write(ctx context.Context, events []audit.Event) error {
	type part struct {
		day    audit.Day
		bucket int
	}
	var order []part
	groups := map[part][]byte{}
	for i := range events {
		e := events[i]
		e.Normalize()
		if err := e.Validate(); err != nil {
			return fmt.Errorf("lake writer: event %d (request %q): %w", i, e.RequestID, err)
		}
		p := part{audit.DayOf(e.RequestTime), lake.BucketOf(e.OrgID)}
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = lake.AppendRaw(groups[p], &e)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	stream := w.Stream
	if stream == "" {
		stream = DefaultStream
	}
	// One Write at a time, so the sequence numbers of one Write's objects
	// are above those of every earlier Write.
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range order {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(groups[p]); err != nil {
			return fmt.Errorf("lake writer: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("lake writer: %w", err)
		}
		var rnd [8]byte
		rand.Read(rnd[:])
		key := fmt.Sprintf("%s%s-1-%s-%012d-%s.gz", lake.RawBucketPrefix(p.day, p.bucket), stream,
			now().UTC().Format("2006-01-02-15-04-05"), seq.Add(1), hex.EncodeToString(rnd[:]))
		if err := w.Lake.Put(ctx, key, &buf); err != nil {
			return fmt.Errorf("lake writer: %w", err)
		}
	}
	return nil
}
