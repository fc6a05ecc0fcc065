// Package fileformat names the formats a day's file can be delivered in and
// encodes a stream of audit events into each of them.
//
// Every format holds the same ten columns, named and ordered as the CSV's
// header (csvenc.Header; SchemaVersion is their version), with the values
// the CSV holds: request_time as RFC 3339 in UTC with milliseconds (or,
// in Parquet, the same instant as a millisecond timestamp), invalid UTF-8
// replaced by U+FFFD as csvenc replaces it, rows in the order written (the
// export writes them in time order).
//
//   - csv: exactly csvenc's bytes, the default and the file delivered
//     before there was a choice.
//   - csv.gz: a gzip of exactly those bytes.
//   - jsonl.gz: a gzip of JSON Lines, one object a line ending in LF, keys
//     in header order; response_status and content_length are JSON
//     numbers (integers: a reader that decodes them as float64 is exact to
//     2^53 bytes, 8 PiB), the other eight JSON strings with the CSV's
//     text, escaped so that no line break of any kind stands raw in a
//     line (jsonl.go).
//   - parquet: one column each, zstd-compressed (parquet.go says how).
//
// Content-Encoding: the .gz objects are gzip files as stored: their name
// says so and the delivery manifest's SHA-256 is of those bytes. So they
// carry Content-Type application/gzip and no Content-Encoding. With
// "Content-Encoding: gzip", browsers and HTTP libraries would hand over
// the decompressed bytes, which neither match the SHA-256 nor suit readers
// that decompress by the .gz name (they would decompress twice).
//
// gzip is github.com/klauspost/compress/gzip at its fastest level
// (BestSpeed), not compress/gzip. On the benchmark's CSV, on one core
// (BenchmarkGzipChoice, docs/benchmarks.md), it compressed 1.4 to 1.6 M
// rows/s, compress/gzip 0.75 to 0.93 M at the same level and size, and
// 0.28 M at its default level for a file 0.65 times the size; klauspost's
// default gave 0.8 M for 0.82 times the size. The delivery runs at about
// 1.3 M rows/s, and at 33 bytes a row instead of the CSV's 294 the file is
// small already. The bytes are plain gzip (RFC 1952), one member, with no
// name and no time in its header: the same rows make the same file. The
// module is a dependency already (Parquet's zstd).
//
// No encoder holds the day: CSV and JSON Lines are appended to a buffer
// that is handed on every 64 KiB, and Parquet keeps at most one row group
// (about 64 MiB) before it writes it out. A day may have 10 million events.
//
// It imports audit, csvenc (whose bytes the CSV formats are, and whose
// time text the others write) and the libraries of the formats. The export
// hands it the writer (the pipe to a sink), so it must not import a sink,
// a store or the export, which imports it.
package fileformat

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
)

// Format is the format of a delivered file, as customers name it.
type Format string

// The formats a destination can choose.
const (
	CSV       Format = "csv"
	CSVGzip   Format = "csv.gz"
	JSONLGzip Format = "jsonl.gz"
	Parquet   Format = "parquet"
)

// Default is the format of a destination that chose none: the CSV that
// was delivered before there was a choice.
const Default = CSV

// SchemaVersion is the version of the ten columns every format holds,
// recorded in manifests and object metadata (and in a Parquet file's
// key-value metadata as "schema_version"). A change to a column's name,
// order, type or text is a new version.
const SchemaVersion = 1

// formats is every Format, in the order Formats returns and errors list them.
var formats = []Format{CSV, CSVGzip, JSONLGzip, Parquet}

// Formats returns every format, the default first.
func Formats() []Format { return append([]Format(nil), formats...) }

// Parse returns the format named s; "" is Default. Names are exact:
// lower case, without a leading dot.
func Parse(s string) (Format, error) {
	if s == "" {
		return Default, nil
	}
	for _, f := range formats {
		if s == string(f) {
			return f, nil
		}
	}
	return "", &audit.FieldError{Field: "format", Value: s, Reason: "must be one of " + list()}
}

func list() string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

func (f Format) valid() bool {
	for _, g := range formats {
		if f == g {
			return true
		}
	}
	return false
}

// Extension is the end of a file name of the format, with its dot
// (".csv.gz"); "" for a Format that is not one of Formats.
func (f Format) Extension() string {
	if !f.valid() {
		return ""
	}
	return "." + string(f)
}

// ContentType is the Content-Type of an object of the format; "" for a
// Format that is not one of Formats. The CSV's is what the sinks set
// before there was a choice (s3sink.ContentType).
func (f Format) ContentType() string {
	switch f {
	case CSV:
		return "text/csv; charset=utf-8"
	case CSVGzip, JSONLGzip:
		return "application/gzip"
	case Parquet:
		return "application/vnd.apache.parquet"
	}
	return ""
}

// ContentEncoding is the Content-Encoding of an object of the format:
// none for every format, the .gz ones included (the package doc says why).
func (f Format) ContentEncoding() string { return "" }

// TrimExtension strips a format's extension from the end of name and
// says which format it was: "x.csv.gz" is ("x", CSVGzip, true). Should
// one extension ever end another, the longest wins. A name without one
// comes back as it is, with false.
func TrimExtension(name string) (string, Format, bool) {
	best := Format("")
	for _, f := range formats {
		if strings.HasSuffix(name, f.Extension()) && len(f) > len(best) {
			best = f
		}
	}
	if best == "" {
		return name, "", false
	}
	return strings.TrimSuffix(name, best.Extension()), best, true
}

// Encoder writes the rows of one file. Close completes the file (flushes
// its buffers, writes the gzip trailer or the Parquet footer) but does not
// close the writer it writes to. The first error is returned again by every
// later call; after a Close without error, Write fails and Close returns
// nil.
type Encoder interface {
	Write(e *audit.Event) error
	Close() error
}

// NewEncoder returns an Encoder of format f writing to w. The CSV formats'
// header is written (or buffered) at once, so that a file without rows is
// still a valid file of its format: the header alone (csv), a gzip of it
// (csv.gz), a gzip of nothing (jsonl.gz), a Parquet file with the schema
// and no row group (parquet).
func NewEncoder(f Format, w io.Writer) (Encoder, error) {
	switch f {
	case CSV:
		return newCSV(w, false)
	case CSVGzip:
		return newCSV(w, true)
	case JSONLGzip:
		return newJSONL(w)
	case Parquet:
		return newParquet(w, rowGroupBytes)
	}
	return nil, &audit.FieldError{Field: "format", Value: string(f), Reason: "must be one of " + list()}
}

// errClosed is what Write returns after Close.
var errClosed = errors.New("write after the file was closed")

// state is what every encoder keeps to make errors sticky and Close final.
type state struct {
	format Format
	err    error
	closed bool
}

// check says whether the encoder may still write.
func (s *state) check() error {
	if s.err == nil && s.closed {
		return fmt.Errorf("encode %s: %w", s.format, errClosed)
	}
	return s.err
}

// closing says whether Close has work to do, and marks it done. A second
// Close returns what the first did.
func (s *state) closing() bool {
	if s.closed || s.err != nil {
		return false
	}
	s.closed = true
	return true
}

// fail records the first error, with the format as its context.
func (s *state) fail(err error) error {
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("encode %s: %w", s.format, err)
	}
	return s.err
}

// validUTF8 is s with each run of invalid bytes replaced by U+FFFD, as
// csvenc replaces them; s itself, without allocating, when it is valid.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
