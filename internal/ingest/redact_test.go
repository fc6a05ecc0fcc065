package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
)

// testPAT has the shape of a platform personal access token (made up). No
// test prints it: messages say where it was found, not what was there.
var testPAT = "CFPAT-" + strings.Repeat("Qw3_e", 8) + "-Rt"

// secrets are credential values (not of the token shape) put in records
// below; none may be stored or rejected as it is.
var secrets = []string{testPAT, "hunter2-pw", "oauth-implicit-s3cret", "sas-sig-value", "path-token-value"}

// leaked names the first secret that b holds, or "".
func leaked(b []byte) string {
	for i, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			return []string{"the platform token", "the password", "the OAuth token", "the SAS signature", "the path's token"}[i]
		}
	}
	return ""
}

// TestIngestRedactsCredentials: the events stored and the rejects sent
// hold no credential, whichever field carried it, whether the record was
// stored or rejected, JSON or not; what is not a credential is kept.
func TestIngestRedactsCredentials(t *testing.T) {
	rec := func(id string, set map[string]any) Raw {
		f := goodFields()
		f["request_id"] = id
		for k, v := range set {
			if v == nil {
				delete(f, k)
			} else {
				f[k] = v
			}
		}
		return Raw{Source: id, Data: marshal(t, f)} // encoding/json: '&' as \u0026
	}
	records := []Raw{
		rec("q", map[string]any{"request_query": "access_token=" + testPAT + "&locale=en"}),
		rec("ref", map[string]any{"referrer": "https://example.com/cb?x=1#access_token=oauth-implicit-s3cret&token_type=bearer"}),
		rec("path", map[string]any{"request_path": "/spaces/s1/environments/master/entries/e1?Password=hunter2-pw&sig=sas-sig-value", "request_query": nil}),
		// Rejected JSON records: a missing time, and a query given twice.
		rec("bad-time", map[string]any{"request_time": nil, "request_query": "token=path-token-value&password=hunter2-pw"}),
		rec("both", map[string]any{"request_path": "/spaces/s1?access_token=" + testPAT, "request_query": "sig=sas-sig-value"}),
		// Not JSON: cut short, and plain text.
		{Source: "cut", Data: []byte(`{"request_id":"cut","request_query":"access_token=` + testPAT + `&password=hunter2-pw`)},
		{Source: "text", Data: []byte(`GET /x?client_secret=oauth-implicit-s3cret&sig=sas-sig-value HTTP/1.1 ` + testPAT)},
		// Invalid UTF-8 (base64 in the reject).
		{Source: "utf8", Data: []byte("\xff{\"request_query\":\"token=path-token-value\"}")},
	}
	store := memstore.New()
	sink := &MemorySink{}
	in := &Ingester{Store: store, Rejects: sink, Now: func() time.Time { return testNow }}
	c, err := in.Ingest(context.Background(), records)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stored != 3 || c.Rejected != 5 {
		t.Fatalf("counts %+v, want 3 stored, 5 rejected", c)
	}
	day, _ := audit.ParseDay("2026-11-24")
	got := map[string]audit.Event{}
	for _, e := range readDay(t, store, "0abc123", day) {
		b, _ := json.Marshal(e)
		if l := leaked(b); l != "" {
			t.Errorf("stored event %s holds %s", e.RequestID, l)
		}
		got[e.RequestID] = e
	}
	for id, want := range map[string][2]string{
		"q":    {"access_token=REDACTED&locale=en", "https://app.contentful.com/"},
		"ref":  {"locale=de-DE", "https://example.com/cb?x=1#access_token=REDACTED&token_type=bearer"},
		"path": {"Password=REDACTED&sig=REDACTED", "https://app.contentful.com/"},
	} {
		if e := got[id]; e.RequestQuery != want[0] || e.Referrer != want[1] {
			t.Errorf("event %s: query and referrer are not %q, %q", id, want[0], want[1])
		}
	}
	if e := got["path"]; e.RequestPath != "/spaces/s1/environments/master/entries/e1" {
		t.Errorf("path event: path %q", e.RequestPath)
	}

	var out bytes.Buffer
	if err := (&JSONLSink{W: &out}).Reject(context.Background(), sink.Rejects()); err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if l := leaked(line); l != "" {
			t.Errorf("reject line %d holds %s", i+1, l)
		}
	}
	rejects := map[string]Reject{}
	for _, r := range sink.Rejects() {
		rejects[r.Source] = r
		if bytes.Contains(r.RecordBase64, []byte("path-token-value")) {
			t.Errorf("reject %s: record_base64 holds the path's token", r.Source)
		}
	}
	// What is not a credential stays: field, reason, the record's shape.
	if r := rejects["bad-time"]; r.Field != "request_time" || r.Reason != "is required" {
		t.Errorf("bad-time reject: field %q reason %q", r.Field, r.Reason)
	} else {
		var m map[string]any
		if err := json.Unmarshal([]byte(r.Record), &m); err != nil {
			t.Errorf("bad-time reject: the redacted record is no longer JSON: %v", err)
		} else if m["request_query"] != "token=REDACTED&password=REDACTED" || m["request_id"] != "bad-time" {
			t.Errorf("bad-time reject: request_query %q, request_id %q", m["request_query"], m["request_id"])
		}
	}
	if r := rejects["both"]; r.Field != "request_path" || !strings.Contains(r.Error, "access_token=REDACTED") {
		t.Errorf("both reject: field %q, error without the redacted path", r.Field)
	}
	if r := rejects["cut"]; r.Field != FieldRecord || !strings.HasPrefix(r.Reason, ReasonNotJSON) ||
		r.Record != `{"request_id":"cut","request_query":"access_token=REDACTED&password=REDACTED` {
		t.Errorf("cut reject: field %q, reason %q, record not as expected", r.Field, r.Reason)
	}
	if r := rejects["text"]; r.Record != "GET /x?client_secret=REDACTED&sig=REDACTED HTTP/1.1 REDACTED" {
		t.Errorf("text reject: record not as expected")
	}
	if r := rejects["utf8"]; string(r.RecordBase64) != "\xff{\"request_query\":\"token=REDACTED\"}" {
		t.Errorf("utf8 reject: record_base64 not as expected")
	}
}

