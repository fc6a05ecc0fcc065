package fileformat

// Readers of each format that share no code with the encoders: the
// standard library's gzip, CSV and JSON, and Apache Arrow's Parquet reader.
// Each returns the file's rows as the CSV's text of the ten columns, so
// that every format is compared with the same expectation (wantRow).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
)

var columns = strings.Split(csvenc.Header, ",")

// wantRow is the CSV's text of e's ten columns, written out from the
// rules (audit.TimeLayout in UTC, each run of invalid UTF-8 one U+FFFD)
// rather than with the encoders' code.
func wantRow(e *audit.Event) []string {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	return []string{
		e.RequestTime.UTC().Format(audit.TimeLayout), fix(e.RequestMethod), fix(e.RequestPath), fix(e.RequestQuery),
		strconv.Itoa(e.ResponseStatus), strconv.FormatInt(e.ContentLength, 10),
		fix(e.Space), fix(e.Route), fix(e.Referrer), fix(e.ActorID),
	}
}

// encode writes events as a file of format f.
func encode(t testing.TB, f Format, events []audit.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := NewEncoder(f, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if err := enc.Write(&events[i]); err != nil {
			t.Fatalf("write row %d: %v", i, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gunzip decompresses one gzip file, failing on anything else (a bad
// trailer, a second member, bytes after the end).
func gunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	r := bytes.NewReader(data)
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("not a gzip file: %v", err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the gzip member", r.Len())
	}
	return out
}

// readCSV parses a CSV file with encoding/csv and checks its header.
func readCSV(t testing.TB, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = len(columns)
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("standard CSV reader: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != csvenc.Header {
		t.Fatalf("header = %q, want %q", recs[0], csvenc.Header)
	}
	return recs[1:]
}

// readJSONL parses JSON Lines with encoding/json: one object a line, the
// ten keys in header order, the two numeric columns integer JSON numbers
// and the others strings.
func readJSONL(t testing.TB, data []byte) [][]string {
	t.Helper()
	if !utf8.Valid(data) {
		t.Fatal("JSON Lines are not valid UTF-8")
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatal("the last line does not end with LF")
	}
	var rows [][]string
	for n, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if bytes.ContainsAny(line[:len(line)-1], "\r\n") {
			t.Fatalf("line %d holds a raw CR or LF: %q", n, line)
		}
		keys := jsonKeys(t, line)
		if strings.Join(keys, ",") != csvenc.Header {
			t.Fatalf("line %d keys = %v, want %s in that order", n, keys, csvenc.Header)
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			t.Fatalf("line %d: %v: %q", n, err, line)
		}
		if d.More() {
			t.Fatalf("line %d holds more than one value: %q", n, line)
		}
		var plain map[string]any // numbers as float64, as most readers see them
		if err := json.Unmarshal(line, &plain); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(columns))
		for i, c := range columns {
			switch v := obj[c].(type) {
			case json.Number:
				if c != "response_status" && c != "content_length" {
					t.Fatalf("line %d: %s is a number, want a string", n, c)
				}
				if _, err := strconv.ParseInt(v.String(), 10, 64); err != nil {
					t.Fatalf("line %d: %s = %s is not an integer literal", n, c, v)
				}
				if f, ok := plain[c].(float64); !ok || f != math.Trunc(f) {
					t.Fatalf("line %d: %s decodes to %T %v", n, c, plain[c], plain[c])
				}
				row[i] = v.String()
			case string:
				if c == "response_status" || c == "content_length" {
					t.Fatalf("line %d: %s is a string, want a number", n, c)
				}
				row[i] = v
			default:
				t.Fatalf("line %d: %s is %T", n, c, v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// jsonKeys returns the keys of the object in line in the order written.
func jsonKeys(t testing.TB, line []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", line)
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// readParquet reads a Parquet file with Apache Arrow and returns its rows
// as text: the timestamp in audit.TimeLayout, the integers in decimal.
func readParquet(t testing.TB, data []byte) [][]string {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow: open: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow: read: %v", err)
	}
	defer tbl.Release()
	if int(tbl.NumCols()) != len(columns) {
		t.Fatalf("columns = %d, want %d", tbl.NumCols(), len(columns))
	}
	rows := make([][]string, tbl.NumRows())
	for i := range rows {
		rows[i] = make([]string, len(columns))
	}
	for c := range columns {
		col := tbl.Column(c)
		if col.Name() != columns[c] {
			t.Fatalf("column %d is %s, want %s", c, col.Name(), columns[c])
		}
		r := 0
		for _, chunk := range col.Data().Chunks() {
			if chunk.NullN() != 0 {
				t.Fatalf("column %s has %d nulls", col.Name(), chunk.NullN())
			}
			for i := 0; i < chunk.Len(); i++ {
				rows[r][c] = arrowText(t, chunk, i)
				r++
			}
		}
		if r != len(rows) {
			t.Fatalf("column %s has %d values, the table %d rows", col.Name(), r, len(rows))
		}
	}
	return rows
}

func arrowText(t testing.TB, a arrow.Array, i int) string {
	switch a := a.(type) {
	case *array.Timestamp:
		if tt := a.DataType().(*arrow.TimestampType); tt.Unit != arrow.Millisecond || tt.TimeZone != "UTC" {
			t.Fatalf("timestamp type %s, want milliseconds in UTC", tt)
		}
		return time.UnixMilli(int64(a.Value(i))).UTC().Format(audit.TimeLayout)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.String:
		return a.Value(i)
	}
	t.Fatalf("unexpected Arrow array %T", a)
	return ""
}

// readRows reads a file of any format back.
func readRows(t testing.TB, f Format, data []byte) [][]string {
	t.Helper()
	switch f {
	case CSV:
		return readCSV(t, data)
	case CSVGzip:
		return readCSV(t, gunzip(t, data))
	case JSONLGzip:
		return readJSONL(t, gunzip(t, data))
	case Parquet:
		return readParquet(t, data)
	}
	t.Fatalf("no reader for %q", f)
	return nil
}

// compareRows checks every row and value read back against the events.
// The CSV reader folds a CRLF inside a quoted field into LF (documented
// by encoding/csv), so for the CSV formats the expectation is folded too;
// that the bytes are csvenc's is checked byte for byte elsewhere.
func compareRows(t testing.TB, f Format, got [][]string, events []audit.Event) {
	t.Helper()
	if len(got) != len(events) {
		t.Fatalf("%s: %d rows read back, want %d", f, len(got), len(events))
	}
	for i := range events {
		want := wantRow(&events[i])
		for c := range want {
			w := want[c]
			if f == CSV || f == CSVGzip {
				w = strings.ReplaceAll(w, "\r\n", "\n")
			}
			if got[i][c] != w {
				t.Fatalf("%s: row %d %s = %q, want %q", f, i, columns[c], got[i][c], w)
			}
		}
	}
}

// generated returns n events of genstore's day, copied out of the Event
// it reuses.
func generated(t testing.TB, n int64) []audit.Event {
	t.Helper()
	day, _ := audit.ParseDay("2026-11-24")
	events := make([]audit.Event, 0, n)
	err := (&genstore.Store{Events: n}).ReadDay(context.Background(), "org1", day, func(e *audit.Event) error {
		events = append(events, *e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// hardEvents holds the values every format must carry through: CSV's
// special characters, JSON's, line breaks of every kind, invalid UTF-8 in
// every text column, empty values, non-ASCII, ties in time, extreme
// numbers and times, in time order as the export writes them.
func hardEvents() []audit.Event {
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	base := audit.Event{
		OrgID: "org1", RequestMethod: "PUT", RequestPath: "/spaces/sp1/entries/e1", RequestQuery: "locale=en-US",
		ResponseStatus: 200, ContentLength: 1234, Space: "sp1", Route: "/spaces/:space_id/entries/:entry_id",
		Referrer: "https://app.contentful.com/spaces/sp1", ActorID: "user:2YVRzNgF2sE64ooav1eKSd",
	}
	type change func(*audit.Event)
	cases := []change{
		func(e *audit.Event) { e.RequestTime = day }, // the first instant of the day
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a,b", "x=1,2", "https://r/," },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = `/a"b`, `q="x"`, `"quoted"` },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\nb", "x=\n", "\nlead" },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\rb", "x=\r", "trail\r" },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\r\nb", "x=\r\n\r\n", "\r\n" },
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = `/a\b\`, "tab=\t&nul=\x00&bell=\x07&esc=\x1b&del=\x7f", `\"`
		},
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery = "/bad\xff\xfepath", "q=\xc3"
			e.Space, e.Route, e.Referrer, e.ActorID = "sp\x80", "/r\xe2\x82", "ref\x80,x", "user:\xed\xa0\x80" // a surrogate half is invalid too
		},
		func(e *audit.Event) { e.RequestMethod = "PAT\xffCH" }, // an unvalidated event still makes valid text
		func(e *audit.Event) { e.RequestQuery, e.Space, e.Route, e.Referrer, e.ActorID = "", "", "", "", "" },
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = "/entries/ünïcödé/日本", "title=Grüße&emoji=😀", "https://r/ß"
		},
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = "/ls\u2028ps\u2029nel\u0085", "a=\u2028", "\ufeffbom"
		},
		func(e *audit.Event) { e.RequestPath, e.Referrer = " /lead", "  " },
		func(e *audit.Event) { e.ContentLength, e.ResponseStatus = 0, 100 },
		func(e *audit.Event) { e.ContentLength, e.ResponseStatus = 1<<53+1, 599 }, // not exact as a float64
		func(e *audit.Event) { e.ContentLength = math.MaxInt64 },
		func(e *audit.Event) { e.RequestPath = "/" + strings.Repeat("long,\"path\"/", 680) }, // 8 KiB
		func(e *audit.Event) { e.RequestPath = "/all,\"at\"\n\r\nonce\xff\\\u2028" },
	}
	var events []audit.Event
	t := day.Add(13*time.Hour + 45*time.Minute)
	for i, c := range cases {
		e := base
		e.RequestID = fmt.Sprintf("r%02d", i)
		e.RequestTime = t.Add(time.Duration(i) * time.Millisecond)
		if i%3 == 2 {
			e.RequestTime = events[i-1].RequestTime // a tie with the row before
		}
		c(&e)
		events = append(events, e)
	}
	// A time with nanoseconds in another zone: written in UTC, truncated
	// to the millisecond. Then the last millisecond of the day.
	e := base
	e.RequestID, e.RequestTime = "r-cet", time.Date(2026, 11, 24, 23, 59, 59, 998765432, time.FixedZone("CET", 3600)).Add(time.Hour)
	events = append(events, e)
	e.RequestID, e.RequestTime = "r-last", day.Add(24*time.Hour-time.Millisecond)
	events = append(events, e)
	return events
}
