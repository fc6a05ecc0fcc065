package stack_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
)

// lifecycleRule is one rule of a bucket's lifecycle configuration.
type lifecycleRule struct {
	Prefix string
	Days   float64 // expiration, or the abort of incomplete uploads
}

// lifecycle returns a bucket's lifecycle rules by ID, each enabled.
func lifecycle(t *testing.T, s *synthesized, bucket string) map[string]lifecycleRule {
	t.Helper()
	out := map[string]lifecycleRule{}
	for _, r := range list2(prop(s.resource(t, bucket), "Properties", "LifecycleConfiguration", "Rules")) {
		r := r.(map[string]interface{})
		if r["Status"] != "Enabled" {
			t.Errorf("bucket %s: lifecycle rule %v not enabled", bucket, r["Id"])
		}
		lr := lifecycleRule{}
		lr.Prefix, _ = r["Prefix"].(string)
		if d, ok := r["ExpirationInDays"].(float64); ok {
			lr.Days = d
		} else if d, ok := prop(r, "AbortIncompleteMultipartUpload", "DaysAfterInitiation").(float64); ok {
			lr.Days = d
		}
		out[r["Id"].(string)] = lr
	}
	return out
}

// lifecycleDays is lifecycle's days by rule ID.
func lifecycleDays(t *testing.T, s *synthesized, bucket string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for id, r := range lifecycle(t, s, bucket) {
		out[id] = r.Days
	}
	return out
}

// checkPrivateBucket checks a bucket's public access block (all four),
// its default encryption (SSE-S3), object ownership (bucket owner
// enforced: no ACLs), retention when removed from the stack, and a
// bucket policy that denies plain HTTP.
func checkPrivateBucket(t *testing.T, s *synthesized, name string, bucket constructs.IConstruct) {
	t.Helper()
	id := s.id(t, bucket)
	b := s.resource(t, id)
	bp := b["Properties"].(map[string]interface{})
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if prop(bp, "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("%s: %s not set", name, k)
		}
	}
	sse := list2(prop(bp, "BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(sse) != 1 || prop(sse[0].(map[string]interface{}), "ServerSideEncryptionByDefault", "SSEAlgorithm") != "AES256" {
		t.Errorf("%s: encryption %s, want SSE-S3 (AES256)", name, render(prop(bp, "BucketEncryption")))
	}
	if rules := list2(prop(bp, "OwnershipControls", "Rules")); len(rules) != 1 || prop(rules[0].(map[string]interface{}), "ObjectOwnership") != "BucketOwnerEnforced" {
		t.Errorf("%s: ownership %s, want BucketOwnerEnforced", name, render(prop(bp, "OwnershipControls")))
	}
	if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("%s: deletion policy %v, update replace policy %v, want Retain", name, b["DeletionPolicy"], b["UpdateReplacePolicy"])
	}
	tlsOnly := false
	for _, bpol := range s.resources("AWS::S3::BucketPolicy") {
		if render(prop(bpol, "Properties", "Bucket")) != "${Ref:"+id+"}" {
			continue
		}
		for _, st := range statements(prop(bpol, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) && render(prop(st, "Principal", "AWS")) == "*" {
				tlsOnly = true
			}
		}
	}
	if !tlsOnly {
		t.Errorf("%s: no bucket policy denying aws:SecureTransport false", name)
	}
}

