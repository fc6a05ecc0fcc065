package fileformat

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
)

func TestFormats(t *testing.T) {
	got := Formats()
	want := []Format{"csv", "csv.gz", "jsonl.gz", "parquet"}
	if len(got) != len(want) {
		t.Fatalf("Formats() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Formats() = %v, want %v", got, want)
		}
	}
	if got[0] != Default || Default != CSV {
		t.Fatalf("Default = %q, want csv first", Default)
	}
	got[0] = "changed"
	if Formats()[0] != CSV {
		t.Fatal("Formats returns the package's own slice")
	}
}

func TestParse(t *testing.T) {
	for _, f := range Formats() {
		got, err := Parse(string(f))
		if err != nil || got != f {
			t.Errorf("Parse(%q) = %q, %v", f, got, err)
		}
	}
	if got, err := Parse(""); err != nil || got != CSV {
		t.Errorf(`Parse("") = %q, %v; want csv`, got, err)
	}
	for _, s := range []string{"CSV", ".csv", "csv ", "json", "jsonl", "csv.gzip", "gz", "parquet.gz", "tsv"} {
		got, err := Parse(s)
		var fe *audit.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %q, %v; want a FieldError", s, got, err)
			continue
		}
		want := audit.FieldError{Field: "format", Value: s, Reason: "must be one of csv, csv.gz, jsonl.gz, parquet"}
		if *fe != want || got != "" {
			t.Errorf("Parse(%q) = %q, %+v; want %+v", s, got, *fe, want)
		}
	}
}

func TestNames(t *testing.T) {
	cases := []struct {
		f                     Format
		ext, ctype, cencoding string
	}{
		{CSV, ".csv", "text/csv; charset=utf-8", ""},
		{CSVGzip, ".csv.gz", "application/gzip", ""},
		{JSONLGzip, ".jsonl.gz", "application/gzip", ""},
		{Parquet, ".parquet", "application/vnd.apache.parquet", ""},
		{"tsv", "", "", ""},
	}
	for _, c := range cases {
		if got := c.f.Extension(); got != c.ext {
			t.Errorf("%q.Extension() = %q, want %q", c.f, got, c.ext)
		}
		if got := c.f.ContentType(); got != c.ctype {
			t.Errorf("%q.ContentType() = %q, want %q", c.f, got, c.ctype)
		}
		if got := c.f.ContentEncoding(); got != c.cencoding {
			t.Errorf("%q.ContentEncoding() = %q, want %q", c.f, got, c.cencoding)
		}
	}
}

func TestTrimExtension(t *testing.T) {
	cases := []struct {
		name, base string
		f          Format
		ok         bool
	}{
		{"org1/2026-11-24.csv", "org1/2026-11-24", CSV, true},
		{"org1/2026-11-24.csv.gz", "org1/2026-11-24", CSVGzip, true},
		{"org1/2026-11-24.jsonl.gz", "org1/2026-11-24", JSONLGzip, true},
		{"org1/2026-11-24.parquet", "org1/2026-11-24", Parquet, true},
		{"a.csv.csv", "a.csv", CSV, true},
		{".csv", "", CSV, true},
		{"a.gz", "a.gz", "", false},
		{"a.jsonl", "a.jsonl", "", false},
		{"a.csv.gz.tmp", "a.csv.gz.tmp", "", false},
		{"a.CSV", "a.CSV", "", false},
		{"csv", "csv", "", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		base, f, ok := TrimExtension(c.name)
		if base != c.base || f != c.f || ok != c.ok {
			t.Errorf("TrimExtension(%q) = %q, %q, %v; want %q, %q, %v", c.name, base, f, ok, c.base, c.f, c.ok)
		}
	}
	for _, f := range Formats() {
		if base, g, ok := TrimExtension("x" + f.Extension()); base != "x" || g != f || !ok {
			t.Errorf("TrimExtension of x%s = %q, %q, %v", f.Extension(), base, g, ok)
		}
	}
}

func TestNewEncoderUnknownFormat(t *testing.T) {
	enc, err := NewEncoder("tsv", io.Discard)
	var fe *audit.FieldError
	if !errors.As(err, &fe) || fe.Field != "format" || fe.Value != "tsv" || enc != nil {
		t.Fatalf("NewEncoder(tsv) = %v, %v; want a FieldError naming format tsv", enc, err)
	}
}

// TestRoundTrip writes the hard values and a generated day in every format
// and reads every row and value back with readers that share no code with
// the encoders.
func TestRoundTrip(t *testing.T) {
	events := append(hardEvents(), generated(t, 5000)...)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			compareRows(t, f, readRows(t, f, encode(t, f, events)), events)
		})
	}
}

