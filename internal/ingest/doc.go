// Package ingest turns the platform's API request logs into audit events in
// the log store.
//
// One request-log record is one JSON object (one Kinesis record, or one
// NDJSON line for `auditctl ingest`); its format is documented in
// docs/ingest-format.md. Ingesting a record takes three steps:
//
//  1. [Parse] reads the record strictly: known keys must have the right JSON
//     type, required keys must be present, values must keep the limits of
//     audit.Event (the same as docs/event-format.md), and the request time
//     must be possible (from the year 2000 to five minutes after now).
//     Unknown keys are tolerated and ignored, since the platform may add
//     some; a key given twice is an error. Invalid UTF-8 inside a string
//     becomes U+FFFD, as audit.Event.Normalize does. A bad record is a
//     *audit.FieldError naming the field, the value and the reason.
//  2. [Config.Classify] decides what the record is: an audited request to
//     store (its method is PUT, PATCH or DELETE, and POST when
//     Config.IncludePOST is set, and its path matches a route of
//     internal/routes), a request whose method is not audited (GET, HEAD,
//     OPTIONS, and POST by default), a request on a path that is no audited
//     route, a near miss (a path that matches a route only when case is
//     ignored: counted apart, since it may be an unaudited change), or a
//     rejected record. Paths are matched in their canonical form
//     (routes.Canonical). The event's route is the matched template and
//     its space the canonical path's space_id segment: a record's own
//     "space" or "route" keys, if any, are ignored. The path is stored as
//     sent, so an environment alias ("master") stays the alias. The
//     event is normalized, its credentials redacted (internal/redact,
//     audit.Event.Normalize): no token reaches the store.
//  3. [Ingester.Ingest] classifies a batch, writes the events to the log
//     store (logstore.Writer) in batches, hands every rejected record with
//     its reason to a [RejectSink] and counts the rest.
//
// Of this module ingest imports audit, logstore (the Writer interface),
// redact and routes. It must not import a log store provider, internal/app,
// the AWS SDK or a Lambda package: the adapters import it, the Lambda
// handler (internal/ingestfn), the S3 reject sink (ingest/s3rejects) and
// the replay (ingest/replay), and internal/app wires it to the store.
//
// # Idempotency
//
// The log store's key is the identity of an event: (org, UTC day of the
// request time, request ID). A record delivered twice (a Kinesis retry, a
// file ingested again) reaches the lake twice, and compaction keeps one
// copy of each request ID of a bucket-day, so it yields one event. This
// holds as long as the platform keeps a request's time: the same request
// ID with a time on another day would be stored in both days (see
// docs/lake.md).
//
// Retries are the store's job: the lake's Firehose writer sends the
// records Firehose refused again, with backoff (a bounded number of
// times), and the SDK retries throttled and failed calls. When Ingest
// returns an error, some events may be stored already; ingesting the
// batch again is safe.
//
// # Rejected records
//
// A rejected record goes to the RejectSink with its source (file and line,
// or shard and sequence number), the field, the value, the reason and the
// record itself, its credentials redacted (redactRecord: the record may not
// be JSON). Rejects are delivered at least once: a batch that is
// retried after a store error sends its rejects again, with the same
// source, so duplicates can be recognized.
//
// This package has an in-memory sink ([MemorySink], tests) and a JSON Lines
// writer ([JSONLSink], the CLI). In production we recommend an S3 prefix in
// the service's own account (for example
// s3://<ingest-bucket>/rejects/<YYYY-MM-DD>/<shard>-<first sequence>.jsonl,
// one object per Lambda batch with rejects), with a lifecycle rule that
// expires it after the log store's retention, plus a CloudWatch metric on
// the rejected count with an alarm: records are up to 1 MiB (the Kinesis
// limit), a batch's rejects are written in one PutObject, nothing has to be
// consumed for the stream to move on, and the objects can be replayed with
// `auditctl ingest` once the cause is fixed. An SQS queue would suit an
// automatic redrive, which rejects do not have: a rejected record stays
// rejected until the platform or this code changes.
package ingest