// TestLakeBucket: the lake is private, SSE-S3, TLS only, owned by the
// bucket, retained; each prefix expires on its own: raw objects and
// Firehose's error records after 10 days (compaction's week of look-back
// and three days to repair it), org-day objects and manifests after the
// log store's retention, delivered files after lake.ExportFileDays;
// incomplete uploads are aborted after a day.
func TestLakeBucket(t *testing.T) {
	s := defaults(t)
	checkPrivateBucket(t, s, "lake bucket", s.st.LakeBucket)
	if stack.DefaultLogStoreRetentionDays != int(lakestore.DefaultRetention/(24*time.Hour)) {
		t.Errorf("default retention %d days, want lakestore.DefaultRetention's %v", stack.DefaultLogStoreRetentionDays, lakestore.DefaultRetention)
	}
	want := map[string]lifecycleRule{
		"expire-raw":               {lake.RawPrefix, 10},
		"expire-raw-errors":        {stack.RawErrorsPrefix, 10},
		"expire-lake":              {lake.LakePrefix, float64(stack.DefaultLogStoreRetentionDays)},
		"expire-export":            {lake.ExportPrefix, float64(lake.ExportFileDays)},
		"abort-incomplete-uploads": {"", 1},
	}
	if got := lifecycle(t, s, s.id(t, s.st.LakeBucket)); !reflect.DeepEqual(got, want) {
		t.Errorf("lake lifecycle\n got %v\nwant %v", got, want)
	}
	if want["expire-raw"].Prefix != "raw/" || want["expire-raw-errors"].Prefix != "raw-errors/" || want["expire-lake"].Prefix != "lake/" ||
		want["expire-export"].Prefix != "export/" || lake.ExportFileDays != 8 {
		t.Errorf("the layout moved: %v, export files %d days", want, lake.ExportFileDays)
	}
	// The manifests are under lake/: they expire with the org-day
	// objects they describe.
	if !strings.HasPrefix(lake.ManifestPrefix, lake.LakePrefix) {
		t.Errorf("manifests under %s, outside %s", lake.ManifestPrefix, lake.LakePrefix)
	}
	// Raw objects outlive compaction's look-back (compactfn.LookbackDays,
	// a week) with room.
	if want["expire-raw"].Days <= 7 {
		t.Errorf("raw objects expire after %v days, within compaction's week of look-back", want["expire-raw"].Days)
	}
}

// rawStream is the Firehose stream's properties.
func rawStream(t *testing.T, s *synthesized) map[string]interface{} {
	t.Helper()
	r := s.resource(t, *s.st.GetLogicalId(s.st.RawStream))
	if r["Type"] != "AWS::KinesisFirehose::DeliveryStream" {
		t.Fatalf("raw stream is a %v", r["Type"])
	}
	return r
}

// TestRawStream: the Firehose stream takes direct puts, encrypts at rest,
// and writes the lake's bucket with dynamic partitioning under
// raw/day=/bucket=/ (lake.RawBucketPrefix) after splitting the ingest's
// aggregated records into events (RecordDeAggregation, JSON), reading each
// event's day and bucket (MetadataExtraction, JQ 1.6) and ending each with
// a newline; GZIP, 128 MiB or 900 s per partition, errors under
// raw-errors/ by error type, logging on, its own role.
func TestRawStream(t *testing.T) {
	s := defaults(t)
	r := rawStream(t, s)
	p := r["Properties"].(map[string]interface{})
	if p["DeliveryStreamName"] != "auditlogs-dev-raw" || p["DeliveryStreamType"] != "DirectPut" {
		t.Errorf("stream %v of type %v, want auditlogs-dev-raw, DirectPut", p["DeliveryStreamName"], p["DeliveryStreamType"])
	}
	if v := prop(p, "DeliveryStreamEncryptionConfigurationInput", "KeyType"); v != "AWS_OWNED_CMK" {
		t.Errorf("stream encryption %v, want AWS_OWNED_CMK", v)
	}
	d, ok := p["ExtendedS3DestinationConfiguration"].(map[string]interface{})
	if !ok {
		t.Fatalf("no extended S3 destination: %v", p)
	}
	for k, want := range map[string]string{
		"BucketARN":         "${" + s.id(t, s.st.LakeBucket) + ".Arn}",
		"RoleARN":           "${" + s.id(t, s.st.RawStreamRole) + ".Arn}",
		"Prefix":            "raw/day=!{partitionKeyFromQuery:day}/bucket=!{partitionKeyFromQuery:bucket}/",
		"ErrorOutputPrefix": "raw-errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/",
		"CompressionFormat": "GZIP",
	} {
		if got := render(d[k]); got != want {
			t.Errorf("destination %s = %s, want %s", k, got, want)
		}
	}
	if v := prop(d, "DynamicPartitioningConfiguration", "Enabled"); v != true {
		t.Errorf("dynamic partitioning %v", v)
	}
	if v, _ := prop(d, "DynamicPartitioningConfiguration", "RetryOptions", "DurationInSeconds").(float64); v != 7200 {
		t.Errorf("partition retries for %v s, want Firehose's most, 7200", v)
	}
	// Dynamic partitioning needs a buffer of at least 64 MiB.
	size, _ := prop(d, "BufferingHints", "SizeInMBs").(float64)
	interval, _ := prop(d, "BufferingHints", "IntervalInSeconds").(float64)
	if size != 128 || interval != 900 {
		t.Errorf("buffering %v MiB / %v s, want 128 / 900", size, interval)
	}
	if v := prop(d, "CloudWatchLoggingOptions", "Enabled"); v != true {
		t.Errorf("logging %v", v)
	}
	if g := render(prop(d, "CloudWatchLoggingOptions", "LogGroupName")); g != "${Ref:"+s.id(t, s.st.RawStreamLogs)+"}" {
		t.Errorf("log group %s", g)
	}
	if g := prop(s.resource(t, s.id(t, s.st.RawStreamLogs)), "Properties", "RetentionInDays"); g != float64(90) {
		t.Errorf("stream's log retention %v, want the stack's 90", g)
	}
	if v := prop(d, "ProcessingConfiguration", "Enabled"); v != true {
		t.Errorf("processing %v", v)
	}
	// The processors, in order, with their parameters.
	var procs []string
	for _, pr := range list2(prop(d, "ProcessingConfiguration", "Processors")) {
		pr := pr.(map[string]interface{})
		line := pr["Type"].(string)
		for _, pa := range list2(pr["Parameters"]) {
			pa := pa.(map[string]interface{})
			line += " " + pa["ParameterName"].(string) + "=" + pa["ParameterValue"].(string)
		}
		procs = append(procs, line)
	}
	wantProcs := []string{
		"RecordDeAggregation SubRecordType=JSON",
		"MetadataExtraction MetadataExtractionQuery={day: .t[0:10], bucket: .b} JsonParsingEngine=JQ-1.6",
		"AppendDelimiterToRecord",
	}
	if !reflect.DeepEqual(procs, wantProcs) {
		t.Errorf("processors\n got %q\nwant %q", procs, wantProcs)
	}
	// The stream is created once its role may write.
	if deps := list(r["DependsOn"]); !contains(deps, policyOf(t, s, s.id(t, s.st.RawStreamRole))) {
		t.Errorf("stream depends on %v, want its role's policy", deps)
	}
}

