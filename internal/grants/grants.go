// Package grants is the one description of what each identity of the
// service may do in AWS: the roles of the Lambda functions and the
// operators' policy (auditctl). Every statement is written out by hand,
// one action list on the resources it needs and nothing more, and names
// its resources symbolically (a Resource), so that two renderers can turn
// it into policies: the CDK stack (infra/stack) into the functions' role
// policies and the operators' managed policy, and the local stack
// (internal/localstack) into the inline policies of the IAM users that the
// functions and the CLI run as on an authenticating moto. A permission the
// stack does not grant is therefore missing locally too.
//
// The log store is the S3 data lake, the CDK stack's and the local
// stack's alike: the export and retry read it, the ingest writes it
// through the Firehose stream (and so does the HTTP API, the audit events
// of its own changes), the compaction function compacts it. The
// Firehose stream's and the compaction state machine's roles belong to
// AWS services, not to our code, and are the stack's own.
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
	Operator Identity = "operator"
	// Compact is the compaction function, which the compaction state
	// machine runs once per org bucket.
	Compact Identity = "compact"
	// API is the self-service HTTP API's function, behind API Gateway.
	API Identity = "api"
)

// Functions are the identities that are Lambda functions, in the order
// the stack creates them.
var Functions = []Identity{FanOut, Export, Retry, Ingest, Compact, API}

// Identities are all of them: the functions and the operators (the local
// stack creates a user for each).
var Identities = append(slices.Clone(Functions), Operator)

// Name is a resource of the stack.
type Name string

