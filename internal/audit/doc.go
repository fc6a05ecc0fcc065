// Package audit holds the normalized audit event, the UTC day that groups
// events into one delivery, and the NDJSON wire format of an event.
//
// An Event carries the ten columns of the delivered CSV plus the org it
// belongs to and the request ID that makes it unique. Everything that moves
// events between components (ingest, the log store, tests, local runs)
// speaks this one model, so validation lives here and nowhere else.
//
// Nearly every package imports audit, so it stays near the bottom: of this
// module it imports only internal/redact (Normalize redacts an event's
// query, referrer and path), which imports only internal/percent. It must
// not import a store, a sink, the ingest or the AWS SDK.
package audit