// TestRedactedQueryOverTheLimit: a query at the limit whose short
// credential values grow to REDACTED is rejected, naming the field and
// the redaction, rather than refused by the store with its whole batch.
func TestRedactedQueryOverTheLimit(t *testing.T) {
	unit := "sig=ab&"
	q := strings.Repeat(unit, MaxQueryLen/len(unit))
	q += strings.Repeat("x", MaxQueryLen-len(q))
	f := goodFields()
	f["request_query"] = q
	good := goodFields()
	good["request_id"] = "good"
	store := memstore.New()
	sink := &MemorySink{}
	in := &Ingester{Store: store, Rejects: sink, Now: func() time.Time { return testNow }}
	c, err := in.Ingest(context.Background(), []Raw{{Source: "long", Data: marshal(t, f)}, {Source: "good", Data: marshal(t, good)}})
	if err != nil || c.Stored != 1 || c.Rejected != 1 {
		t.Fatalf("%+v, %v; want one stored, one rejected", c, err)
	}
	r := sink.Rejects()[0]
	if r.Field != "request_query" || !strings.Contains(r.Reason, "redacted") || strings.Contains(r.Error, "sig=ab") || strings.Contains(r.Record, "sig=ab") {
		t.Fatalf("reject field %q reason %q: want request_query, the redaction named, no credential", r.Field, r.Reason)
	}
}

func TestRedactRecordKeepsOtherBytes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`  {"request_query" : "locale=en" , "x":[1,{"request_query":"token=nested"}]}`, `  {"request_query" : "locale=en" , "x":[1,{"request_query":"token=REDACTED"}]}`},
		// A JSON escape that hides the name from a textual rule: the
		// member is decoded, so it is redacted; the member is re-quoted.
		{`{"request_query":"access\u005ftoken=abc\u0026x=1", "b" : 2}`, `{"request_query":"access_token=REDACTED&x=1", "b" : 2}`},
		{`{"referrer":"https://x/#id_token=abc","request_query":5}`, `{"referrer":"https://x/#id_token=REDACTED","request_query":5}`},
		{`not json password=abc`, `not json password=REDACTED`},
	} {
		if got := string(redactRecord([]byte(c.in))); got != c.want {
			t.Errorf("redactRecord(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
