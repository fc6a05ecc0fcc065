package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contentful/auditlogs/internal/audit"
)

// Record is one API request-log record, parsed and checked by Parse.
type Record struct {
	RequestID     string    // request_id
	OrgID         string    // org_id
	Time          time.Time // request_time, UTC, truncated to milliseconds
	Method        string    // request_method
	Path          string    // request_path, without the query string
	Query         string    // request_query, the raw query string without '?'
	Status        int       // response_status
	ContentLength int64     // content_length, 0 when absent
	Referrer      string    // referrer
	ActorID       string    // actor_id: "user:ID", "app:ID" or empty
}

// Limits of a record. The field limits are those of audit.Event, so that
// every record Parse accepts makes a valid event.
const (
	// MaxRecordBytes is the largest record accepted: the Kinesis record
	// limit, and the line limit of audit.ReadNDJSON.
	MaxRecordBytes = 1 << 20
	MaxPathLen     = audit.MaxPathLen     // 8 KiB
	MaxQueryLen    = audit.MaxQueryLen    // 32 KiB
	MaxReferrerLen = audit.MaxReferrerLen // 8 KiB
	MaxIDLen       = audit.MaxShortLen    // request_id, actor_id: 256 bytes
	MaxMethodLen   = 16

	// FutureSkew is how far after now a request time may be: clocks of
	// the platform's hosts and of the ingester differ a little.
	FutureSkew = 5 * time.Minute
)

// minTime is the earliest request time accepted (audit.Event's range).
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// The JSON keys of a record.
const (
	keyRequestID     = "request_id"
	keyOrgID         = "org_id"
	keyTime          = "request_time"
	keyMethod        = "request_method"
	keyPath          = "request_path"
	keyQuery         = "request_query"
	keyStatus        = "response_status"
	keyContentLength = "content_length"
	keyReferrer      = "referrer"
	keyActorID       = "actor_id"
)

// FieldRecord is the Field of the errors that concern the record as a
// whole (not JSON, too large), rather than one of its keys.
const FieldRecord = "record"

// ReasonNotJSON starts the Reason of an error for a record that is not a
// JSON object.
const ReasonNotJSON = "is not a JSON object"