// The resources statements name.
const (
	RegistryTable     Name = "registry-table"      // the destinations
	LedgerTable       Name = "ledger-table"        // the delivery ledger
	SASKeys           Name = "sas-keys"            // every residency's SAS decryption key
	SigningKey        Name = "signing-key"         // the key that signs delivered files' manifests
	ExportFn          Name = "export-function"     // the export function
	ExportFailures    Name = "export-failures"     // the retry queue
	ExportFailuresDLQ Name = "export-failures-dlq" // its dead-letter queue
	FanOutFailures    Name = "fanout-failures"     // the fan-out's on-failure queue
	IngestFailures    Name = "ingest-failures"     // the ingest's on-failure queue
	RequestLogs       Name = "request-logs"        // the Kinesis stream of API request logs
	RejectsBucket     Name = "rejects-bucket"      // rejected request-log records
	LakeBucket        Name = "lake-bucket"         // the S3 data lake: the log store
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
// ("/lake/*", "/rejects/*").
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

// The lake's prefixes (lake.RawPrefix, lake.LakePrefix, lake.ExportPrefix;
// a test checks they agree): raw objects, which Firehose writes and
// compaction reads; the org-day objects and manifests, which compaction
// writes and the export reads; the delivered files, likewise.
const (
	LakeRawPrefix    = "raw/"
	LakeOrgDayPrefix = "lake/"
	LakeExportPrefix = "export/"
)

// DecryptAlgorithm is the only algorithm a SAS cipher may be decrypted
// with (sas.Algorithm; a test checks they agree).
const DecryptAlgorithm = "RSAES_OAEP_SHA_256"

// SigningAlgorithm is the only algorithm the signing key may sign with,
// and SigningMessageType the only kind of message: a SHA-256 digest
// computed by the signer (signing.Algorithm and what signing.Signer sends;
// a test checks they agree).
const (
	SigningAlgorithm   = "RSASSA_PKCS1_V1_5_SHA_256"
	SigningMessageType = "DIGEST"
)

// SigningCondition is the condition of every kms:Sign: the key policy's
// (infra/stack) and the delivering roles'.
var SigningCondition = map[string]map[string]string{"StringEquals": {"kms:SigningAlgorithm": SigningAlgorithm, "kms:MessageType": SigningMessageType}}

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

// objects are the lake's objects under prefix.
func objects(prefix string) Resource { return Resource{Name: LakeBucket, Path: "/" + prefix + "*"} }

// listUnder lets s3:ListBucket list the lake under prefix only. It is
// also what makes a GetObject of a missing key under prefix answer
// NoSuchKey (404) rather than AccessDenied (403): S3 tells a caller that a
// key does not exist only if it may list it, checking s3:prefix against
// the key. The lake's readers depend on that: a missing manifest is a
// bucket-day not compacted yet, a missing delivered file one that expired
// (lakestore), a missing manifest for compaction the first one.
func listUnder(sid, prefix string) Statement {
	return Statement{Sid: sid, Effect: Allow, Actions: []string{"s3:ListBucket"}, Resources: on(LakeBucket),
		Condition: map[string]map[string]string{"StringLike": {"s3:prefix": prefix + "*"}}}
}

// readLake is what lakestore reads of an org-day: the bucket-day's
// manifest and the org-day's object under lake/, its delivered file under
// export/; nothing of raw/, nothing written.
var readLake = []Statement{
	allow("ReadLake", []string{"s3:GetObject"}, objects(LakeOrgDayPrefix), objects(LakeExportPrefix)),
	listUnder("ListLake", LakeOrgDayPrefix),
	listUnder("ListExportFiles", LakeExportPrefix),
}

// writeRawRecords is what storing events needs of the store: the lake's
// Firehose writer (PutRecordBatch on the one stream; Firehose, not the
// writer, puts the raw objects).
var writeRawRecords = allow("WriteRawRecords", []string{"firehose:PutRecordBatch"}, on(LakeStream)...)

// compaction is what compaction.Compactor does to the lake (through
// objstore/s3obj): list a bucket-day's raw objects; read them, the
// previous manifest and the org-day objects it names; write the org-day
// objects, the delivered files and the manifest (PutObject, or a
// multipart upload, which S3 authorizes as PutObject, aborted on failure).
// Nothing is deleted: raw objects expire by the lake's lifecycle rules.
var compaction = []Statement{
	listUnder("ListRawObjects", LakeRawPrefix),
	listUnder("ListLake", LakeOrgDayPrefix),
	allow("ReadRawAndLake", []string{"s3:GetObject"}, objects(LakeRawPrefix), objects(LakeOrgDayPrefix)),
	allow("WriteLakeAndExport", []string{"s3:PutObject", "s3:AbortMultipartUpload"}, objects(LakeOrgDayPrefix), objects(LakeExportPrefix)),
}

// delivery is what running an export needs: assume customers' roles,
// decrypt SAS ciphers, sign the manifests of the files it delivers (and
// read the signing key's public half, which the signer checks each
// signature against), read the destination (registry.Get), record what
// decrypting its SAS URL tells (registry.RecordSASExpiry: one attribute,
// conditional on the cipher; registry.RecordSASContainer, for a
// destination that does not hold its storage account and container yet:
// a TransactWriteItems of UpdateItems only, conditional on the cipher and
// the claim's version, which DynamoDB authorizes action by action, with
// the claim read by GetItem: so no PutItem or DeleteItem), read the log
// store (readLake), and record the delivery in the ledger
// (ledger.Begin/Finish/Fail, all UpdateItem, and ledger.Head, a GetItem).
func delivery() []Statement {
	sts := append(slices.Clone(assumeCustomerRoles),
		allow("DecryptSasCiphers", []string{"kms:Decrypt"}, on(SASKeys)...),
		Statement{Sid: "SignManifests", Effect: Allow, Actions: []string{"kms:Sign"}, Resources: on(SigningKey), Condition: SigningCondition},
		allow("ReadSigningKey", []string{"kms:GetPublicKey", "kms:DescribeKey"}, on(SigningKey)...),
		allow("ReadDestination", []string{"dynamodb:GetItem"}, on(RegistryTable)...),
		allow("RecordSasExpiryAndContainer", []string{"dynamodb:UpdateItem"}, on(RegistryTable)...),
	)
	sts = append(sts, readLake...)
	// ledger.Finish is an UpdateItem, or with a manifest a
	// TransactWriteItems of two UpdateItems (the org-day and the org's
	// chain head), which DynamoDB authorizes as UpdateItems; ledger.Head
	// reads the chain head with GetItem.
	return append(sts, allow("RecordDelivery", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, on(LedgerTable)...))
}

// For returns the statements of an identity's policy: the CDK stack's and
// the local stack's. It panics on an unknown identity (a programming
// error: they are constants).
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
		sts := []Statement{
			writeOwnLogs,
			// What the Kinesis event source mapping calls on the role's behalf.
			allow("ReadRequestLogs", []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
				"kinesis:GetShardIterator", "kinesis:ListShards"}, on(RequestLogs)...),
			allow("SendToFailureQueue", []string{"sqs:SendMessage"}, on(IngestFailures)...),
		}
		// The store's writer, ledger.NoteLate, s3rejects.Sink (under the
		// prefix only).
		return append(sts, writeRawRecords,
			allow("NoteLateEvents", []string{"dynamodb:UpdateItem"}, on(LedgerTable)...),
			allow("WriteRejects", []string{"s3:PutObject"}, Resource{Name: RejectsBucket, Path: "/" + RejectsPrefix + "*"}))
	case Compact:
		// Late events mark the org-days they change stale
		// (ledger.MarkStale: one UpdateItem, if the entry exists).
		return append(append([]Statement{writeOwnLogs}, compaction...),
			allow("MarkStale", []string{"dynamodb:UpdateItem"}, on(LedgerTable)...))
	case API:
		return api()
	case Operator:
		return operator()
	}
	panic(fmt.Sprintf("grants: unknown identity %q", id))
}

