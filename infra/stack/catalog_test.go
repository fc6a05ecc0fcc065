package stack_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
)

// TestGlueTables: two tables over the org-day objects under lake/, the
// JSON SerDe over gzip NDJSON, the columns those lines hold
// (lake.AppendEvent), and partition projection: day (a date, yyyy-MM-dd),
// bucket (an integer 0 to 63 of three digits, as the keys write it), and,
// in "events", org (injected), the location template being
// lake.OrgDayKey's prefix.
func TestGlueTables(t *testing.T) {
	s := defaults(t)
	db := s.resource(t, *s.st.GetLogicalId(s.st.GlueDatabase))
	if v := prop(db, "Properties", "DatabaseInput", "Name"); v != "auditlogs_dev" {
		t.Errorf("database %v", v)
	}
	// The columns: the org-day lines' keys, in their order.
	e := audit.Event{OrgID: "acme", RequestID: "r1", RequestTime: time.Date(2026, 12, 1, 13, 5, 9, 0, time.UTC), RequestMethod: "DELETE",
		RequestPath: "/spaces/s1/entries/e1", RequestQuery: "a=1", ResponseStatus: 204, ContentLength: 12, Space: "s1", Route: "entries",
		Referrer: "https://app", ActorID: "user-1"}
	line := lake.AppendEvent(nil, &e)
	dec := jsontext.NewDecoder(strings.NewReader(string(line)))
	var keys []string
	kinds := map[string]jsontext.Kind{}
	if _, err := dec.ReadToken(); err != nil {
		t.Fatal(err)
	}
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		key := k.String()
		v, err := dec.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		kinds[key] = v.Kind()
	}
	var cols []string
	for _, c := range stack.GlueColumns {
		cols = append(cols, c.Name)
		if want := map[jsontext.Kind]string{'"': "string", '0': "int"}[kinds[c.Name]]; want == "string" && c.Type != "string" ||
			want == "int" && c.Type != "int" && c.Type != "bigint" {
			t.Errorf("column %s is %s, the line's value a %v", c.Name, c.Type, kinds[c.Name])
		}
	}
	if !reflect.DeepEqual(cols, keys) {
		t.Errorf("columns %v, lake.AppendEvent writes %v", cols, keys)
	}

	lakeLoc := "s3://${Ref:" + s.id(t, s.st.LakeBucket) + "}/lake/"
	for _, c := range []struct {
		table      awscdk.CfnElement
		name       string
		partitions []string
		template   string
		injected   bool
	}{
		{s.st.GlueEvents, "events", []string{"day string", "bucket int", "org string"}, lakeLoc + "day=${day}/bucket=${bucket}/org=${org}/", true},
		{s.st.GlueEventsByDay, "events_by_day", []string{"day string", "bucket int"}, lakeLoc + "day=${day}/bucket=${bucket}/", false},
	} {
		r := s.resource(t, *s.st.GetLogicalId(c.table))
		if render(prop(r, "Properties", "DatabaseName")) != "auditlogs_dev" || render(prop(r, "Properties", "CatalogId")) != "${Ref:AWS::AccountId}" {
			t.Errorf("%s: database %v", c.name, prop(r, "Properties"))
		}
		in := prop(r, "Properties", "TableInput").(map[string]interface{})
		if in["Name"] != c.name || in["TableType"] != "EXTERNAL_TABLE" {
			t.Errorf("%s: %v %v", c.name, in["Name"], in["TableType"])
		}
		var parts []string
		for _, pk := range list2(in["PartitionKeys"]) {
			pk := pk.(map[string]interface{})
			parts = append(parts, pk["Name"].(string)+" "+pk["Type"].(string))
		}
		if !reflect.DeepEqual(parts, c.partitions) {
			t.Errorf("%s: partitions %v, want %v", c.name, parts, c.partitions)
		}
		sd := in["StorageDescriptor"].(map[string]interface{})
		if render(sd["Location"]) != lakeLoc || prop(sd, "SerdeInfo", "SerializationLibrary") != "org.openx.data.jsonserde.JsonSerDe" ||
			sd["InputFormat"] != "org.apache.hadoop.mapred.TextInputFormat" {
			t.Errorf("%s: storage %s", c.name, render(sd))
		}
		var sdCols []string
		for _, col := range list2(sd["Columns"]) {
			col := col.(map[string]interface{})
			sdCols = append(sdCols, col["Name"].(string))
		}
		if !reflect.DeepEqual(sdCols, keys) {
			t.Errorf("%s: columns %v", c.name, sdCols)
		}
		params := map[string]string{}
		for k, v := range in["Parameters"].(map[string]interface{}) {
			params[k] = render(v)
		}
		want := map[string]string{
			"EXTERNAL": "TRUE", "classification": "json", "compressionType": "gzip", "projection.enabled": "true",
			"projection.day.type": "date", "projection.day.format": "yyyy-MM-dd", "projection.day.range": "2024-01-01,NOW",
			"projection.day.interval": "1", "projection.day.interval.unit": "DAYS",
			"projection.bucket.type": "integer", "projection.bucket.range": "0,63", "projection.bucket.digits": "3",
			"storage.location.template": c.template,
		}
		if c.injected {
			want["projection.org.type"] = "injected"
		}
		if !reflect.DeepEqual(params, want) {
			t.Errorf("%s: parameters\n got %v\nwant %v", c.name, params, want)
		}
		// The template with an org-day's values is the prefix of its
		// object's key (lake.OrgDayKey), buckets zero-padded as
		// lake.BucketName writes them.
		day := audit.DayOf(e.RequestTime)
		loc := strings.NewReplacer("${day}", day.String(), "${bucket}", lake.BucketName(lake.BucketOf(e.OrgID)), "${org}", e.OrgID).Replace(c.template)
		if key := lake.OrgDayKey(e.OrgID, day); !strings.HasPrefix("s3://${Ref:"+s.id(t, s.st.LakeBucket)+"}/"+key, loc) {
			t.Errorf("%s: template gives %s, the org-day object is %s", c.name, loc, key)
		}
		// Neither table reaches the manifests or the delivered files.
		if strings.Contains(c.template, "manifests") || strings.Contains(c.template, lake.ExportPrefix) {
			t.Errorf("%s: template %s", c.name, c.template)
		}
	}
	if len(lake.BucketName(lake.Buckets-1)) != 3 || lake.Buckets != 64 {
		t.Errorf("buckets %d named %q: the projection's range and digits follow", lake.Buckets, lake.BucketName(lake.Buckets-1))
	}
}

