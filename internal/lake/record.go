package lake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contentful/auditlogs/internal/audit"
)

// KeyBucket is the key of a raw record's org bucket, which Firehose's
// dynamic partitioning reads (a JQ query on the record); the other keys are
// those of the documented NDJSON event format (docs/event-format.md).
const KeyBucket = "bucket"

// AppendEvent appends e as one line of the documented NDJSON format, the
// line of an org-day object.
func AppendEvent(b []byte, e *audit.Event) []byte {
	b = appendFields(b, e)
	return append(b, '}', '\n')
}

// AppendRaw appends e as one raw record: the NDJSON line with the event's
// org bucket added, as the ingest hands it to Firehose.
func AppendRaw(b []byte, e *audit.Event) []byte {
	b = appendFields(b, e)
	b = append(b, `,"`+KeyBucket+`":"`...)
	b = append(b, BucketName(BucketOf(e.OrgID))...)
	return append(b, '"', '}', '\n')
}

// appendFields writes the object without its closing brace. Values are
// valid UTF-8 (audit.Event.Validate), so AppendQuote cannot fail.
func appendFields(b []byte, e *audit.Event) []byte {
	str := func(b []byte, key, v string) []byte {
		b = append(b, key...)
		b, _ = jsontext.AppendQuote(b, v)
		return b
	}
	b = str(b, `{"org_id":`, e.OrgID)
	b = str(b, `,"request_id":`, e.RequestID)
	b = append(b, `,"request_time":"`...)
	b = e.RequestTime.UTC().AppendFormat(b, audit.TimeLayout)
	b = str(b, `","request_method":`, e.RequestMethod)
	b = str(b, `,"request_path":`, e.RequestPath)
	b = str(b, `,"request_query":`, e.RequestQuery)
	b = append(b, `,"response_status":`...)
	b = strconv.AppendInt(b, int64(e.ResponseStatus), 10)
	b = append(b, `,"content_length":`...)
	b = strconv.AppendInt(b, e.ContentLength, 10)
	b = str(b, `,"space":`, e.Space)
	b = str(b, `,"route":`, e.Route)
	b = str(b, `,"referrer":`, e.Referrer)
	b = str(b, `,"actor_id":`, e.ActorID)
	return b
}

// Reader decodes a stream of NDJSON records (raw or org-day lines). It is
// strict: an unknown key, a missing required key, a value of the wrong
// type or an event that audit.Event.Validate refuses is an error naming
// the line, the key and the value, never a skipped line: a record the
// lake cannot read must stop compaction (and raise its alarm), not vanish.
type Reader struct {
	dec  *jsontext.Decoder
	line int
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader { return &Reader{dec: jsontext.NewDecoder(r)} }

// Next decodes the next record into e and returns its bucket key's value
// ("" when the record has none, as org-day lines do). At the end of the
// stream it returns io.EOF.
func (r *Reader) Next(e *audit.Event) (bucket string, err error) {
	if r.dec.PeekKind() == 0 {
		if _, err := r.dec.ReadToken(); err == io.EOF {
			return "", io.EOF
		} else if err != nil {
			return "", fmt.Errorf("record %d: %w", r.line+1, err)
		}
	}
	r.line++
	bucket, err = r.next(e)
	if err != nil {
		return "", fmt.Errorf("record %d: %w", r.line, err)
	}
	return bucket, nil
}

// Line is the number of records read so far.
func (r *Reader) Line() int { return r.line }

var errNotObject = errors.New("not a JSON object")

func (r *Reader) next(e *audit.Event) (string, error) {
	tok, err := r.dec.ReadToken()
	if err != nil {
		return "", err
	}
	if tok.Kind() != '{' {
		return "", errNotObject
	}
	*e = audit.Event{}
	var bucket string
	var have uint16
	const (
		hOrg = 1 << iota
		hID
		hTime
		hMethod
		hPath
		hStatus
	)
	for r.dec.PeekKind() != '}' {
		name, err := r.dec.ReadToken()
		if err != nil {
			return "", err
		}
		key := name.String()
		val, err := r.dec.ReadToken()
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "org_id", "request_id", "request_time", "request_method", "request_path",
			"request_query", "space", "route", "referrer", "actor_id", KeyBucket:
			if val.Kind() != '"' {
				return "", &audit.FieldError{Field: key, Value: val.String(), Reason: "must be a string"}
			}
		case "response_status", "content_length":
			if val.Kind() != '0' {
				return "", &audit.FieldError{Field: key, Value: val.String(), Reason: "must be a number"}
			}
		default:
			return "", &audit.FieldError{Field: key, Value: val.String(), Reason: "is not a key of the event format"}
		}
		switch key {
		case "org_id":
			e.OrgID, have = val.String(), have|hOrg
		case "request_id":
			e.RequestID, have = val.String(), have|hID
		case "request_time":
			s := val.String()
			t, err := time.Parse(audit.TimeLayout, s)
			if err != nil {
				return "", &audit.FieldError{Field: key, Value: s, Reason: "must be a UTC time such as 2026-11-24T13:45:12.345Z"}
			}
			e.RequestTime, have = t, have|hTime
		case "request_method":
			e.RequestMethod, have = val.String(), have|hMethod
		case "request_path":
			e.RequestPath, have = val.String(), have|hPath
		case "request_query":
			e.RequestQuery = val.String()
		case "space":
			e.Space = val.String()
		case "route":
			e.Route = val.String()
		case "referrer":
			e.Referrer = val.String()
		case "actor_id":
			e.ActorID = val.String()
		case KeyBucket:
			bucket = val.String()
		case "response_status":
			n, err := strconv.Atoi(val.String())
			if err != nil {
				return "", &audit.FieldError{Field: key, Value: val.String(), Reason: "must be an integer"}
			}
			e.ResponseStatus, have = n, have|hStatus
		case "content_length":
			n, err := strconv.ParseInt(val.String(), 10, 64)
			if err != nil {
				return "", &audit.FieldError{Field: key, Value: val.String(), Reason: "must be an integer"}
			}
			e.ContentLength = n
		}
	}
	if _, err := r.dec.ReadToken(); err != nil { // '}'
		return "", err
	}
	for _, req := range []struct {
		bit  uint16
		name string
	}{{hOrg, "org_id"}, {hID, "request_id"}, {hTime, "request_time"}, {hMethod, "request_method"}, {hPath, "request_path"}, {hStatus, "response_status"}} {
		if have&req.bit == 0 {
			return "", &audit.FieldError{Field: req.name, Reason: "is required"}
		}
	}
	if err := e.Validate(); err != nil {
		return "", err
	}
	return bucket, nil
}

// Encode is AppendEvent into a buffer, for tests and small writers.
func Encode(events ...audit.Event) []byte {
	var buf bytes.Buffer
	var line []byte
	for i := range events {
		line = AppendEvent(line[:0], &events[i])
		buf.Write(line)
	}
	return buf.Bytes()
}
