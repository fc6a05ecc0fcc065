package ingest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// testNow is the clock of the unit tests.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// goodFields is a valid record, as the platform would send it.
func goodFields() map[string]any {
	return map[string]any{
		"request_id":      "7f3c9a1e-2d4b-4c55-9d0e-1a2b3c4d5e6f",
		"org_id":          "0abc123",
		"request_time":    "2026-11-24T14:45:12.345678+01:00",
		"request_method":  "PATCH",
		"request_path":    "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse",
		"request_query":   "locale=de-DE",
		"response_status": 200,
		"content_length":  1234,
		"referrer":        "https://app.contentful.com/",
		"actor_id":        "user:2YVRzNgF2sE64ooav1eKSd",
	}
}

func marshal(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGood(t *testing.T) {
	r, err := Parse(marshal(t, goodFields()), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := Record{
		RequestID: "7f3c9a1e-2d4b-4c55-9d0e-1a2b3c4d5e6f", OrgID: "0abc123",
		Time:   time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC),
		Method: "PATCH", Path: "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse", Query: "locale=de-DE",
		Status: 200, ContentLength: 1234, Referrer: "https://app.contentful.com/", ActorID: "user:2YVRzNgF2sE64ooav1eKSd",
	}
	if r != want || r.Time.Location() != time.UTC {
		t.Fatalf("Parse =\n %+v\nwant\n %+v", r, want)
	}

	// Only the required keys; unknown keys of any type; nulls; escapes.
	min := `{"request_id":"r1","org_id":"o1","request_time":"2026-11-24T00:00:00Z","request_method":"DELETE","request_path":"/spaces/s1","response_status":204}`
	if r, err := Parse([]byte(min), testNow); err != nil || r.ContentLength != 0 || r.Query != "" || r.ActorID != "" {
		t.Fatalf("minimal record: %+v, %v", r, err)
	}
	extra := `{"new_key":{"a":[1,2,{"b":null}],"c":"\u00e9"},"space":"evil","route":"/x","request_id":"r1","org_id":"o1",` +
		`"request_time":"2026-11-24T00:00:00.1Z","request_method":"PUT","request_path":"/sp\u0061ces/s1","request_query":null,` +
		`"response_status":200,"content_length":null,"referrer":"https:\/\/x\/\u00fc \ud83d\ude00 \ud800","actor_id":"app:x","z":[]}`
	r, err = Parse([]byte(extra), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/spaces/s1" || r.Referrer != "https://x/ü 😀 \uFFFD" || r.Time.Nanosecond() != 100e6 || r.ActorID != "app:x" {
		t.Fatalf("record with extras: %+v", r)
	}
	// A query string on the path is split off; a leading '?' is dropped.
	f := goodFields()
	delete(f, "request_query")
	f["request_path"] = "/spaces/s1?a=1&b=2"
	if r, err := Parse(marshal(t, f), testNow); err != nil || r.Path != "/spaces/s1" || r.Query != "a=1&b=2" {
		t.Fatalf("path with query: %+v, %v", r, err)
	}
	f = goodFields()
	f["request_query"] = "?a=1"
	if r, err := Parse(marshal(t, f), testNow); err != nil || r.Query != "a=1" {
		t.Fatalf("query with '?': %+v, %v", r, err)
	}
	// Invalid UTF-8 inside strings becomes U+FFFD, as audit.Normalize does.
	raw := strings.Replace(string(marshal(t, goodFields())), "https://app.contentful.com/", "https://x/\xff\xfe", 1)
	if r, err := Parse([]byte(raw), testNow); err != nil || r.Referrer != "https://x/\uFFFD\uFFFD" {
		t.Fatalf("invalid UTF-8: %q, %v", r.Referrer, err)
	}
}

func TestParseRejects(t *testing.T) {
	good := string(marshal(t, goodFields()))
	with := func(k string, v any) string {
		f := goodFields()
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
		return string(marshal(t, f))
	}
	cases := []struct {
		name, input, field, value string
	}{
		{"not json", "{", "record", "{"},
		{"array", "[]", "record", "[]"},
		{"trailing", good + "x", "record", "x"},
		{"two objects", good + good, "record", "{"},
		{"empty", "", "record", ""},
		{"bad escape", `{"referrer":"\x"}`, "record", ""},
		{"control char", "{\"referrer\":\"a\tb\"}", "record", ""},
		{"duplicate key", strings.Replace(good, `{`, `{"org_id":"other",`, 1), "org_id", ""},
		{"missing request_id", with("request_id", nil), "request_id", ""},
		{"missing org_id", with("org_id", nil), "org_id", ""},
		{"missing time", with("request_time", nil), "request_time", ""},
		{"missing method", with("request_method", nil), "request_method", ""},
		{"missing path", with("request_path", nil), "request_path", ""},
		{"missing status", with("response_status", nil), "response_status", ""},
		{"null status", strings.Replace(good, `"response_status":200`, `"response_status":null`, 1), "response_status", ""},
		{"status as string", with("response_status", "200"), "response_status", `"200"`},
		{"status float", strings.Replace(good, `"response_status":200`, `"response_status":200.0`, 1), "response_status", "200.0"},
		{"status exp", strings.Replace(good, `"response_status":200`, `"response_status":2e2`, 1), "response_status", "2e2"},
		{"status range", with("response_status", 600), "response_status", "600"},
		{"length negative", with("content_length", -1), "content_length", "-1"},
		{"length huge", strings.Replace(good, `"content_length":1234`, `"content_length":99999999999999999999`, 1), "content_length", "99999999999999999999"},
		{"length bool", with("content_length", true), "content_length", "true"},
		{"path as number", with("request_path", 5), "request_path", "5"},
		{"method as array", with("request_method", []string{"PUT"}), "request_method", `["PUT"]`},
		{"org as object", with("org_id", map[string]int{"a": 1}), "org_id", `{"a":1}`},
		{"bad org", with("org_id", "org#1"), "org_id", "org#1"},
		{"empty request id", with("request_id", ""), "request_id", ""},
		{"request id space", with("request_id", "a b"), "request_id", "a b"},
		{"long request id", with("request_id", strings.Repeat("r", 257)), "request_id", "rrrr"},
		{"bad time", with("request_time", "2026-11-24 13:45:12"), "request_time", "2026-11-24 13:45:12"},
		{"date only", with("request_time", "2026-11-24"), "request_time", "2026-11-24"},
		{"before 2000", with("request_time", "1999-12-31T23:59:59.999Z"), "request_time", "1999-12-31T23:59:59.999Z"},
		{"far future", with("request_time", "2026-11-25T12:05:00.001Z"), "request_time", "2026-11-25T12:05:00.001Z"},
		{"year 9999", with("request_time", "9999-01-01T00:00:00Z"), "request_time", "9999"},
		{"lower-case method", with("request_method", "put"), "request_method", "put"},
		{"empty method", with("request_method", ""), "request_method", ""},
		{"relative path", with("request_path", "spaces/s1"), "request_path", "spaces/s1"},
		{"query twice", with("request_path", "/spaces/s1?a=1"), "request_path", "/spaces/s1?a=1"},
		{"long path", with("request_path", "/"+strings.Repeat("p", MaxPathLen)), "request_path", "/ppp"},
		{"long query", with("request_query", strings.Repeat("q", MaxQueryLen+1)), "request_query", "qqq"},
		{"long referrer", with("referrer", strings.Repeat("r", MaxReferrerLen+1)), "referrer", "rrr"},
		{"bad actor", with("actor_id", "bob"), "actor_id", "bob"},
		{"empty actor id", with("actor_id", "user:"), "actor_id", "user:"},
		{"actor with space", with("actor_id", "app:a b"), "actor_id", "app:a b"},
		{"too large", `{"x":"` + strings.Repeat("a", MaxRecordBytes) + `"}`, "record", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.input), testNow)
			var fe *audit.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v, want a *audit.FieldError", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("field %q, want %q: %v", fe.Field, tc.field, err)
			}
			if !strings.Contains(fe.Value, tc.value) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q: want the field %s and a value holding %q", err, tc.field, tc.value)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error is %d bytes: oversized values must be cut", len(err.Error()))
			}
		})
	}
	// The limits themselves are accepted.
	f := goodFields()
	f["request_path"] = "/" + strings.Repeat("p", MaxPathLen-1)
	f["request_query"] = strings.Repeat("q", MaxQueryLen)
	f["referrer"] = strings.Repeat("r", MaxReferrerLen)
	f["actor_id"] = "user:" + strings.Repeat("a", MaxIDLen-5)
	f["request_time"] = "2026-11-25T13:04:59.999+01:00" // now + 5 min - 1 ms
	if _, err := Parse(marshal(t, f), testNow); err != nil {
		t.Fatalf("values at the limits: %v", err)
	}
}

