package lake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

func day(t *testing.T, s string) audit.Day {
	t.Helper()
	d, err := audit.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLayout(t *testing.T) {
	d := day(t, "2026-12-01")
	b := BucketOf("acme")
	if b < 0 || b >= Buckets || BucketOf("acme") != b {
		t.Fatalf("BucketOf(acme) = %d", b)
	}
	// FNV-1a 32 of "acme" is 0x45fd71af (computed independently, in Python); mod 64.
	if b != 0x45fd71af%64 {
		t.Fatalf("BucketOf(acme) = %d, want %d", b, 0x45fd71af%64)
	}
	seen := map[int]bool{}
	for i := range 2000 {
		seen[BucketOf("org-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('0'+i%10))+string(rune('a'+i/260)))] = true
	}
	if len(seen) < Buckets*3/4 {
		t.Fatalf("2000 org IDs fell into %d of %d buckets", len(seen), Buckets)
	}
	want := "lake/day=2026-12-01/bucket=" + BucketName(b) + "/org=acme/events.ndjson.gz"
	if got := OrgDayKey("acme", d); got != want {
		t.Fatalf("OrgDayKey = %s, want %s", got, want)
	}
	if got := ManifestKey(d, 7); got != "lake/manifests/day=2026-12-01/bucket=007.json" {
		t.Fatalf("ManifestKey = %s", got)
	}
	key := RawBucketPrefix(d, 17) + "auditlogs-raw-1-2026-12-01-13-05-09-abc.gz"
	if key != "raw/day=2026-12-01/bucket=017/auditlogs-raw-1-2026-12-01-13-05-09-abc.gz" {
		t.Fatalf("raw key = %s", key)
	}
	gd, gb, err := ParseRawKey(key)
	if err != nil || gd != d || gb != 17 {
		t.Fatalf("ParseRawKey(%s) = %s %d %v", key, gd, gb, err)
	}
	for _, bad := range []string{"raw/x", "raw/day=2026-13-01/bucket=001/a", "raw/day=2026-12-01/bucket=064/a", "raw/day=2026-12-01/bucket=001/", "other/day=2026-12-01/bucket=001/a"} {
		if _, _, err := ParseRawKey(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseRawKey(%q): %v, want an error naming the key", bad, err)
		}
	}
}

func sample() audit.Event {
	return audit.Event{
		OrgID: "acme", RequestID: "req-1", RequestTime: time.Date(2026, 12, 1, 13, 45, 12, 345e6, time.UTC),
		RequestMethod: "PUT", RequestPath: "/spaces/sp1/entries/e1", RequestQuery: `a=1&b="q"\ü<>&`,
		ResponseStatus: 200, ContentLength: 512, Space: "sp1", Route: "/spaces/:space/entries/:entry",
		Referrer: "https://app.contentful.com/?x=\u2028", ActorID: "user:1",
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	e := sample()
	var buf []byte
	buf = AppendRaw(buf, &e)
	other := e
	other.OrgID, other.RequestQuery, other.Space, other.Referrer, other.ActorID, other.ContentLength = "globex", "", "", "", "", 0
	buf = AppendEvent(buf, &other)
	// The documented format: what audit's own decoder reads.
	lines := bytes.Split(bytes.TrimSpace(buf), []byte("\n"))
	var viaAudit audit.Event
	if err := json.Unmarshal(lines[1], &viaAudit); err != nil || viaAudit != other {
		t.Fatalf("audit decodes an org-day line as %+v, %v", viaAudit, err)
	}
	r := NewReader(bytes.NewReader(buf))
	var got audit.Event
	bucket, err := r.Next(&got)
	if err != nil || got != e || bucket != BucketName(BucketOf("acme")) {
		t.Fatalf("raw record: %+v bucket %q %v, want %+v", got, bucket, err, e)
	}
	bucket, err = r.Next(&got)
	if err != nil || got != other || bucket != "" {
		t.Fatalf("org-day line: %+v bucket %q %v", got, bucket, err)
	}
	if _, err := r.Next(&got); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

func TestReaderRefuses(t *testing.T) {
	good := string(AppendEvent(nil, ptr(sample())))
	for _, c := range []struct{ in, want string }{
		{strings.Replace(good, `"space"`, `"spaces"`, 1), `spaces`},
		{strings.Replace(good, `"response_status":200`, `"response_status":"200"`, 1), `response_status`},
		{strings.Replace(good, `"response_status":200,`, ``, 1), `response_status "": is required`},
		{strings.Replace(good, `2026-12-01T13:45:12.345Z`, `2026-12-01 13:45`, 1), `2026-12-01 13:45`},
		{strings.Replace(good, `"org_id":"acme"`, `"org_id":"a"`, 1), `org_id`},
		{`[1]`, `not a JSON object`},
		{good + `{"org_id":`, `record 2`},
	} {
		r := NewReader(strings.NewReader(c.in))
		var e audit.Event
		var err error
		for err == nil {
			_, err = r.Next(&e)
		}
		if err == io.EOF || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60s…: %v, want an error containing %q", c.in, err, c.want)
		}
		var fe *audit.FieldError
		if strings.Contains(c.want, "_") && !errors.As(err, &fe) {
			t.Errorf("%.60s…: %v is not a FieldError", c.in, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A raw record is the event with short keys and its bucket, read back
// as the same event; an org-day line keeps the format's keys.
func TestRawRecordRoundTrip(t *testing.T) {
	e := audit.Event{OrgID: "acme", RequestID: "r1", RequestTime: time.Date(2026, 12, 1, 23, 59, 1, 5e6, time.UTC), RequestMethod: "PATCH",
		RequestPath: "/spaces/s/entries/e", RequestQuery: "a=1", ResponseStatus: 200, ContentLength: 12, Space: "s", Route: "/spaces/:space_id/entries/:entry_id",
		Referrer: "https://x/y", ActorID: "user:u"}
	raw, line := AppendRaw(nil, &e), AppendEvent(nil, &e)
	if len(raw) >= len(line) || bytes.Contains(raw, []byte(`"request_time"`)) || !bytes.Contains(raw, []byte(`"`+KeyTime+`":"2026-12-01T23:59:01.005Z"`)) {
		t.Fatalf("raw record %s (%d bytes), line %d bytes", raw, len(raw), len(line))
	}
	for _, in := range [][]byte{raw, line} {
		var got audit.Event
		bucket, err := NewReader(bytes.NewReader(in)).Next(&got)
		if err != nil || got != e {
			t.Fatalf("read %s: %+v, %v", in, got, err)
		}
		if want := ""; bytes.Equal(in, raw) {
			want = BucketName(BucketOf("acme"))
			if bucket != want {
				t.Fatalf("bucket %q, want %q", bucket, want)
			}
		}
	}
	var got audit.Event
	if _, err := NewReader(bytes.NewReader([]byte(`{"o":"acme","i":"r","t":"2026-12-01T00:00:00.000Z","m":"PUT","p":"/x","s":"200"}`))).Next(&got); err == nil || !strings.Contains(err.Error(), "response_status") {
		t.Fatalf("a raw record's wrong value: %v, want an error naming response_status", err)
	}
}
