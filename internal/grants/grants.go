// Package grants is the one description of what each identity of the
// service may do in AWS: the roles of the four Lambda functions and the
// operators' policy (auditctl). Every statement is written out by hand,
// one action list on the resources it needs and nothing more, and names
// its resources symbolically (a Resource), so that two renderers can turn
// it into policies: the CDK stack (infra/stack) into the functions' role
// policies and the operators' managed policy, and the local stack
// (internal/localstack) into the inline policies of the IAM users that the
// functions and the CLI run as on an authenticating moto. A permission the
// stack does not grant is therefore missing locally too.
//
// The package is a leaf: it imports nothing of the service, so that the
// stack does not link the functions' code to learn their permissions.
package grants

import (
	"fmt"
	"slices"
)

// Identity is who acts: a function (its folder under functions/) or the
// operators.
type Identity string

// The identities.
const (
	Export   Identity = "export"
	Retry    Identity = "retry"
	FanOut   Identity = "fanout"
	Ingest   Identity = "ingest"
	Compact  Identity = "compact"
	Operator Identity = "operator"
)

// Functions are the identities that are Lambda functions, in the order the
// stack creates them.
var Functions = []Identity{FanOut, Export, Retry, Ingest, Compact}

// Identities are all of them.
var Identities = append(slices.Clone(Functions), Operator)

// Name is a resource of the stack.
type Name string

// The resources statements name.
const (
	EventsTable       Name = "events-table"        // the log store
	RegistryTable     Name = "registry-table"      // the destinations
	LedgerTable       Name = "ledger-table"        // the delivery ledger
	SASKeys           Name = "sas-keys"            // every residency's SAS decryption key
	ExportFn          Name = "export-function"     // the export function
	ExportFailures    Name = "export-failures"     // the retry queue
	ExportFailuresDLQ Name = "export-failures-dlq" // its dead-letter queue
	FanOutFailures    Name = "fanout-failures"     // the fan-out's on-failure queue
	IngestFailures    Name = "ingest-failures"     // the ingest's on-failure queue
	RequestLogs       Name = "request-logs"        // the Kinesis stream of API request logs
	RejectsBucket     Name = "rejects-bucket"      // rejected request-log records
	LakeBucket        Name = "lake-bucket"         // the log store: the S3 data lake (internal/lake)
	LakeStream        Name = "lake-stream"         // the Firehose stream that writes the lake's raw objects
	// LogGroup is the acting function's own log group.
	LogGroup Name = "own-log-group"
	// CustomerRoles are roles in any account: customers' roles live in
	// their own accounts under names they choose, and their trust policies
	// require the org ID as external ID, which we always send.
	CustomerRoles Name = "customer-roles"
	// OwnAccountRoles are the roles of the account the service runs in,
	// which a delivery must never assume (a destination naming one of our
	// own roles, whose trust may name our account root).
	OwnAccountRoles Name = "own-account-roles"
)

// Resource is a resource, or a part of it: Path is appended to its ARN
// ("/index/by_time", "/rejects/*").
type Resource struct {
	Name Name
	Path string
}

// Effect of a statement.
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string
	Effect    Effect
	Actions   []string
	Resources []Resource
	// Condition, when set: operator, then key, then value, as in a
	// policy document.
	Condition map[string]map[string]string
}

// RejectsPrefix is where the ingest writes rejected records in the
// rejects bucket (AUDITLOG_REJECTS_PREFIX), the only part of it the
// ingest may write.
const RejectsPrefix = "rejects/"

// ByTimeIndex is the log store's index that the export queries
// (dynamostore.IndexByTime; a test checks they agree).
const ByTimeIndex = "by_time"

// ShardCountKey is the partition key of the log store's own record of
// its shard count (dynamostore.MetaPK; a test checks they agree): the only
// item of the table that GetItem and PutItem may reach.
const ShardCountKey = "#meta"

// onShardCount is the condition that keeps an action on the log store to
// its shard-count record, away from every org-day's items.
var onShardCount = map[string]map[string]string{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ShardCountKey}}

// readShardCount: the first read of a process checks the log store's
// shard count (dynamostore).
var readShardCount = Statement{Sid: "ReadShardCount", Effect: Allow, Actions: []string{"dynamodb:GetItem"}, Resources: on(EventsTable), Condition: onShardCount}

