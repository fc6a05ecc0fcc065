package audit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func validEvent() Event {
	return Event{
		OrgID: "0rg1D", RequestID: "req-1", RequestTime: time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC),
		RequestMethod: "PUT", RequestPath: "/spaces/s1/entries/e1", ResponseStatus: 200, ContentLength: 10,
		Space: "s1", Route: "/spaces/:space_id/entries/:entry_id", ActorID: "user:1",
	}
}

func TestValidateNamesFieldAndValue(t *testing.T) {
	cases := []struct {
		field string
		value string
		mut   func(*Event)
	}{
		{"org_id", "a", func(e *Event) { e.OrgID = "a" }},
		{"org_id", "org#1", func(e *Event) { e.OrgID = "org#1" }},
		{"request_id", "", func(e *Event) { e.RequestID = "" }},
		{"request_id", "has space", func(e *Event) { e.RequestID = "has space" }},
		{"request_time", "", func(e *Event) { e.RequestTime = time.Time{} }},
		{"request_time", "1999-12-31T23:59:59Z", func(e *Event) { e.RequestTime = time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC) }},
		{"request_method", "GET", func(e *Event) { e.RequestMethod = "GET" }},
		{"request_method", "put", func(e *Event) { e.RequestMethod = "put" }},
		{"request_path", "spaces/x", func(e *Event) { e.RequestPath = "spaces/x" }},
		{"request_query", "", func(e *Event) { e.RequestQuery = strings.Repeat("q", MaxQueryLen+1) }},
		{"response_status", "99", func(e *Event) { e.ResponseStatus = 99 }},
		{"response_status", "600", func(e *Event) { e.ResponseStatus = 600 }},
		{"content_length", "-1", func(e *Event) { e.ContentLength = -1 }},
		{"referrer", "", func(e *Event) { e.Referrer = strings.Repeat("r", MaxReferrerLen+1) }},
		{"actor_id", "", func(e *Event) { e.ActorID = strings.Repeat("a", MaxShortLen+1) }},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			e := validEvent()
			tc.mut(&e)
			err := e.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("field = %s, want %s (err: %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name the field", err)
			}
			if tc.value != "" && !strings.Contains(err.Error(), tc.value) {
				t.Fatalf("error %q does not show the value %q", err, tc.value)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error is %d bytes long: oversized values must be cut", len(err.Error()))
			}
		})
	}
	e := validEvent()
	if err := e.Validate(); err != nil {
		t.Fatalf("valid event: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	e := validEvent()
	e.RequestPath = "/a\xffb"
	e.RequestTime = time.Date(2026, 11, 24, 14, 45, 12, 345999999, time.FixedZone("CET", 3600))
	e.Normalize()
	if e.RequestPath != "/a\uFFFDb" {
		t.Errorf("path = %q", e.RequestPath)
	}
	if want := time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC); !e.RequestTime.Equal(want) || e.RequestTime.Location() != time.UTC {
		t.Errorf("time = %v, want %v", e.RequestTime, want)
	}
}

