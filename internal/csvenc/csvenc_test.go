package csvenc

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
)

func event(path, query, referrer string) audit.Event {
	return audit.Event{
		OrgID: "org1", RequestID: "r1",
		RequestTime:   time.Date(2026, 11, 24, 13, 45, 12, 345678901, time.FixedZone("CET", 3600)),
		RequestMethod: "PATCH", RequestPath: path, RequestQuery: query,
		ResponseStatus: 200, ContentLength: 1234, Space: "sp1",
		Route: "/spaces/:space_id/entries/:entry_id", Referrer: referrer, ActorID: "user:2YVRzNgF2sE64ooav1eKSd",
	}
}

func encode(t *testing.T, events ...audit.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	if err := enc.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if err := enc.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHeaderOnly(t *testing.T) {
	got := string(encode(t))
	want := "request_time,request_method,request_path,request_query,response_status,content_length,space,route,referrer,actor_id\r\n"
	if got != want {
		t.Fatalf("empty file = %q, want %q", got, want)
	}
}

func TestRowFormat(t *testing.T) {
	got := string(encode(t, event("/spaces/sp1/entries/e1", "a=1&b=2", "https://app.example.com/x")))
	row := strings.SplitN(got, "\r\n", 2)[1]
	// 13:45:12.345678901 at UTC+1 is 12:45:12.345 UTC: converted, truncated to ms.
	want := "2026-11-24T12:45:12.345Z,PATCH,/spaces/sp1/entries/e1,a=1&b=2,200,1234,sp1,/spaces/:space_id/entries/:entry_id,https://app.example.com/x,user:2YVRzNgF2sE64ooav1eKSd\r\n"
	if row != want {
		t.Fatalf("row =\n%q\nwant\n%q", row, want)
	}
}

func TestQuotingRoundTrip(t *testing.T) {
	cases := []struct{ name, path, query, referrer string }{
		{"comma", "/a,b", "x=1,2", "https://r/,"},
		{"quotes", `/a"b`, `q="x"`, `"quoted"`},
		{"lf", "/a\nb", "x=\n", "\nlead"},
		{"lone cr", "/a\rb", "x=\r", "trail\r"},
		{"non-ascii", "/entries/ünïcödé/日本", "title=Grüße&emoji=😀", "https://r/ß"},
		{"spaces kept", " /lead", "trail ", "  "},
		{"empty", "/", "", ""},
		{"all at once", "/a,\"b\"\n\r\nc", "\"\",,", ",\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := encode(t, event(tc.path, tc.query, tc.referrer))
			r := csv.NewReader(bytes.NewReader(out))
			r.FieldsPerRecord = 10
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatalf("standard CSV reader: %v\n%q", err, out)
			}
			if len(recs) != 2 {
				t.Fatalf("got %d records, want header and one row", len(recs))
			}
			// encoding/csv folds CRLF inside a quoted field to LF when it
			// reads (documented); the bytes in the file are checked below.
			norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
			for i, want := range map[int]string{2: tc.path, 3: tc.query, 8: tc.referrer} {
				if recs[1][i] != norm(want) {
					t.Errorf("field %d = %q, want %q", i, recs[1][i], norm(want))
				}
			}
			// Every value stands in the file byte for byte (quoted where needed).
			for _, v := range []string{tc.path, tc.query, tc.referrer} {
				q := v
				if strings.ContainsAny(v, ",\"\r\n") {
					q = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
				}
				if !bytes.Contains(out, []byte(","+q+",")) {
					t.Errorf("file does not hold %q as the field %q", v, q)
				}
			}
		})
	}
}

func TestInvalidUTF8Replaced(t *testing.T) {
	out := encode(t, event("/bad\xff\xfepath", "q=\xc3", "ref\x80,x"))
	if !utf8.Valid(out) {
		t.Fatalf("file is not valid UTF-8: %q", out)
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{2: "/bad\uFFFDpath", 3: "q=\uFFFD", 8: "ref\uFFFD,x"} {
		if recs[1][i] != want {
			t.Errorf("field %d = %q, want %q", i, recs[1][i], want)
		}
	}
}

func TestManyRowsFlushInChunks(t *testing.T) {
	var events []audit.Event
	for i := 0; i < 2000; i++ {
		e := event("/p/"+strconv.Itoa(i), "a,b", "r")
		e.ContentLength = int64(i)
		events = append(events, e)
	}
	w := &countingWriter{}
	enc := NewEncoder(w)
	_ = enc.WriteHeader()
	for i := range events {
		if err := enc.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(w.buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2001 {
		t.Fatalf("records = %d, want 2001", len(recs))
	}
	for i, rec := range recs[1:] {
		if rec[5] != strconv.Itoa(i) {
			t.Fatalf("row %d content_length = %s", i, rec[5])
		}
	}
	if w.writes < 2 {
		t.Fatalf("writes = %d: a large file must be written in chunks, not held whole", w.writes)
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	if len(p) > flushAt+4096 {
		return 0, errTooLarge
	}
	return c.buf.Write(p)
}

var errTooLarge = bytes.ErrTooLarge

func BenchmarkEncode(b *testing.B) {
	e := event("/spaces/abc123/environments/master/entries/5KsDBWseXY6QegucYAoacS", "fields.title=x&locale=en-US", "https://app.contentful.com/spaces/abc123/entries/5KsDBWseXY6QegucYAoacS")
	enc := NewEncoder(discard{})
	b.ReportAllocs()
	for b.Loop() {
		_ = enc.Write(&e)
	}
	_ = enc.Flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestTimeMatchesRFC3339Millis(t *testing.T) {
	var e TimeFormat
	start := time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)
	// Steps of a prime number of milliseconds walk across days, month and
	// year ends, leap days and the 1970 boundary.
	for i := 0; i < 200000; i++ {
		tm := start.Add(time.Duration(i) * (time.Hour + 7919*time.Millisecond)) // about 23 years
		got := string(e.Append(nil, tm))
		want := tm.UTC().Format(audit.TimeLayout)
		if got != want {
			t.Fatalf("Append(%v) = %s, want %s", tm, got, want)
		}
	}
	for _, tm := range []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999000000, time.UTC),
		time.Date(2026, 11, 24, 0, 30, 0, 0, time.FixedZone("", -3600)),
	} {
		if got, want := string(e.Append(nil, tm)), tm.UTC().Format(audit.TimeLayout); got != want {
			t.Fatalf("Append(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestScanAgreesWithByteLoop(t *testing.T) {
	specials := []byte{',', '"', '\r', '\n', 0x80, 0xff, 'a', ' ', 0x7f, 0x00, 0x2b, 0x2d}
	for n := 0; n < 40; n++ {
		for pos := 0; pos < n; pos++ {
			for _, c := range specials {
				b := bytes.Repeat([]byte("x"), n)
				b[pos] = c
				s := string(b)
				q, na := scan(s)
				wantQ := strings.ContainsAny(s, ",\"\r\n")
				wantNA := false
				for i := 0; i < len(s); i++ {
					wantNA = wantNA || s[i] >= 0x80
				}
				if q != wantQ || na != wantNA {
					t.Fatalf("scan(%q) = %v,%v want %v,%v", s, q, na, wantQ, wantNA)
				}
			}
		}
	}
}
