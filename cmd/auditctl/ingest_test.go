package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// TestIngestExport ingests request-log records on a local stack and
// exports the day: the delivered CSV holds the audited requests, each once,
// with the route and space that the path gives.
func TestIngestExport(t *testing.T) {
	st := startStack(t)
	day := audit.DayOf(time.Now()).AddDays(-1)
	at := func(i int) string {
		return day.Start().Add(time.Duration(i)*time.Minute + 1234*time.Microsecond).In(time.FixedZone("", 3600)).Format(time.RFC3339Nano)
	}
	rec := func(i int, id, method, path string) string {
		return fmt.Sprintf(`{"request_id":%q,"org_id":"ingest-org","request_time":%q,"request_method":%q,"request_path":%q,"request_query":"","response_status":200,"content_length":10,"referrer":"","actor_id":"user:u1","space":"not-this"}`,
			id, at(i), method, path)
	}
	lines := []string{
		rec(1, "r1", "PUT", "/spaces/sp1/environments/master/entries/e1"),
		rec(2, "r2", "DELETE", "/spaces/sp2/environment_aliases/master"),
		"",
		rec(3, "r3", "PATCH", "/spaces/sp1/environments/dev/entries/e2?x=1"),
		rec(4, "r4", "PUT", "/organizations/ingest-org/environment_templates/t1"),
		rec(1, "r1", "PUT", "/spaces/sp1/environments/master/entries/e1"), // delivered twice
		rec(5, "g1", "GET", "/spaces/sp1/environments/master/entries/e1"),
		rec(6, "p1", "POST", "/spaces/sp1/environments/master/entries"),
		rec(7, "u1", "PUT", "/spaces/sp1/nothing/here"),
		`{"request_id":"bad1","org_id":"ingest-org"}`,
		`not json`,
	}
	dir := t.TempDir()
	file, rejects := filepath.Join(dir, "requests.ndjson"), filepath.Join(dir, "rejects.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run("ingest", "--file", file, "--rejects", rejects, "--batch", "3")
	if !errors.As(err, new(rejectedError)) || isUsage(err) || !strings.Contains(err.Error(), "2 records rejected") {
		t.Fatalf("ingest: err = %v, want 2 rejected\n%s", err, out)
	}
	for _, want := range []string{"records   10\n", "stored    5\n", "skipped   3 (method 2, route 1, near miss 0)\n", "rejected  2\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("ingest output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	var got []ingest.Reject
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r ingest.Reject
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("reject line %q: %v", l, err)
		}
		got = append(got, r)
	}
	if len(got) != 2 || got[0].Source != file+":10" || got[0].Field != "request_time" || got[1].Source != file+":11" || got[1].Field != "record" {
		t.Fatalf("rejects %+v", got)
	}
	// Again, from standard input, POST included: nothing is stored twice.
	root := newRoot()
	var buf bytes.Buffer
	root.SetOut(&buf)
	root.SetErr(&buf)
	root.SetIn(strings.NewReader(strings.Join(lines[:9], "\n")))
	root.SetArgs([]string{"ingest", "--file", "-", "--include-post"})
	if err := root.Execute(); err != nil || !strings.Contains(buf.String(), "stored    6\n") {
		t.Fatalf("ingest from stdin: %v\n%s", err, buf.String())
	}

	obj := exportToS3(t, st, "ingest-org", day, 5)
	rows, err := csv.NewReader(bytes.NewReader(obj)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	want := []struct{ method, path, query, space, route string }{
		{"PUT", "/spaces/sp1/environments/master/entries/e1", "", "sp1", "/spaces/:space_id/environments/:environment_id/entries/:entry_id"},
		{"DELETE", "/spaces/sp2/environment_aliases/master", "", "sp2", "/spaces/:space_id/environment_aliases/:environment_alias_id"},
		{"PATCH", "/spaces/sp1/environments/dev/entries/e2", "x=1", "sp1", "/spaces/:space_id/environments/:environment_id/entries/:entry_id"},
		{"PUT", "/organizations/ingest-org/environment_templates/t1", "", "", "/organizations/:organization_id/environment_templates/:template_id"},
		{"POST", "/spaces/sp1/environments/master/entries", "", "sp1", "/spaces/:space_id/environments/:environment_id/entries"},
	}
	if len(rows) != 1+len(want) {
		t.Fatalf("%d CSV rows:\n%s", len(rows), obj)
	}
	for i, w := range want {
		r := rows[i+1]
		if r[col["request_method"]] != w.method || r[col["request_path"]] != w.path || r[col["request_query"]] != w.query ||
			r[col["space"]] != w.space || r[col["route"]] != w.route {
			t.Errorf("row %d = %q, want %+v", i+1, r, w)
		}
		if wantTime := day.Start().Add(time.Duration([]int{1, 2, 3, 4, 6}[i])*time.Minute + time.Millisecond).Format(audit.TimeLayout); r[col["request_time"]] != wantTime {
			t.Errorf("row %d time %s, want %s", i+1, r[col["request_time"]], wantTime)
		}
	}

	if _, err := run("ingest", "--file", filepath.Join(dir, "missing.ndjson")); !isUsage(err) {
		t.Fatalf("missing file: %v, want a usage error", err)
	}
}

// TestIngestRedactsCredentials is the acceptance test for
// credentials: records whose query and referrer carry tokens, and a
// malformed record holding one, go through auditctl ingest on a local
// stack and the day is exported. The delivered query is exactly
// access_token=REDACTED&locale=en, and no token is anywhere in the log
// store (every object of the lake, raw), the delivered file, the rejects or the
// command's output. No message prints a token: they say where one was.
func TestIngestRedactsCredentials(t *testing.T) {
	st := startStack(t)
	day := audit.DayOf(time.Now()).AddDays(-1)
	// Made-up tokens of the platform's shape (CFPAT- and 43 characters),
	// and an OAuth token of another shape.
	pat := func(c string) string { return "CFPAT-" + strings.Repeat(c+"9-x", 10) + "e_d" }
	queryPAT, refPAT, rejectPAT := pat("Q"), pat("R"), pat("J")
	oauth := "ya29.oauth-implicit-grant-value"
	secrets := map[string]string{"the query's token": queryPAT, "the referrer's token": refPAT, "the rejected record's token": rejectPAT, "the OAuth token": oauth}
	for name, s := range secrets {
		if name != "the OAuth token" && len(s) != len("CFPAT-")+43 {
			t.Fatalf("%s has %d characters after CFPAT-, want 43", name, len(s)-6)
		}
	}
	holds := func(b []byte) []string {
		var found []string
		for name, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, name)
			}
		}
		return found
	}
	at := day.Start().Add(10 * time.Hour).Format(time.RFC3339Nano)
	lines := []string{
		fmt.Sprintf(`{"request_id":"q1","org_id":"redact-org","request_time":%q,"request_method":"PUT","request_path":"/spaces/sp1/environments/master/entries/e1","request_query":"access_token=%s&locale=en","response_status":200,"referrer":"https://app.contentful.com/"}`, at, queryPAT),
		fmt.Sprintf(`{"request_id":"r1","org_id":"redact-org","request_time":%q,"request_method":"DELETE","request_path":"/spaces/sp1/environments/master/entries/e2","response_status":204,"referrer":"https://app.example.com/cb?token=%s#access_token=%s&token_type=bearer"}`, at, refPAT, oauth),
		// Rejected: cut short (not JSON), and JSON without a time.
		fmt.Sprintf(`{"request_id":"bad1","org_id":"redact-org","request_query":"access_token=%s&locale=en"`, rejectPAT),
		fmt.Sprintf(`{"request_id":"bad2","org_id":"redact-org","request_method":"PUT","request_path":"/spaces/sp1?access_token=%s","response_status":200,"referrer":"https://x/#access_token=%s"}`, rejectPAT, oauth),
	}
	dir := t.TempDir()
	file, rejects := filepath.Join(dir, "requests.ndjson"), filepath.Join(dir, "rejects.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run("ingest", "--file", file, "--rejects", rejects)
	if found := holds([]byte(out + fmt.Sprint(err))); len(found) > 0 {
		t.Fatalf("ingest's output holds %v", found)
	}
	if !errors.As(err, new(rejectedError)) || !strings.Contains(out, "stored    2\n") || !strings.Contains(out, "rejected  2\n") {
		t.Fatalf("ingest: err = %v, want 2 stored and 2 rejected\n%s", err, out)
	}

	// The rejects: no token, and still the field and the reason.
	rb, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	if found := holds(rb); len(found) > 0 {
		t.Errorf("the rejects hold %v", found)
	}
	var fields []string
	for _, l := range strings.Split(strings.TrimSpace(string(rb)), "\n") {
		var r ingest.Reject
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("reject line: %v", err)
		}
		if r.Reason == "" || !strings.Contains(r.Record, "access_token=REDACTED") {
			t.Errorf("reject of %s: reason %q, record without access_token=REDACTED", r.Source, r.Reason)
		}
		fields = append(fields, r.Field)
	}
	if strings.Join(fields, ",") != "record,request_time" {
		t.Errorf("rejected fields %v, want record, request_time", fields)
	}

	// The log store, read raw: every object of the lake, decompressed.
	raw, nRaw := lakeContents(t, st)
	if nRaw != 2 || !strings.Contains(string(raw), "access_token=REDACTED&locale=en") {
		t.Fatalf("the lake: %d records, want 2, one with the redacted query", nRaw)
	}
	if found := holds(raw); len(found) > 0 {
		t.Errorf("the lake holds %v", found)
	}

	// The delivered file.
	obj := exportToS3(t, st, "redact-org", day, 2)
	if found := holds(obj); len(found) > 0 {
		t.Errorf("the delivered file holds %v", found)
	}
	rows, err := csv.NewReader(bytes.NewReader(obj)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("delivered CSV: %d rows, %v", len(rows), err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	got := map[string][2]string{} // method: query, referrer
	for _, r := range rows[1:] {
		got[r[col["request_method"]]] = [2]string{r[col["request_query"]], r[col["referrer"]]}
	}
	if q := got["PUT"][0]; q != "access_token=REDACTED&locale=en" {
		t.Errorf("delivered request_query is not access_token=REDACTED&locale=en (%d bytes)", len(q))
	}
	if ref := got["DELETE"][1]; ref != "https://app.example.com/cb?token=REDACTED#access_token=REDACTED&token_type=bearer" {
		t.Errorf("delivered referrer is not the redacted one (%d bytes)", len(ref))
	}
}

// lakeContents reads every object of the local stack's lake, gunzipped
// where it is compressed, and counts the records (lines) of its raw
// objects.
func lakeContents(t *testing.T, st *localstack.Stack) ([]byte, int) {
	t.Helper()
	ctx := context.Background()
	c := s3.NewFromConfig(st.AWS, s3obj.LakeOptions)
	var all bytes.Buffer
	lines := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(localstack.LakeBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list the lake: %v", err)
		}
		for _, o := range page.Contents {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(localstack.LakeBucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("gunzip %s: %v", aws.ToString(o.Key), err)
				}
			}
			if strings.HasPrefix(aws.ToString(o.Key), lake.RawPrefix) {
				lines += bytes.Count(body, []byte("\n"))
			}
			all.Write(body)
		}
	}
	return all.Bytes(), lines
}

// exportToS3 registers an S3 destination for org with a role of its own,
// exports the day with auditctl (which must report rows rows) and returns
// the delivered file, read back from the bucket.
func exportToS3(t *testing.T, st *localstack.Stack, org string, day audit.Day, rows int) []byte {
	t.Helper()
	role, err := st.CustomerRole(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("destination", "put", "--org", org, "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role); err != nil {
		t.Fatalf("destination put: %v\n%s", err, out)
	}
	out, err := run("export", "--org", org, "--day", day.String())
	if err != nil || !strings.Contains(out, fmt.Sprintf("rows    %d\n", rows)) {
		t.Fatalf("export: %v\n%s, want %d rows", err, out, rows)
	}
	var key string
	for _, l := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(l, "key "); ok {
			key = strings.TrimSpace(k)
		}
	}
	obj, err := st.ReadS3(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return obj
}
