package stack

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/lake"
)

// Catalog is what Athena queries the lake with: a Glue database with two
// tables over the org-day objects under lake/ (gzip NDJSON of the event
// format), both with partition projection (no crawler, no partitions to
// add), and an Athena workgroup whose results go, encrypted, to a bucket
// of their own:
//
//   - GlueEvents ("events") is partitioned by day, bucket and org, the
//     org injected: a query must name its org (org = '...'), and reads only
//     that org's objects. For one org's events.
//   - GlueEventsByDay ("events_by_day") is partitioned by day and bucket
//     only, and reads every org's objects of the days and buckets it
//     selects. For questions across orgs (docs/operations.md).
type Catalog struct {
	GlueDatabase                awsglue.CfnDatabase
	GlueEvents, GlueEventsByDay awsglue.CfnTable
	AthenaResults               awss3.Bucket
	AthenaWorkGroup             awsathena.CfnWorkGroup
}

// The Glue tables' names and columns.
const (
	GlueEventsName      = "events"
	GlueEventsByDayName = "events_by_day"
	// GlueProjectionStart is the first day the tables project; the last
	// is today (NOW). Days the lake no longer keeps read as empty.
	GlueProjectionStart = "2024-01-01"
	// athenaResultsDays expires query results: they hold audit events.
	athenaResultsDays = 7
	// athenaResultsPrefix is where the workgroup writes results.
	athenaResultsPrefix = "results/"
)

// GlueColumn is a column of the Glue tables.
type GlueColumn struct{ Name, Type string }

// GlueColumns are the fields of an org-day object's lines
// (lake.AppendEvent, docs/event-format.md), in its order. request_time
// is the event format's UTC time as written (2026-11-24T13:45:12.345Z): a
// string, which from_iso8601_timestamp reads (a test checks the columns
// against lake.AppendEvent's keys).
var GlueColumns = []GlueColumn{
	{"org_id", "string"}, {"request_id", "string"}, {"request_time", "string"}, {"request_method", "string"},
	{"request_path", "string"}, {"request_query", "string"}, {"response_status", "int"}, {"content_length", "bigint"},
	{"space", "string"}, {"route", "string"}, {"referrer", "string"}, {"actor_id", "string"},
}

// catalog builds the Glue database and tables and the Athena workgroup.
func (s *Stack) catalog(name func(string) *string) {
	st, p := s.Stack, s.Props
	account := awscdk.Aws_ACCOUNT_ID()
	dbName := "auditlogs_" + strings.ReplaceAll(p.StageName, "-", "_") // Athena names take no hyphens
	s.GlueDatabase = awsglue.NewCfnDatabase(st, jsii.String("GlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: account,
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(dbName),
			Description: jsii.String("auditlogs " + p.StageName + ": the audit events of the S3 data lake (docs/lake.md)"),
		},
	})
	location := "s3://" + *s.LakeBucket.BucketName() + "/" + lake.LakePrefix
	var columns []*awsglue.CfnTable_ColumnProperty
	for _, c := range GlueColumns {
		columns = append(columns, &awsglue.CfnTable_ColumnProperty{Name: jsii.String(c.Name), Type: jsii.String(c.Type)})
	}
	table := func(id, tableName, description string, partitions []GlueColumn, projection map[string]*string) awsglue.CfnTable {
		var keys []*awsglue.CfnTable_ColumnProperty
		for _, c := range partitions {
			keys = append(keys, &awsglue.CfnTable_ColumnProperty{Name: jsii.String(c.Name), Type: jsii.String(c.Type)})
		}
		params := map[string]*string{
			"EXTERNAL":           jsii.String("TRUE"),
			"classification":     jsii.String("json"),
			"compressionType":    jsii.String("gzip"),
			"projection.enabled": jsii.String("true"),
			// The org-day keys' days (lake.OrgDayKey).
			"projection.day.type":          jsii.String("date"),
			"projection.day.format":        jsii.String("yyyy-MM-dd"),
			"projection.day.range":         jsii.String(GlueProjectionStart + ",NOW"),
			"projection.day.interval":      jsii.String("1"),
			"projection.day.interval.unit": jsii.String("DAYS"),
			// The org buckets, as the keys write them: three digits
			// (lake.BucketName).
			"projection.bucket.type":   jsii.String("integer"),
			"projection.bucket.range":  jsii.String("0," + strconv.Itoa(lake.Buckets-1)),
			"projection.bucket.digits": jsii.String(strconv.Itoa(len(lake.BucketName(0)))),
		}
		for k, v := range projection {
			params[k] = v
		}
		t := awsglue.NewCfnTable(st, jsii.String(id), &awsglue.CfnTableProps{
			CatalogId:    account,
			DatabaseName: jsii.String(dbName),
			TableInput: &awsglue.CfnTable_TableInputProperty{
				Name:          jsii.String(tableName),
				Description:   jsii.String(description),
				TableType:     jsii.String("EXTERNAL_TABLE"),
				PartitionKeys: &keys,
				Parameters:    &params,
				StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
					Location:     jsii.String(location),
					Columns:      &columns,
					InputFormat:  jsii.String("org.apache.hadoop.mapred.TextInputFormat"),
					OutputFormat: jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
					SerdeInfo: &awsglue.CfnTable_SerdeInfoProperty{
						SerializationLibrary: jsii.String("org.openx.data.jsonserde.JsonSerDe"),
					},
				},
			},
		})
		t.Node().AddDependency(s.GlueDatabase)
		return t
	}
	day, bucket := GlueColumn{"day", "string"}, GlueColumn{"bucket", "int"}
	// The construct IDs are the tables' logical IDs in the deployed
	// template: renaming one would replace its table.
	s.GlueEvents = table("GlueEventsTable", GlueEventsName, "One org's audit events: name the org (WHERE org = '...'), and a day range",
		[]GlueColumn{day, bucket, {"org", "string"}}, map[string]*string{
			"projection.org.type": jsii.String("injected"),
			// lake.OrgDayKey: lake/day=D/bucket=NNN/org=O/events.ndjson.gz
			"storage.location.template": jsii.String(location + "day=${day}/bucket=${bucket}/org=${org}/"),
		})
	s.GlueEventsByDay = table("GlueEventsByDayTable", GlueEventsByDayName, "Every org's audit events by day and org bucket: name a day range",
		[]GlueColumn{day, bucket}, map[string]*string{
			"storage.location.template": jsii.String(location + "day=${day}/bucket=${bucket}/"),
		})

	// Query results hold audit events: private, encrypted, TLS only,
	// gone after a week.
	s.AthenaResults = privateBucket(st, "AthenaResults",
		&awss3.LifecycleRule{Id: jsii.String("expire-results"), Expiration: awscdk.Duration_Days(jsii.Number(athenaResultsDays))},
		&awss3.LifecycleRule{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1))},
	)
	s.AthenaWorkGroup = awsathena.NewCfnWorkGroup(st, jsii.String("AthenaWorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:                  name("lake"),
		Description:           jsii.String("auditlogs " + p.StageName + ": queries over the lake's Glue tables (docs/operations.md)"),
		RecursiveDeleteOption: jsii.Bool(true),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			// Every query of the workgroup writes there, encrypted,
			// whatever its client asks.
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation:          jsii.String("s3://" + *s.AthenaResults.BucketName() + "/" + athenaResultsPrefix),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{EncryptionOption: jsii.String("SSE_S3")},
			},
		},
	})
}