// TestAthenaWorkGroup: the workgroup's results go to a bucket of their
// own (private, SSE-S3, TLS only, expiring after 7 days), encrypted, and
// clients may not send them elsewhere.
func TestAthenaWorkGroup(t *testing.T) {
	s := defaults(t)
	checkPrivateBucket(t, s, "athena results bucket", s.st.AthenaResults)
	if d := lifecycleDays(t, s, s.id(t, s.st.AthenaResults)); d["expire-results"] != 7 || d["abort-incomplete-uploads"] != 1 {
		t.Errorf("results lifecycle %v", d)
	}
	wg := s.resource(t, *s.st.GetLogicalId(s.st.AthenaWorkGroup))
	c := prop(wg, "Properties", "WorkGroupConfiguration").(map[string]interface{})
	if prop(wg, "Properties", "Name") != "auditlogs-dev-lake" || c["EnforceWorkGroupConfiguration"] != true {
		t.Errorf("workgroup %s", render(wg))
	}
	if v := render(prop(c, "ResultConfiguration", "OutputLocation")); v != "s3://${Ref:"+s.id(t, s.st.AthenaResults)+"}/results/" {
		t.Errorf("results to %s", v)
	}
	if v := prop(c, "ResultConfiguration", "EncryptionConfiguration", "EncryptionOption"); v != "SSE_S3" {
		t.Errorf("results encryption %v", v)
	}
}
