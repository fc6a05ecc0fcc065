package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registry"
)

// Storage is the stack's data besides the log store (the lake, lake.go):
// the destination registry and the delivery ledger (DynamoDB); the Kinesis
// stream of API request logs that the platform writes and the ingest
// function reads; and the bucket of the records the ingest rejects.
type Storage struct {
	RegistryTable, LedgerTable awsdynamodb.Table
	RequestLogs                awskinesis.Stream
	Rejects                    awss3.Bucket
}

// requestLogRetention is how long the stream keeps a record: a week,
// so that an ingest outage of days loses nothing and an operator can
// read a batch the ingest gave up on back from the stream.
const requestLogRetention = 7 * 24 * time.Hour

// tables builds the registry and the ledger: the log store is the lake,
// with no table of its own. A stack deployed with the former DynamoDB log
// store leaves that table in the account (it was retained, with deletion
// protection on) until an operator deletes it (docs/deploy.md).
func (s *Stack) tables() {
	st := s.Stack
	s.RegistryTable = newTable(st, "RegistryTable", registry.AttrOrgID, "")
	s.LedgerTable = newTable(st, "LedgerTable", ledger.AttrOrgID, ledger.AttrDay)
}

// requestLogStorage builds the request-log stream and the rejects bucket.
func (s *Stack) requestLogStorage(name func(string) *string) {
	st, p := s.Stack, s.Props
	// On-demand capacity follows the platform's traffic; the AWS-managed
	// key (aws/kinesis) encrypts at rest without a key policy to keep.
	s.RequestLogs = awskinesis.NewStream(st, jsii.String("RequestLogs"), &awskinesis.StreamProps{
		StreamName:      name("request-logs"),
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(requestLogRetention.Hours())),
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	// Rejected records hold request data: private, encrypted, TLS only,
	// kept as long as the log store keeps events.
	s.Rejects = privateBucket(st, "Rejects", &awss3.LifecycleRule{
		Id:         jsii.String("expire-rejects"),
		Expiration: awscdk.Duration_Days(jsii.Number(float64(p.LogStoreRetentionDays))),
	})
}

// privateBucket is every bucket of ours, as each holds audit events or
// request data: public access blocked, SSE-S3, TLS only, objects owned by
// the bucket (no ACLs), kept when removed from the stack; rules are its
// lifecycle.
func privateBucket(scope constructs.Construct, id string, rules ...*awss3.LifecycleRule) awss3.Bucket {
	return awss3.NewBucket(scope, jsii.String(id), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:    &rules,
	})
}

// newTable is a table of on-demand billing, point-in-time recovery,
// deletion protection, encryption with the AWS-managed key (aws/dynamodb:
// key use shows in CloudTrail, no key policy to keep), kept when removed
// from the stack. sk may be empty.
func newTable(scope constructs.Construct, id, pk, sk string) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(pk), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	}
	if sk != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(sk), Type: awsdynamodb.AttributeType_STRING}
	}
	return awsdynamodb.NewTable(scope, jsii.String(id), props)
}
