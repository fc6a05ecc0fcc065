package fileformat

import (
	"github.com/klauspost/compress/gzip"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
)

// flushAt is the buffered size at which the JSON Lines encoder hands its
// bytes to gzip, as csvenc does to its writer.
const flushAt = 64 << 10

// jsonlEncoder writes one JSON object a line into a gzip of w. The objects
// are appended by hand, keys in the CSV header's order: encoding/json
// would cost reflection and an allocation a row on the hot path, and it
// replaces invalid UTF-8 byte by byte where csvenc replaces each run of
// invalid bytes by one U+FFFD.
type jsonlEncoder struct {
	state
	gz   *gzip.Writer
	buf  []byte
	time csvenc.TimeFormat
}

func newJSONL(w io.Writer) (*jsonlEncoder, error) {
	return &jsonlEncoder{
		state: state{format: JSONLGzip},
		gz:    newGzip(w),
		buf:   make([]byte, 0, flushAt+4096),
	}, nil
}

func (e *jsonlEncoder) Write(ev *audit.Event) error {
	if err := e.check(); err != nil {
		return err
	}
	b := append(e.buf, `{"request_time":"`...)
	b = e.time.Append(b, ev.RequestTime)
	b = append(b, `","request_method":"`...)
	b = appendJSONString(b, ev.RequestMethod)
	b = append(b, `","request_path":"`...)
	b = appendJSONString(b, ev.RequestPath)
	b = append(b, `","request_query":"`...)
	b = appendJSONString(b, ev.RequestQuery)
	b = append(b, `","response_status":`...)
	b = strconv.AppendInt(b, int64(ev.ResponseStatus), 10)
	b = append(b, `,"content_length":`...)
	b = strconv.AppendInt(b, ev.ContentLength, 10)
	b = append(b, `,"space":"`...)
	b = appendJSONString(b, ev.Space)
	b = append(b, `","route":"`...)
	b = appendJSONString(b, ev.Route)
	b = append(b, `","referrer":"`...)
	b = appendJSONString(b, ev.Referrer)
	b = append(b, `","actor_id":"`...)
	b = appendJSONString(b, ev.ActorID)
	b = append(b, "\"}\n"...)
	e.buf = b
	if len(b) < flushAt {
		return nil
	}
	return e.flush()
}

func (e *jsonlEncoder) flush() error {
	_, err := e.gz.Write(e.buf)
	e.buf = e.buf[:0]
	return e.fail(err)
}

func (e *jsonlEncoder) Close() error {
	if !e.closing() {
		return e.err
	}
	if err := e.flush(); err != nil {
		return err
	}
	return e.fail(e.gz.Close())
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// needsEscape tells whether s holds a byte that a JSON string cannot hold
// as it is (a double quote, a backslash, a control character below 0x20)
// or a non-ASCII byte (whose UTF-8 must be checked, and which may be a
// line separator). It looks at eight bytes a step, as csvenc's scan does.
func needsEscape(s string) bool {
	var flag uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// (w - ones*n) &^ w & highs is non-zero exactly when a byte of w is
		// below n (n <= 0x80); a zero byte of w^(ones*c) is a byte equal to c.
		flag |= (w-ones*0x20)&^w | (w^(ones*'"')-ones)&^(w^(ones*'"')) |
			(w^(ones*'\\')-ones)&^(w^(ones*'\\')) | w
	}
	if flag&highs != 0 {
		return true
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

const hex = "0123456789abcdef"

// appendJSONString appends s as the inside of a JSON string: invalid UTF-8
// replaced as csvenc replaces it; '"', '\\' and control characters
// escaped; and U+0085, U+2028 and U+2029 escaped too, so that a reader
// that splits lines on every Unicode line break (Python's str.splitlines)
// still sees one record a line.
func appendJSONString(b []byte, s string) []byte {
	if !needsEscape(s) {
		return append(b, s...)
	}
	s = validUTF8(s)
	start := 0 // s[start:i] is still to be copied as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == '\u0085' || r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, `\u`...)
				b = append(b, hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
				start = i + n
			}
			i += n
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		i++
		start = i
	}
	return append(b, s[start:]...)
}