// checkSASCiphers decrypts a SAS cipher to check it, with the one
// algorithm a cipher is made with.
var checkSASCiphers = Statement{Sid: "CheckSasCiphers", Effect: Allow, Actions: []string{"kms:Decrypt"}, Resources: on(SASKeys),
	Condition: map[string]map[string]string{"StringEquals": {"kms:EncryptionAlgorithm": DecryptAlgorithm}}}

// api is what the self-service HTTP API does on a customer's behalf,
// route by route (internal/api): GET /v1/keys reads the public keys (the
// signing key's too: it never signs); PUT checks the destination as
// `auditctl destination put` does (assumes the customer's role, or
// decrypts the cipher) and stores it with registry.PutShared (a GetItem
// of the destination and of the container's claims, then a
// TransactWriteItems of UpdateItems, which DynamoDB authorizes item by
// item: no PutItem); DELETE is registry.DeleteExisting (the same reads,
// then UpdateItems of the claim and a DeleteItem); pause and resume are
// registry.SetEnabled (UpdateItem); verify checks as the export opens
// (and records what the SAS tells, UpdateItem); deliveries reads the
// ledger (ledger.Days, a Query, and GetItem); redeliver invokes the
// export; and each change is written as an audit event to the log store,
// through the lake's stream as the ingest writes. Nothing scans the
// registry, reads the lake or changes the ledger.
func api() []Statement {
	sts := append([]Statement{writeOwnLogs}, assumeCustomerRoles...)
	return append(sts,
		allow("ManageDestinations", []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, on(RegistryTable)...),
		allow("ReadDeliveries", []string{"dynamodb:GetItem", "dynamodb:Query"}, on(LedgerTable)...),
		allow("ReadPublicKeys", []string{"kms:GetPublicKey", "kms:DescribeKey"}, on(SASKeys, SigningKey)...),
		checkSASCiphers,
		allow("InvokeExport", []string{"lambda:InvokeFunction"}, on(ExportFn)...),
		writeRawRecords,
	)
}

// operator is what auditctl needs against a deployment, command by
// command (docs/operations.md): nothing to delete but a destination,
// nothing of the customers' storage but through their roles.
func operator() []Statement {
	sts := append(slices.Clone(assumeCustomerRoles), // verify, export, backfill; put checks the role
		// destination put|get|list|enable|disable|delete, status.
		allow("ManageDestinations", []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"}, on(RegistryTable)...),
		// status; export and backfill take the lease and record the
		// outcome; events load and ingest note late days; compact marks
		// org-days stale.
		allow("ReadAndRecordDeliveries", []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}, on(LedgerTable)...))
	// export and backfill read an org-day.
	sts = append(sts, readLake...)
	// events load, ingest and ingest replay store events, through the
	// stream (AUDITLOG_LAKE_STREAM).
	sts = append(sts, writeRawRecords)
	// compact runs the compaction in process: what the compaction
	// function may do to the lake (ListLake and the ledger are above).
	for _, st := range compaction {
		if st.Sid != "ListLake" {
			sts = append(sts, st)
		}
	}
	return append(sts,
		// keys public, sas encrypt, encrypt-page read the public keys
		// (keys public --purpose signing the signing key's: never
		// kms:Sign, which only the delivering functions have);
		// destination put and verify check a cipher by decrypting it (the
		// key policy must also name the operator: KeyOperatorArns).
		allow("ReadPublicKeys", []string{"kms:GetPublicKey", "kms:DescribeKey"}, on(SASKeys, SigningKey)...),
		checkSASCiphers,
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
