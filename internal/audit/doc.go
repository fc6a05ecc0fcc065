// Package audit holds the normalized audit event, the UTC day that groups
// events into one delivery, and the NDJSON wire format of an event.
//
// An Event carries the ten columns of the delivered CSV plus the org it
// belongs to and the request ID that makes it unique. Everything that moves
// events between components (ingest, the log store, tests, local runs)
// speaks this one model, so validation lives here and nowhere else.
package audit
