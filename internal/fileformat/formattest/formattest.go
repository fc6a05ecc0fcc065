// Package formattest reads the delivered file formats back for tests,
// with readers that share no code with internal/fileformat's encoders:
// the standard library's gzip, CSV and JSON, and Apache Arrow's Parquet
// reader. Each returns the file's rows as the CSV's text of the ten
// columns, so that every format is compared with one expectation
// (WantRow). It is test code: no production package imports it, and it
// imports no package of this module but audit and csvenc (not fileformat,
// whose own tests use it).
package formattest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
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
)

// Columns are the ten columns, in the CSV header's order.
var Columns = strings.Split(csvenc.Header, ",")

// WantRow is the CSV's text of e's ten columns, written out from the
// rules (audit.TimeLayout in UTC, each run of invalid UTF-8 one U+FFFD)
// rather than with the encoders' code.
func WantRow(e *audit.Event) []string {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	return []string{
		e.RequestTime.UTC().Format(audit.TimeLayout), fix(e.RequestMethod), fix(e.RequestPath), fix(e.RequestQuery),
		strconv.Itoa(e.ResponseStatus), strconv.FormatInt(e.ContentLength, 10),
		fix(e.Space), fix(e.Route), fix(e.Referrer), fix(e.ActorID),
	}
}

// Gunzip decompresses one gzip file, failing on anything else (a bad
// trailer, a second member, bytes after the end).
func Gunzip(t testing.TB, data []byte) []byte {
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

// ReadCSV parses a CSV file with encoding/csv and checks its header.
func ReadCSV(t testing.TB, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = len(Columns)
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("standard CSV reader: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != csvenc.Header {
		t.Fatalf("header = %q, want %q", recs[0], csvenc.Header)
	}
	return recs[1:]
}

// ReadJSONL parses JSON Lines with encoding/json: one object a line, the
// ten keys in header order, the two numeric columns integer JSON numbers
// and the others strings.
func ReadJSONL(t testing.TB, data []byte) [][]string {
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
		row := make([]string, len(Columns))
		for i, c := range Columns {
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

// ReadParquet reads a Parquet file with Apache Arrow and returns its rows
// as text: the timestamp in audit.TimeLayout, the integers in decimal.
func ReadParquet(t testing.TB, data []byte) [][]string {
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
	if int(tbl.NumCols()) != len(Columns) {
		t.Fatalf("Columns = %d, want %d", tbl.NumCols(), len(Columns))
	}
	rows := make([][]string, tbl.NumRows())
	for i := range rows {
		rows[i] = make([]string, len(Columns))
	}
	for c := range Columns {
		col := tbl.Column(c)
		if col.Name() != Columns[c] {
			t.Fatalf("column %d is %s, want %s", c, col.Name(), Columns[c])
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

// Rows reads a file of any format (a fileformat.Format's name) back.
func Rows(t testing.TB, format string, data []byte) [][]string {
	t.Helper()
	switch format {
	case "csv":
		return ReadCSV(t, data)
	case "csv.gz":
		return ReadCSV(t, Gunzip(t, data))
	case "jsonl.gz":
		return ReadJSONL(t, Gunzip(t, data))
	case "parquet":
		return ReadParquet(t, data)
	}
	t.Fatalf("no reader for %q", format)
	return nil
}
