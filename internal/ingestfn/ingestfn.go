// Package ingestfn is the ingest Lambda function's handler: it reads a
// batch of Kinesis records (the platform's API request logs, one JSON
// object a record: docs/ingest-format.md), hands them to the Ingester in
// order, chunk by chunk, and answers with a partial batch response.
//
// Kinesis delivers a shard's records in order and Lambda checkpoints a
// batch: a reported sequence number means "everything from here on comes
// again". So when a chunk fails (the log store, the ledger or the reject
// bucket fails after the SDK's retries), the handler reports the first
// record of that chunk and stops; the chunks before it are done and are
// not delivered again, the rest of the batch is. Rejected records are not
// failures: they go to the reject sink and the batch moves on. Storing is
// idempotent (events are keyed by request ID), so a chunk that comes again
// stores nothing twice. The same holds when the function's time runs
// short: it stops between chunks and reports the rest.
//
// It imports internal/ingest and internal/metrics only, no other
// function's package. The stack (infra/stack) must not import it: it
// takes the metric names from internal/metrics.
package ingestfn

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/metrics"
)

// Ingester is what the handler needs of ingest.Ingester.
type Ingester interface {
	Ingest(ctx context.Context, records []ingest.Raw) (ingest.Counts, error)
}

// DefaultChunk is the number of records per Ingest call: a failure sends
// back at most this many records that were already stored.
const DefaultChunk = 500

// Reserve is the time a chunk is given: with less left before the
// function's deadline, the handler stops and reports the rest of the
// batch instead of being killed midway.
const Reserve = 20 * time.Second

// Handler handles a Kinesis batch.
type Handler struct {
	Ingester Ingester
	Chunk    int          // records per Ingest call (DefaultChunk when 0)
	Log      *slog.Logger // required
	Metrics  io.Writer    // EMF lines (standard output in Lambda); nil: none
}

// Handle ingests ev's records and reports, as a partial batch response,
// the first record that was not done (none when all were). The error is
// always nil: a failure is reported through the response, so that the
// records before it are not delivered again.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	chunk := h.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	// An empty list, not null: "no failures" in so many words.
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	var done ingest.Counts
	for start := 0; start < len(ev.Records); start += chunk {
		recs := ev.Records[start:min(start+chunk, len(ev.Records))]
		first := recs[0].Kinesis.SequenceNumber
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < Reserve {
			h.Log.WarnContext(ctx, "time is short: the rest of the batch comes again",
				"first_sequence_number", first, "records_left", len(ev.Records)-start)
			resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: first}}
			break
		}
		raws := make([]ingest.Raw, len(recs))
		for i, r := range recs {
			raws[i] = ingest.Raw{Source: r.EventID, Data: r.Kinesis.Data}
		}
		c, err := h.Ingester.Ingest(ctx, raws)
		if err != nil {
			h.Log.ErrorContext(ctx, "ingest failed: the rest of the batch comes again", "error", err.Error(),
				"event_source_arn", recs[0].EventSourceArn, "first_sequence_number", first, "records_left", len(ev.Records)-start)
			resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: first}}
			break
		}
		done.Add(c)
	}
	h.Log.InfoContext(ctx, "ingested", "records", done.Records, "stored", done.Stored,
		"skipped_method", done.SkippedMethod, "skipped_route", done.SkippedRoute, "skipped_near_miss", done.SkippedNearMiss, "rejected", done.Rejected,
		"batch", len(ev.Records), "failed_from", failedFrom(resp))
	if h.Metrics != nil {
		err := metrics.Write(h.Metrics, time.Now(), map[string]int64{
			metrics.IngestRecords: int64(done.Records), metrics.IngestStored: int64(done.Stored),
			metrics.IngestSkippedMethod: int64(done.SkippedMethod), metrics.IngestSkippedRoute: int64(done.SkippedRoute), metrics.IngestSkippedNearMiss: int64(done.SkippedNearMiss),
			metrics.IngestRejected: int64(done.Rejected), metrics.IngestBatchFailures: int64(len(resp.BatchItemFailures)),
		}, nil)
		if err != nil {
			h.Log.ErrorContext(ctx, "write metrics", "error", err.Error())
		}
	}
	return resp, nil
}

func failedFrom(r events.KinesisEventResponse) string {
	if len(r.BatchItemFailures) == 0 {
		return ""
	}
	return r.BatchItemFailures[0].ItemIdentifier
}