// recordShardCount: the first write of a process checks the shard count
// and records it if the table has none.
var recordShardCount = Statement{Sid: "RecordShardCount", Effect: Allow, Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem"}, Resources: on(EventsTable), Condition: onShardCount}

// The lake's prefixes (internal/lake; a test checks they agree): raw
// objects (Firehose writes them, compaction reads them), compacted
// org-days and their manifests (compaction writes them, the export reads
// them), and the delivered files that compaction prepares (the export
// copies them).
const (
	LakeRawPrefix       = "raw/"
	LakeOrgDayPrefix    = "lake/"
	LakeManifestsPrefix = "lake/manifests/"
	LakeExportPrefix    = "export/"
)

// lakePath is the objects of the lake bucket under prefix.
func lakePath(prefix string) Resource { return Resource{Name: LakeBucket, Path: "/" + prefix + "*"} }

// listLake lets ListObjectsV2 of the lake bucket see the keys under
// prefix only. The reads need it for the manifests: without s3:ListBucket,
// S3 answers a missing key with 403 AccessDenied, and "not compacted yet"
// (a manifest that does not exist, a transient failure) would read as a
// permission error.
func listLake(sid, prefix string) Statement {
	return Statement{Sid: sid, Effect: Allow, Actions: []string{"s3:ListBucket"}, Resources: on(LakeBucket),
		Condition: map[string]map[string]string{"StringLike": {"s3:prefix": prefix + "*"}}}
}

// readLake reads an org-day (lakestore): its bucket-day's manifest, the
// org-day object and the delivered file beside it; nothing of raw/.
var readLake = []Statement{
	allow("ReadLake", []string{"s3:GetObject"}, lakePath(LakeOrgDayPrefix), lakePath(LakeExportPrefix)),
	listLake("FindManifests", LakeManifestsPrefix),
}

// DecryptAlgorithm is the only algorithm a SAS cipher may be decrypted
// with (sas.Algorithm; a test checks they agree).
const DecryptAlgorithm = "RSAES_OAEP_SHA_256"

func on(names ...Name) []Resource {
	rs := make([]Resource, len(names))
	for i, n := range names {
		rs[i] = Resource{Name: n}
	}
	return rs
}

func allow(sid string, actions []string, rs ...Resource) Statement {
	return Statement{Sid: sid, Effect: Allow, Actions: actions, Resources: rs}
}

// writeOwnLogs: the functions' log groups are the stack's, so no
// logs:CreateLogGroup.
var writeOwnLogs = allow("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource{Name: LogGroup})

// assumeCustomerRoles is what reaching an S3 destination needs: any role,
// except this account's own.
var assumeCustomerRoles = []Statement{
	allow("AssumeCustomerRoles", []string{"sts:AssumeRole"}, on(CustomerRoles)...),
	{Sid: "DenyOwnAccountRoles", Effect: Deny, Actions: []string{"sts:AssumeRole"}, Resources: on(OwnAccountRoles)},
}

// queryLogStore reads an org-day (dynamostore's Query on the by-time
// index).
var queryLogStore = allow("QueryLogStore", []string{"dynamodb:Query"},
	Resource{Name: EventsTable}, Resource{Name: EventsTable, Path: "/index/" + ByTimeIndex})

// delivery is what running an export needs: assume customers' roles,
// decrypt SAS ciphers, read the destination (registry.Get), record what
// decrypting its SAS URL tells (registry.RecordSASExpiry: one attribute,
// conditional on the cipher; registry.RecordSASContainer, for a
// destination that does not hold its storage account and container yet:
// a TransactWriteItems of UpdateItems only, conditional on the cipher and
// the claim's version, which DynamoDB authorizes action by action, with
// the claim read by GetItem: so no PutItem or DeleteItem), query the log
// store, and record the delivery in the ledger (ledger.Begin/Finish/Fail,
// all UpdateItem).
func delivery() []Statement {
	return append(slices.Clone(assumeCustomerRoles),
		allow("DecryptSasCiphers", []string{"kms:Decrypt"}, on(SASKeys)...),
		allow("ReadDestination", []string{"dynamodb:GetItem"}, on(RegistryTable)...),
		allow("RecordSasExpiryAndContainer", []string{"dynamodb:UpdateItem"}, on(RegistryTable)...),
		queryLogStore,
		readShardCount,
		readLake[0], readLake[1],
		allow("RecordDelivery", []string{"dynamodb:UpdateItem"}, on(LedgerTable)...),
	)
}

// For returns the statements of an identity's policy. It panics on an
// unknown identity (a programming error: the identities are constants).
func For(id Identity) []Statement {
	switch id {
	case Export:
		return append(append([]Statement{writeOwnLogs}, delivery()...),
			// Failed asynchronous exports reach the retry queue as the
			// function's on-failure destination, sent with its role.
			allow("SendToFailureQueue", []string{"sqs:SendMessage"}, on(ExportFailures)...))
	case Retry:
		return append(append([]Statement{writeOwnLogs}, delivery()...),
			// The event source mapping polls with these; the handler sets
			// each failed message's backoff with ChangeMessageVisibility.
			allow("ConsumeRetryQueue", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}, on(ExportFailures)...))
	case FanOut:
		return []Statement{
			writeOwnLogs,
			allow("ScanDestinations", []string{"dynamodb:Scan"}, on(RegistryTable)...),
			// The catch-up reads the last days of each org (ledger.Days).
			allow("QueryLedger", []string{"dynamodb:Query"}, on(LedgerTable)...),
			allow("InvokeExport", []string{"lambda:InvokeFunction"}, on(ExportFn)...),
			allow("SendToFailureQueue", []string{"sqs:SendMessage"}, on(FanOutFailures)...),
		}
	case Ingest:
		return []Statement{
			writeOwnLogs,
			// What the Kinesis event source mapping calls on the role's behalf.
			allow("ReadRequestLogs", []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
				"kinesis:GetShardIterator", "kinesis:ListShards"}, on(RequestLogs)...),
			allow("SendToFailureQueue", []string{"sqs:SendMessage"}, on(IngestFailures)...),
			// dynamostore.Store.Write (no read, no delete), ledger.NoteLate,
			// s3rejects.Sink (under the prefix only).
			allow("WriteLogStore", []string{"dynamodb:BatchWriteItem"}, on(EventsTable)...),
			recordShardCount,
			// firehosewriter: the raw records of the lake, through the
			// stream, which alone writes raw/.
			allow("WriteRawRecords", []string{"firehose:PutRecordBatch"}, on(LakeStream)...),
			allow("NoteLateEvents", []string{"dynamodb:UpdateItem"}, on(LedgerTable)...),
			allow("WriteRejects", []string{"s3:PutObject"}, Resource{Name: RejectsBucket, Path: "/" + RejectsPrefix + "*"}),
		}
	case Compact:
		// compaction.Compactor: list and read a bucket-day's raw objects
		// and what earlier compactions wrote; write org-days, their
		// delivered files and the manifest (each whole: PutObject, or a
		// multipart upload that is aborted on failure); mark changed
		// org-days stale (ledger.MarkStale, an UpdateItem). It deletes
		// nothing: raw objects expire by the bucket's lifecycle.
		return compact()
	case Operator:
		return operator()
	}
	panic(fmt.Sprintf("grants: unknown identity %q", id))
}

