// Package firehose writes raw objects into the lake as Amazon Data
// Firehose would, for local runs and tests: moto's Firehose writes each
// PutRecordBatch at once as one object under the literal prefix (it
// ignores dynamic partitioning and compression), so the local stack and
// the tests reproduce the object layout that the real stream produces
// instead. Each Write becomes one gzip-compressed object per (day, org
// bucket) partition, named
//
//	raw/day=YYYY-MM-DD/bucket=NNN/<stream>-1-YYYY-MM-DD-HH-MM-SS-<sequence>-<random>.gz
//
// as Firehose names them (stream, version, the time of the oldest record's
// arrival, a UUID), with a sequence number ahead of the random part so
// that objects written in the same second list in the order they were
// written: the order compaction takes for the order of writes.
//
// Like everything under internal/localdev it is for local runs and tests.
// It imports audit, lake and objstore.
package firehose

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

// Writer is a logstore.Writer that writes raw objects.
type Writer struct {
	Lake   objstore.Bucket
	Stream string           // the stream's name in object names ("auditlogs-raw" if empty)
	Now    func() time.Time // nil for time.Now

	mu sync.Mutex
}

var seq atomic.Int64

// Write stores events as raw objects, one per partition, after checking
// every event (nothing is written if one is invalid).
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
			return fmt.Errorf("firehose: event %d (request %q): %w", i, e.RequestID, err)
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
		stream = "auditlogs-raw"
	}
	// One Write at a time, so the sequence numbers of one Write's objects
	// are above those of every earlier Write.
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range order {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(groups[p])
		if err := zw.Close(); err != nil {
			return fmt.Errorf("firehose: %w", err)
		}
		var rnd [8]byte
		rand.Read(rnd[:])
		key := fmt.Sprintf("%s%s-1-%s-%012d-%s.gz", lake.RawBucketPrefix(p.day, p.bucket), stream,
			now().UTC().Format("2006-01-02-15-04-05"), seq.Add(1), hex.EncodeToString(rnd[:]))
		if err := w.Lake.Put(ctx, key, &buf); err != nil {
			return fmt.Errorf("firehose: %w", err)
		}
	}
	return nil
}