func TestNDJSONRoundTrip(t *testing.T) {
	in := []Event{validEvent(), validEvent()}
	in[1].RequestID = "req-2"
	in[1].RequestQuery = "a=\"1\",b=\n"
	in[1].Referrer = "https://x/ü"
	var buf bytes.Buffer
	if err := WriteNDJSON(&buf, in...); err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(buf.String(), "\n", 2)[0]
	for _, k := range append(Columns, "org_id", "request_id") {
		if !strings.Contains(line, `"`+k+`":`) {
			t.Errorf("wire line lacks key %s: %s", k, line)
		}
	}
	var out []Event
	if err := ReadNDJSON(&buf, func(e Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestReadNDJSONErrors(t *testing.T) {
	good := `{"org_id":"org1","request_id":"r1","request_time":"2026-11-24T00:00:00.000Z","request_method":"PUT","request_path":"/x","response_status":200}`
	cases := []struct{ name, input, want string }{
		{"unknown key", strings.Replace(good, `"request_id"`, `"extra":1,"request_id"`, 1), `unknown field "extra"`},
		{"missing key", strings.Replace(good, `"response_status":200`, `"content_length":1`, 1), "response_status"},
		{"bad time", strings.Replace(good, "2026-11-24T00:00:00.000Z", "yesterday", 1), `request_time "yesterday"`},
		{"bad method", strings.Replace(good, "PUT", "GET", 1), `request_method "GET"`},
		{"not json", "{", "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := ReadNDJSON(strings.NewReader(good+"\n"+tc.input+"\n"), func(Event) error { n++; return nil })
			var le *LineError
			if !errors.As(err, &le) || le.Line != 2 {
				t.Fatalf("err = %v, want a LineError for line 2", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
			if n != 1 {
				t.Fatalf("fn called %d times before the bad line, want 1", n)
			}
		})
	}
}

func TestDay(t *testing.T) {
	d, err := ParseDay("2026-11-24")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Contains(time.Date(2026, 11, 24, 23, 59, 59, 999e6, time.UTC)) || d.Contains(d.End()) || !d.Contains(d.Start()) {
		t.Fatal("Contains is wrong at the day's edges")
	}
	if DayOf(time.Date(2026, 11, 25, 0, 30, 0, 0, time.FixedZone("", 3600))) != d {
		t.Fatal("DayOf must use UTC")
	}
	for _, bad := range []string{"2026-11-31", "20261124", "2026-11-24T00:00:00Z", ""} {
		if _, err := ParseDay(bad); err == nil || !strings.Contains(err.Error(), "day") {
			t.Errorf("ParseDay(%q) = %v, want an error naming day", bad, err)
		}
	}
}

// TestValidOrgIDIsThePattern: the written-out org ID rule is the regular
// expression it stands for, on the edges of each of its parts; Printable
// is the rule for IDs, ASCII and not.
func TestValidOrgIDIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$`)
	for _, id := range []string{"", "a", "ab", "0a", "_a", "-a", "a-", "a_", "Az09-_", "a b", "a.b", "a#b", "é1", "1é", "a\n",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a\x00", "A" + strings.Repeat("-", 63)} {
		if got, want := ValidOrgID(id), pattern.MatchString(id); got != want {
			t.Errorf("ValidOrgID(%q) = %v, the pattern says %v", id, got, want)
		}
		if got, want := ValidateOrgID(id) == nil, pattern.MatchString(id); got != want {
			t.Errorf("ValidateOrgID(%q) = %v", id, ValidateOrgID(id))
		}
	}
	for s, want := range map[string]bool{"": true, "req-1": true, "ü-1": true, "a b": false, "a\tb": false, "a\x7f": false,
		"ü\u00a0": true, "ü\x01": false, "ab\xff": false, "\uFFFD": false, "😀\u2028": true} {
		if got := Printable(s); got != want {
			t.Errorf("Printable(%q) = %v, want %v", s, got, want)
		}
	}
}

// testPAT has the shape of a platform personal access token (made up).
var testPAT = "CFPAT-" + strings.Repeat("k9_Z-", 8) + "xyz"

func TestNormalizeRedacts(t *testing.T) {
	e := validEvent()
	e.RequestQuery = "access_token=" + testPAT + "&locale=en"
	e.Referrer = "https://example.com/cb?state=1#access_token=ya29.abc&token_type=bearer"
	e.RequestPath = "/spaces/s1/entries/e1?Password=hunter2&x=" + testPAT
	e.Normalize()
	// Messages mask the token: no test output prints one.
	if e.RequestQuery != "access_token=REDACTED&locale=en" {
		t.Errorf("query = %s", mask(e.RequestQuery))
	}
	if e.Referrer != "https://example.com/cb?state=1#access_token=REDACTED&token_type=bearer" {
		t.Errorf("referrer = %s", mask(e.Referrer))
	}
	if e.RequestPath != "/spaces/s1/entries/e1?Password=REDACTED&x=REDACTED" {
		t.Errorf("path = %s", mask(e.RequestPath))
	}
	before := e
	e.Normalize()
	if e != before {
		t.Errorf("Normalize is not idempotent")
	}
	// A path without '?' is kept as it is, whatever it holds.
	e = validEvent()
	e.RequestPath = "/spaces/token=x/entries/" + testPAT
	e.Normalize()
	if e.RequestPath != "/spaces/token=x/entries/"+testPAT {
		t.Errorf("path without a query changed: %s", mask(e.RequestPath))
	}
}

// TestRedactedLengthLimit: the limits hold for the value as stored. A
// query at the limit whose short credential values grow to REDACTED is
// over it, and the error says why without the credential; a long token
// shrinks to REDACTED and the event is valid.
func TestRedactedLengthLimit(t *testing.T) {
	unit := "sig=s3cr&"
	e := validEvent()
	e.RequestQuery = strings.Repeat(unit, MaxQueryLen/len(unit))
	e.RequestQuery += strings.Repeat("x", MaxQueryLen-len(e.RequestQuery))
	if len(e.RequestQuery) != MaxQueryLen {
		t.Fatal(len(e.RequestQuery))
	}
	e.Normalize()
	err := e.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "request_query" || !strings.Contains(fe.Reason, "redacted") {
		t.Fatalf("err = %v, want a request_query error naming the redaction", err)
	}
	if strings.Contains(err.Error(), "s3cr") {
		t.Fatal("the error holds a credential value")
	}
	e = validEvent()
	e.RequestQuery = "token=" + strings.Repeat("t", MaxQueryLen-len("token="))
	e.Normalize()
	if err := e.Validate(); err != nil || e.RequestQuery != "token=REDACTED" {
		t.Fatalf("query %s: %v", mask(e.RequestQuery), err)
	}
}

// TestReadNDJSONRedacts: events read from NDJSON (auditctl events load)
// come out redacted.
func TestReadNDJSONRedacts(t *testing.T) {
	in := validEvent()
	in.RequestQuery = "X-Amz-Signature=abc&access%5Ftoken=" + testPAT
	in.Referrer = "https://app.example.com/?q=" + testPAT
	var buf bytes.Buffer
	if err := WriteNDJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	var got []Event
	if err := ReadNDJSON(&buf, func(e Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].RequestQuery != "X-Amz-Signature=REDACTED&access%5Ftoken=REDACTED" || got[0].Referrer != "https://app.example.com/?q=REDACTED" {
		t.Fatalf("read %s", mask(fmt.Sprintf("%+v", got)))
	}
}

func mask(s string) string { return strings.ReplaceAll(s, testPAT, "<test token>") }