// csvencBytes is the CSV that csvenc writes for events.
func csvencBytes(t *testing.T, events []audit.Event) []byte {
	var buf bytes.Buffer
	enc := csvenc.NewEncoder(&buf)
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

func TestCSVIsCsvencBytes(t *testing.T) {
	for name, events := range map[string][]audit.Event{
		"empty": nil, "hard": hardEvents(), "generated": generated(t, 20000),
	} {
		want := csvencBytes(t, events)
		if got := encode(t, CSV, events); !bytes.Equal(got, want) {
			t.Errorf("%s: csv differs from csvenc's bytes (%d vs %d bytes)", name, len(got), len(want))
		}
		if got := gunzip(t, encode(t, CSVGzip, events)); !bytes.Equal(got, want) {
			t.Errorf("%s: csv.gz holds other bytes than csvenc's (%d vs %d bytes)", name, len(got), len(want))
		}
	}
}

func TestEmptyFiles(t *testing.T) {
	if got, want := string(encode(t, CSV, nil)), csvenc.Header+"\r\n"; got != want {
		t.Errorf("empty csv = %q, want %q", got, want)
	}
	if got, want := string(gunzip(t, encode(t, CSVGzip, nil))), csvenc.Header+"\r\n"; got != want {
		t.Errorf("empty csv.gz holds %q, want %q", got, want)
	}
	if got := gunzip(t, encode(t, JSONLGzip, nil)); len(got) != 0 {
		t.Errorf("empty jsonl.gz holds %q, want nothing", got)
	}
	data := encode(t, Parquet, nil)
	if rows := readParquet(t, data); len(rows) != 0 {
		t.Errorf("empty parquet has %d rows", len(rows))
	}
	checkParquetMetadata(t, data, 0)
}

func TestDeterministic(t *testing.T) {
	events := hardEvents()
	for _, f := range Formats() {
		if a, b := encode(t, f, events), encode(t, f, events); !bytes.Equal(a, b) {
			t.Errorf("%s: the same rows made different files", f)
		}
	}
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct {
	n   int
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterErrorIsReturnedAndSticky(t *testing.T) {
	events := generated(t, 3000)
	for _, f := range Formats() {
		size := len(encode(t, f, events))
		for _, after := range []int{0, 100, size / 2, size - 1} {
			boom := errors.New("pipe closed")
			w := &failingWriter{n: after, err: boom}
			enc, err := NewEncoder(f, w)
			if err != nil {
				t.Fatalf("%s: NewEncoder: %v (the header is buffered)", f, err)
			}
			for i := range events {
				if err = enc.Write(&events[i]); err != nil {
					break
				}
			}
			if err == nil {
				err = enc.Close()
			}
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), "encode "+string(f)) {
				t.Fatalf("%s, failing after %d bytes: err = %v, want the writer's error with the format", f, after, err)
			}
			if err2 := enc.Write(&events[0]); !errors.Is(err2, boom) {
				t.Errorf("%s: Write after an error = %v, want the first error again", f, err2)
			}
			if err2 := enc.Close(); !errors.Is(err2, boom) {
				t.Errorf("%s: Close after an error = %v, want the first error again", f, err2)
			}
		}
	}
}

func TestWriteAfterClose(t *testing.T) {
	events := hardEvents()
	for _, f := range Formats() {
		var buf bytes.Buffer
		enc, err := NewEncoder(f, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Write(&events[1]); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		n := buf.Len()
		if err := enc.Write(&events[2]); !errors.Is(err, errClosed) {
			t.Errorf("%s: Write after Close = %v, want errClosed", f, err)
		}
		if err := enc.Close(); err != nil {
			t.Errorf("%s: second Close = %v", f, err)
		}
		if buf.Len() != n {
			t.Errorf("%s: the file grew after Close", f)
		}
		compareRows(t, f, readRows(t, f, buf.Bytes()), events[1:2])
	}
}

// TestCloseDoesNotCloseWriter: the export closes its pipe itself.
func TestCloseDoesNotCloseWriter(t *testing.T) {
	for _, f := range Formats() {
		w := &closeRecorder{}
		enc, err := NewEncoder(f, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		if w.closed {
			t.Errorf("%s: Close closed the writer", f)
		}
	}
}

type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// chunkWriter records the size of each write and how much had arrived.
type chunkWriter struct {
	n, largest int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.largest = max(w.largest, int64(len(p)))
	return len(p), nil
}

// TestFilesStream: every format hands its bytes on while rows are written,
// in writes of bounded size, instead of holding the file until Close.
func TestFilesStream(t *testing.T) {
	events := generated(t, 100000)
	for _, f := range Formats() {
		w := &chunkWriter{}
		var enc Encoder
		var err error
		if f == Parquet {
			enc, err = newParquet(w, 1<<20) // the default row group is larger than this file
		} else {
			enc, err = NewEncoder(f, w)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range events {
			if err := enc.Write(&events[i]); err != nil {
				t.Fatal(err)
			}
		}
		before := w.n
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		if before < w.n/2 {
			t.Errorf("%s: %d of %d bytes written before Close: the encoder holds the file", f, before, w.n)
		}
		if w.largest > 1<<20 {
			t.Errorf("%s: a write of %d bytes", f, w.largest)
		}
	}
}