// TestParseAgreesWithEncodingJSON: the record reader decodes strings
// as encoding/json does.
func TestParseAgreesWithEncodingJSON(t *testing.T) {
	for _, ref := range []string{
		`plain`, `\"q\" \\ \/ \b\f\n\r\t`, `\u0041\u00e9\u20ac`, `\ud83d\ude00`, `\ud800x`, `\udc00`, `\ud800\u0041`,
		"\xff", "a\xc3", "\xed\xa0\x80", "é€😀",
	} {
		in := `{"request_id":"r1","org_id":"o1","request_time":"2026-11-24T00:00:00Z","request_method":"PUT","request_path":"/x","response_status":200,"referrer":"` + ref + `"}`
		r, err := Parse([]byte(in), testNow)
		if err != nil {
			t.Fatalf("%q: %v", ref, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatal(err)
		}
		if r.Referrer != m["referrer"] {
			t.Errorf("%q: got %q, encoding/json %q", ref, r.Referrer, m["referrer"])
		}
	}
}

// TestRecordOfRoundTrip: the record RecordOf writes for an event parses
// and classifies back to the same event, hard values included.
func TestRecordOfRoundTrip(t *testing.T) {
	e := audit.Event{OrgID: "0abc123", RequestID: "req\"1\\x", RequestTime: time.Date(2026, 11, 24, 23, 59, 59, 999e6, time.UTC),
		RequestMethod: "PUT", RequestPath: "/spaces/s1/environments/master/entries/e,1", RequestQuery: "a=1&b=\"x\"\n",
		ResponseStatus: 200, ContentLength: 12, Space: "s1", Route: "/spaces/:space_id/environments/:environment_id/entries/:entry_id",
		Referrer: "https://x/ü\u2028\x01", ActorID: "user:abc"}
	rec, err := Parse(RecordOf(&e), testNow)
	if err != nil {
		t.Fatalf("%s: %v", RecordOf(&e), err)
	}
	got, out := Config{}.Classify(&rec)
	if out.Kind != Stored || got != e {
		t.Fatalf("round trip of %s:\n got %+v (%s)\nwant %+v", RecordOf(&e), got, out.Kind, e)
	}
	var m map[string]any
	if err := json.Unmarshal(RecordOf(&e), &m); err != nil || m["space"] != nil || m["route"] != nil {
		t.Fatalf("record %s: %v (space and route must not be in it)", RecordOf(&e), err)
	}
}