func compact() []Statement {
	return []Statement{
		writeOwnLogs,
		listLake("ListRawObjects", LakeRawPrefix),
		listLake("FindManifests", LakeManifestsPrefix),
		allow("ReadRawAndCompacted", []string{"s3:GetObject"}, lakePath(LakeRawPrefix), lakePath(LakeOrgDayPrefix)),
		allow("WriteCompacted", []string{"s3:PutObject", "s3:AbortMultipartUpload"}, lakePath(LakeOrgDayPrefix), lakePath(LakeExportPrefix)),
		allow("MarkStale", []string{"dynamodb:UpdateItem"}, on(LedgerTable)...),
	}
}

// operator is what auditctl needs against a deployment, command by
// command (docs/operations.md): nothing to delete but a destination,
// nothing of the customers' storage but through their roles.
func operator() []Statement {
	return append(slices.Clone(assumeCustomerRoles), // verify, export, backfill; put checks the role
		// destination put|get|list|enable|disable|delete, status.
		allow("ManageDestinations", []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"}, on(RegistryTable)...),
		// status; export and backfill take the lease and record the
		// outcome; events load and ingest note late days.
		allow("ReadAndRecordDeliveries", []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}, on(LedgerTable)...),
		// export and backfill read an org-day.
		queryLogStore,
		// events load, ingest and ingest replay store events (and check
		// the shard count, which export and backfill read).
		allow("WriteLogStore", []string{"dynamodb:BatchWriteItem"}, on(EventsTable)...),
		recordShardCount,
		// The lake: export and backfill read it; events load, ingest and
		// ingest replay write raw objects straight into raw/ (the direct
		// writer, with no stream) or through the stream; compact runs the
		// compaction in process, with its permissions.
		readLake[0],
		allow("WriteRawObjects", []string{"s3:PutObject", "s3:AbortMultipartUpload"}, lakePath(LakeRawPrefix)),
		allow("WriteRawRecords", []string{"firehose:PutRecordBatch"}, on(LakeStream)...),
		listLake("ListLake", ""),
		allow("ReadRawObjects", []string{"s3:GetObject"}, lakePath(LakeRawPrefix)),
		allow("WriteCompacted", []string{"s3:PutObject", "s3:AbortMultipartUpload"}, lakePath(LakeOrgDayPrefix), lakePath(LakeExportPrefix)),
		// keys public, sas encrypt, encrypt-page read the public keys;
		// destination put and verify check a cipher by decrypting it (the
		// key policy must also name the operator: KeyOperatorArns).
		allow("ReadPublicKeys", []string{"kms:GetPublicKey", "kms:DescribeKey"}, on(SASKeys)...),
		Statement{Sid: "CheckSasCiphers", Effect: Allow, Actions: []string{"kms:Decrypt"}, Resources: on(SASKeys),
			Condition: map[string]map[string]string{"StringEquals": {"kms:EncryptionAlgorithm": DecryptAlgorithm}}},
		// run: the fan-out's invocations.
		allow("InvokeExport", []string{"lambda:InvokeFunction"}, on(ExportFn)...),
		// redrive: from the dead-letter queue back to the retry queue.
		allow("RedriveReceive", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage"}, on(ExportFailuresDLQ)...),
		allow("RedriveSend", []string{"sqs:SendMessage"}, on(ExportFailures)...),
		// ingest replay: the on-failure records, then the batches they
		// name, read back from the stream.
		allow("ReplayFailures", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, on(IngestFailures)...),
		allow("ReplayRequestLogs", []string{"kinesis:GetShardIterator", "kinesis:GetRecords"}, on(RequestLogs)...),
	)
}