func fieldErr(field, value, format string, args ...any) *audit.FieldError {
	return &audit.FieldError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// Parse reads one record (see docs/ingest-format.md) and checks it; now is
// the time that request times may not exceed by more than FutureSkew. An
// error is a *audit.FieldError that names the field (or "record") and the
// value.
func Parse(data []byte, now time.Time) (Record, error) {
	if len(data) > MaxRecordBytes {
		return Record{}, fieldErr(FieldRecord, string(data[:64]), "is %d bytes, more than the limit of %d", len(data), MaxRecordBytes)
	}
	var w wire
	if err := decode(data, &w); err != nil {
		return Record{}, err
	}
	return w.record(now)
}

// wire holds the raw values of the known keys.
type wire struct {
	seen                                                    uint16 // bit per known key
	requestID, orgID, time, method, path, query, ref, actor string
	status, length                                          string // JSON number text
}

const (
	bitRequestID = 1 << iota
	bitOrgID
	bitTime
	bitMethod
	bitPath
	bitQuery
	bitStatus
	bitLength
	bitReferrer
	bitActor
)

// record checks the values and builds the Record.
func (w *wire) record(now time.Time) (Record, error) {
	for _, req := range [...]struct {
		bit  uint16
		name string
	}{
		{bitRequestID, keyRequestID}, {bitOrgID, keyOrgID}, {bitTime, keyTime},
		{bitMethod, keyMethod}, {bitPath, keyPath}, {bitStatus, keyStatus},
	} {
		if w.seen&req.bit == 0 {
			return Record{}, fieldErr(req.name, "", "is required")
		}
	}
	r := Record{RequestID: w.requestID, OrgID: w.orgID, Method: w.method, Path: w.path, Query: w.query, Referrer: w.ref, ActorID: w.actor}

	if r.RequestID == "" || len(r.RequestID) > MaxIDLen || !audit.Printable(r.RequestID) {
		return Record{}, fieldErr(keyRequestID, r.RequestID, "must be 1 to %d printable characters without spaces", MaxIDLen)
	}
	if !audit.ValidOrgID(r.OrgID) {
		return Record{}, audit.ValidateOrgID(r.OrgID)
	}
	t, err := time.Parse(time.RFC3339Nano, w.time)
	if err != nil {
		return Record{}, fieldErr(keyTime, w.time, "must be an RFC 3339 time such as 2026-11-24T13:45:12.345Z or 2026-11-24T14:45:12.345678+01:00")
	}
	if t.Before(minTime) {
		return Record{}, fieldErr(keyTime, w.time, "must not be before the year 2000")
	}
	if t.After(now.Add(FutureSkew)) {
		return Record{}, fieldErr(keyTime, w.time, "is more than %s after now (%s)", FutureSkew, now.UTC().Format(audit.TimeLayout))
	}
	r.Time = t.UTC().Truncate(time.Millisecond)

	if !validMethod(r.Method) {
		return Record{}, fieldErr(keyMethod, r.Method, "must be an HTTP method of 1 to %d upper-case letters", MaxMethodLen)
	}
	// A path that carries its query string: split it off, unless the
	// query is also given on its own (which one would be right?).
	if i := strings.IndexByte(r.Path, '?'); i >= 0 {
		if w.seen&bitQuery != 0 && r.Query != "" {
			return Record{}, fieldErr(keyPath, r.Path, "holds a query string and request_query is given too")
		}
		r.Path, r.Query = r.Path[:i], r.Path[i+1:]
	}
	if r.Path == "" || r.Path[0] != '/' {
		return Record{}, fieldErr(keyPath, r.Path, "must start with '/'")
	}
	if len(r.Path) > MaxPathLen {
		return Record{}, fieldErr(keyPath, r.Path, "is %d bytes, more than the limit of %d", len(r.Path), MaxPathLen)
	}
	r.Query = strings.TrimPrefix(r.Query, "?")
	if len(r.Query) > MaxQueryLen {
		return Record{}, fieldErr(keyQuery, r.Query, "is %d bytes, more than the limit of %d", len(r.Query), MaxQueryLen)
	}
	st, ok := parseInt(w.status)
	if !ok || st < 100 || st > 599 {
		return Record{}, fieldErr(keyStatus, w.status, "must be an HTTP status code, an integer from 100 to 599")
	}
	r.Status = int(st)
	if w.length != "" {
		n, ok := parseInt(w.length)
		if !ok || n < 0 {
			return Record{}, fieldErr(keyContentLength, w.length, "must be an integer from 0 to %d", int64(1<<63-1))
		}
		r.ContentLength = n
	}
	if len(r.Referrer) > MaxReferrerLen {
		return Record{}, fieldErr(keyReferrer, r.Referrer, "is %d bytes, more than the limit of %d", len(r.Referrer), MaxReferrerLen)
	}
	if r.ActorID != "" && !validActor(r.ActorID) {
		return Record{}, fieldErr(keyActorID, r.ActorID, "must be user:ID or app:ID, at most %d printable characters without spaces", MaxIDLen)
	}
	return r, nil
}

func validMethod(m string) bool {
	if m == "" || len(m) > MaxMethodLen {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

func validActor(a string) bool {
	id, ok := strings.CutPrefix(a, "user:")
	if !ok {
		id, ok = strings.CutPrefix(a, "app:")
	}
	return ok && id != "" && len(a) <= MaxIDLen && audit.Printable(id)
}

// parseInt reads a JSON integer that fits an int64: ParseInt refuses a
// fraction or an exponent ("200.0", "2e2"), which JSON allows.
func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// RecordOf writes the request-log record of e as the platform writes it
// (docs/ingest-format.md): the event's request fields, without space and
// route, which ingest derives from the path. Ingesting it yields e again.
// The demo and the tests make records with it.
func RecordOf(e *audit.Event) []byte {
	var b []byte
	b = append(b, `{"request_id":`...)
	b = appendJSONString(b, e.RequestID)
	for _, kv := range [...][2]string{
		{keyOrgID, e.OrgID}, {keyTime, e.RequestTime.UTC().Format(time.RFC3339Nano)}, {keyMethod, e.RequestMethod},
		{keyPath, e.RequestPath}, {keyQuery, e.RequestQuery}, {keyReferrer, e.Referrer}, {keyActorID, e.ActorID},
	} {
		b = append(b, ',', '"')
		b = append(b, kv[0]...)
		b = append(b, '"', ':')
		b = appendJSONString(b, kv[1])
	}
	b = append(b, `,"response_status":`...)
	b = strconv.AppendInt(b, int64(e.ResponseStatus), 10)
	b = append(b, `,"content_length":`...)
	b = strconv.AppendInt(b, e.ContentLength, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string (jsontext's quoting: valid
// UTF-8 kept as is, invalid bytes as U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	// The only error is invalid UTF-8, which AppendQuote has written as
	// U+FFFD: the value encoding/json would write too.
	out, _ := jsontext.AppendQuote(b, s)
	return out
}

// decoder reads the record's object with jsontext (the tokenizer of
// encoding/json/v2): the known keys are read into wire, any other value is
// checked and skipped. Options make it accept what encoding/json accepts:
// a duplicate of an unknown key, and invalid UTF-8 (which becomes U+FFFD,
// as audit.Normalize does); a known key given twice is refused by member.
// Decoders are pooled: a record is small, and building a decoder costs
// more than reading it.
type decoder struct {
	r   bytes.Buffer // jsontext reads a bytes.Buffer in place, without a copy
	d   jsontext.Decoder
	s   string // the record, copied once: fields without escapes are slices of it
	buf []byte // for strings with escapes
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

var decodeOpts = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// decode reads data, which must be exactly one JSON object, into w.
func decode(data []byte, w *wire) error {
	dec := decoders.Get().(*decoder)
	defer func() {
		// A pooled decoder keeps a reference to its last record until it
		// is used again or the pool is emptied at a garbage collection:
		// resetting it here would cost more than the record is worth.
		dec.s = ""
		if cap(dec.buf) <= 64<<10 {
			decoders.Put(dec)
		}
	}()
	dec.s = string(data)
	dec.r = *bytes.NewBuffer(data)
	dec.d.Reset(&dec.r, decodeOpts...)
	return dec.object(w)
}

func (dec *decoder) syntax(err error) *audit.FieldError {
	msg := err.Error()
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("%v at byte %d", se.Err, se.ByteOffset)
	}
	return fieldErr(FieldRecord, dec.s, ReasonNotJSON+": %s", msg)
}

func (dec *decoder) object(w *wire) error {
	if k := dec.d.PeekKind(); k != '{' {
		// PeekKind is 0 for invalid input: ReadValue says why.
		if _, err := dec.d.ReadValue(); err != nil {
			return dec.syntax(err)
		}
		return fieldErr(FieldRecord, dec.s, ReasonNotJSON+": it is %s", kindName(k))
	}
	if _, err := dec.d.ReadToken(); err != nil {
		return dec.syntax(err)
	}
	for dec.d.PeekKind() == '"' {
		name, err := dec.d.ReadValue()
		if err != nil {
			return dec.syntax(err)
		}
		if err := dec.member(w, dec.name(name, int(dec.d.InputOffset()))); err != nil {
			return err
		}
	}
	if _, err := dec.d.ReadToken(); err != nil { // '}', or why not
		return dec.syntax(err)
	}
	// Exactly one value: anything after it is an error (io.EOF is the
	// only good answer).
	if _, err := dec.d.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the object")
		}
		return dec.syntax(err)
	}
	return nil
}

func (dec *decoder) member(w *wire, key string) error {
	var bit uint16
	var dst *string
	num := false
	switch key {
	case keyRequestID:
		bit, dst = bitRequestID, &w.requestID
	case keyOrgID:
		bit, dst = bitOrgID, &w.orgID
	case keyTime:
		bit, dst = bitTime, &w.time
	case keyMethod:
		bit, dst = bitMethod, &w.method
	case keyPath:
		bit, dst = bitPath, &w.path
	case keyQuery:
		bit, dst = bitQuery, &w.query
	case keyStatus:
		bit, dst, num = bitStatus, &w.status, true
	case keyContentLength:
		bit, dst, num = bitLength, &w.length, true
	case keyReferrer:
		bit, dst = bitReferrer, &w.ref
	case keyActorID:
		bit, dst = bitActor, &w.actor
	default:
		if err := dec.d.SkipValue(); err != nil {
			return dec.syntax(err)
		}
		return nil
	}
	if w.seen&bit != 0 {
		return fieldErr(key, "", "is given twice")
	}
	v, err := dec.d.ReadValue()
	if err != nil {
		return dec.syntax(err)
	}
	end := int(dec.d.InputOffset())
	switch k := v.Kind(); {
	case k == 'n': // null: as if the key were absent
		return nil
	case k == '"' && !num:
		*dst = dec.str(v, end)
	case k == '0' && num:
		*dst = dec.s[end-len(v) : end]
	default:
		want := "a string"
		if num {
			want = "a number"
		}
		return fieldErr(key, string(v), "must be %s, not %s", want, kindName(k))
	}
	w.seen |= bit
	return nil
}

// name is a member's name, for matching the known keys: without escapes,
// a slice of the record as it is (a name that is not valid UTF-8 matches
// no key either way), else decoded.
func (dec *decoder) name(v jsontext.Value, end int) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return dec.s[end-len(v)+1 : end-1]
	}
	return dec.str(v, end)
}

// str decodes a JSON string that ends at byte end of the record: a slice
// of the record's copy when it has no escapes and is valid UTF-8 (the
// common case, no allocation), else unquoted.
func (dec *decoder) str(v jsontext.Value, end int) string {
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return dec.s[end-len(v)+1 : end-1]
	}
	// The decoder has checked v's syntax, so the only error AppendUnquote
	// can report is invalid UTF-8, which it has made into U+FFFD (as
	// encoding/json does): that is the value we want.
	dec.buf, _ = jsontext.AppendUnquote(dec.buf[:0], v)
	return string(dec.buf)
}

// kindName names a JSON kind for an error message.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '0':
		return "a number"
	}
	return "not a value"
}