// TestRawPartitioning: the stream's partition keys are fields of the raw
// records the ingest writes (lake.AppendRaw), and its prefix with them is
// the layout's raw prefix of the event's day and bucket, which compaction
// lists (lake.RawBucketPrefix).
func TestRawPartitioning(t *testing.T) {
	e := audit.Event{OrgID: "acme", RequestID: "r1", RequestTime: time.Date(2026, 12, 1, 23, 59, 59, 999e6, time.UTC),
		RequestMethod: "PUT", RequestPath: "/spaces/s1/entries/e1", ResponseStatus: 200}
	var rec map[string]interface{}
	if err := json.Unmarshal(lake.AppendRaw(nil, &e), &rec); err != nil {
		t.Fatal(err)
	}
	// {key: .field[from:to], ...}: jq's string slice.
	re := regexp.MustCompile(`(\w+): \.(\w+)(?:\[(\d+):(\d+)\])?`)
	keys := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(stack.RawPartitionQuery, -1) {
		v, ok := rec[m[2]].(string)
		if !ok {
			t.Fatalf("the query reads %q, which a raw record (%v) has not as a string", m[2], rec)
		}
		if m[3] != "" {
			from, _ := strconv.Atoi(m[3])
			to, _ := strconv.Atoi(m[4])
			v = v[from:to]
		}
		keys[m[1]] = v
	}
	prefix := stack.RawPartitionPrefix
	for k, v := range keys {
		prefix = strings.ReplaceAll(prefix, "!{partitionKeyFromQuery:"+k+"}", v)
	}
	if want := lake.RawBucketPrefix(audit.DayOf(e.RequestTime), lake.BucketOf(e.OrgID)); prefix != want {
		t.Errorf("the stream writes %s (keys %v), compaction lists %s", prefix, keys, want)
	}
	if len(keys) != 2 {
		t.Errorf("partition keys %v, want day and bucket", keys)
	}
	// The event format's times are UTC with a Z: the first 10 characters
	// are the UTC day, whatever the time zone it was given in.
	e.RequestTime = time.Date(2026, 12, 2, 0, 30, 0, 0, time.FixedZone("CET", 3600))
	if got := string(lake.AppendRaw(nil, &e)); !strings.Contains(got, `"`+lake.KeyTime+`":"2026-12-01T23:30:00.000Z"`) {
		t.Errorf("raw record %s: its request time not UTC", got)
	}
	// Records without the keys (none the ingest writes) fail
	// partitioning and land under the error prefix, not in raw/.
	if !strings.HasPrefix(stack.RawErrorPrefix, stack.RawErrorsPrefix) || strings.HasPrefix(stack.RawErrorsPrefix, lake.RawPrefix) {
		t.Errorf("error prefix %s, under raw/?", stack.RawErrorPrefix)
	}
}
