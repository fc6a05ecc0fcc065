package metrics

// The names of the service's metrics in Namespace: every metric a
// function writes (with Write) is named here, so that the function that
// counts and the stack that alarms (infra/stack) share one constant and
// neither imports the other. All are counts without dimensions.

// Written by the fan-out (internal/fanoutfn) once per run, after a whole
// scan of the registry; the stack alarms on each when it is above 0, over
// a day.
const (
	// SASExpiringSoon is the number of enabled Azure destinations whose
	// SAS URL expires within destination.SASWarnBefore or has expired
	// (alarm sas-expiring-soon).
	SASExpiringSoon = "SASExpiringSoon"
	// InvalidRegistryItems is the number of registry items the run
	// skipped because they are not valid destinations: their orgs are not
	// delivered (alarm invalid-registry-items).
	InvalidRegistryItems = "InvalidRegistryItems"
)

// Written by the ingest (internal/ingestfn) once per Kinesis batch, each
// the count of the batch's records in that state.
const (
	// IngestRecords is the records read.
	IngestRecords = "IngestRecords"
	// IngestStored is the audit events stored in the log store.
	IngestStored = "IngestStored"
	// IngestSkippedMethod is the records of a method that is not audited.
	IngestSkippedMethod = "IngestSkippedMethod"
	// IngestSkippedRoute is the records of a path no audited route
	// matches.
	IngestSkippedRoute = "IngestSkippedRoute"
	// IngestSkippedNearMiss is the audited requests on paths that match an
	// audited route only when case is ignored (ingest.SkippedNearMiss):
	// not stored, and perhaps changes that are not audited. The stack
	// alarms on it (ingest-near-miss).
	IngestSkippedNearMiss = "IngestSkippedNearMiss"
	// IngestRejected is the malformed records, written to the rejects
	// bucket. The stack alarms on it (ingest-rejected).
	IngestRejected = "IngestRejected"
	// IngestBatchFailures is 1 when the batch was reported back in part
	// (a partial batch response), else 0.
	IngestBatchFailures = "IngestBatchFailures"
)

// Written by the retry function (internal/retryfn), 1 per export it ran
// again that failed.
const (
	// PermanentFailures counts the exports that failed for a reason no
	// retry fixes (the customer's role, bucket, container or SAS URL).
	// The stack alarms on it (permanent-failures).
	PermanentFailures = "PermanentFailures"
	// TransientFailures counts the exports that failed transiently and
	// were handed back to the retry queue with a backoff.
	TransientFailures = "TransientFailures"
)
