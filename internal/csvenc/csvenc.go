// Package csvenc writes audit events as the delivered CSV file.
//
// The format is fixed by the product and compliance teams parse it with
// ordinary CSV readers, so it follows RFC 4180 to the letter:
//   - the header is exactly Header;
//   - records end with CRLF;
//   - a field holding a comma, a double quote, CR or LF is enclosed in
//     double quotes, with each double quote doubled; the bytes inside are
//     otherwise kept as they are (a CR or LF in a value is not rewritten);
//   - text is always valid UTF-8: invalid bytes become U+FFFD, so one bad
//     byte never breaks a reader of the whole file;
//   - request_time is RFC 3339 in UTC with milliseconds
//     (2026-11-24T13:45:12.345Z).
//
// The encoder appends to a buffer of its own and writes it out in large
// chunks: it is on the hot path of every delivery.
//
// It imports only audit and the standard library: the export hands it the
// writer (the pipe to a sink), so it must not import a sink, a store or the
// export, which imports it.
package csvenc

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
)

// Header is the first line of every file, without its CRLF.
const Header = "request_time,request_method,request_path,request_query,response_status,content_length,space,route,referrer,actor_id"

// flushAt is the buffered size at which Write hands bytes to the writer.
const flushAt = 64 << 10

// Encoder writes CSV rows to an io.Writer.
type Encoder struct {
	w    io.Writer
	buf  []byte
	time TimeFormat
}

// NewEncoder returns an Encoder that writes to w. Call Flush at the end.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w, buf: make([]byte, 0, flushAt+4096)}
}

// WriteHeader writes the header line.
func (e *Encoder) WriteHeader() error {
	e.buf = append(e.buf, Header...)
	e.buf = append(e.buf, '\r', '\n')
	return e.maybeFlush()
}

// Write appends one row for ev.
func (e *Encoder) Write(ev *audit.Event) error {
	b := e.time.Append(e.buf, ev.RequestTime)
	b = append(b, ',')
	b = appendField(b, ev.RequestMethod)
	b = append(b, ',')
	b = appendField(b, ev.RequestPath)
	b = append(b, ',')
	b = appendField(b, ev.RequestQuery)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(ev.ResponseStatus), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, ev.ContentLength, 10)
	b = append(b, ',')
	b = appendField(b, ev.Space)
	b = append(b, ',')
	b = appendField(b, ev.Route)
	b = append(b, ',')
	b = appendField(b, ev.Referrer)
	b = append(b, ',')
	b = appendField(b, ev.ActorID)
	b = append(b, '\r', '\n')
	e.buf = b
	return e.maybeFlush()
}

func (e *Encoder) maybeFlush() error {
	if len(e.buf) < flushAt {
		return nil
	}
	return e.Flush()
}

// Flush writes out everything buffered.
func (e *Encoder) Flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

const msPerDay = 24 * 60 * 60 * 1000

// TimeFormat appends times as the file's request_time column holds them:
// RFC 3339 in UTC with milliseconds (audit.TimeLayout), truncated. It is
// exported so that the other delivered formats (internal/fileformat) write
// the very same text. The zero value is ready to use.
//
// It keeps the "YYYY-MM-DDT" of the last time's day: a file is one day, so
// the date is formatted once and only the time of day per row.
type TimeFormat struct {
	dayNum  int64
	dayText []byte
}

// Append appends t to b.
func (f *TimeFormat) Append(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	day := ms / msPerDay
	if ms < 0 && ms%msPerDay != 0 {
		day-- // floor, for times before 1970
	}
	if f.dayText == nil || day != f.dayNum {
		f.dayNum = day
		f.dayText = time.UnixMilli(day*msPerDay).UTC().AppendFormat(f.dayText[:0], "2006-01-02T")
	}
	b = append(b, f.dayText...)
	rem := ms - day*msPerDay
	h, rem := rem/3600000, rem%3600000
	m, rem := rem/60000, rem%60000
	s, milli := rem/1000, rem%1000
	return append(b,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasZeroByte is non-zero exactly when one of v's eight bytes is zero.
func hasZeroByte(v uint64) uint64 { return (v - ones) &^ v & highs }

// scan tells whether s needs quotes (it holds ',', '"', CR or LF) and
// whether it holds non-ASCII bytes (so its UTF-8 must be checked). It looks
// at eight bytes a step: fields are the bulk of every file.
func scan(s string) (quote, nonASCII bool) {
	var any, q uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		any |= w
		q |= hasZeroByte(w^(ones*',')) | hasZeroByte(w^(ones*'"')) | hasZeroByte(w^(ones*'\r')) | hasZeroByte(w^(ones*'\n'))
	}
	for ; i < len(s); i++ {
		c := s[i]
		any |= uint64(c)
		if c == ',' || c == '"' || c == '\r' || c == '\n' {
			q = 1
		}
	}
	return q != 0, any&highs != 0 || any&0x80 != 0
}

// appendField appends s as one CSV field.
func appendField(b []byte, s string) []byte {
	quote, nonASCII := scan(s)
	if nonASCII && !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}
