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

// A raw record is an event as the ingest hands it to Firehose: the NDJSON
// line of the documented event format (docs/event-format.md) with short
// keys, plus the event's org bucket. Firehose bills every byte it ingests
// and partitions (about $0.049 a GB together, docs/cost.md), and the keys
// are a third of a record: short ones save about 100 of its 500 bytes.
// Raw records never leave the lake: compaction turns them into org-day
// lines with the format's own keys (AppendEvent).
//
// KeyBucket is the raw record's org bucket and KeyTime its request time,
// which Firehose's dynamic partitioning reads (a JQ query on the record:
// the day is the time's first ten characters).
const (
	KeyBucket = "b"
	KeyTime   = "t"
)

// Keys of the event format, and of the raw record.
var (
	longKeys = keySet{"org_id", "request_id", "request_time", "request_method", "request_path", "request_query",
		"response_status", "content_length", "space", "route", "referrer", "actor_id"}
	rawKeys = keySet{"o", "i", KeyTime, "m", "p", "q", "s", "l", "sp", "r", "f", "a"}
	// longName maps a raw record's key to the format's.
	longName = func() map[string]string {
		m := make(map[string]string, len(rawKeys))
		for i, k := range rawKeys {
			m[k] = longKeys[i]
		}
		return m
	}()
)

// keySet names the twelve fields, in appendFields' order.
type keySet [12]string

// AppendEvent appends e as one line of the documented NDJSON format, the
// line of an org-day object.
func AppendEvent(b []byte, e *audit.Event) []byte {
	b = appendFields(b, e, &longKeys)
	return append(b, '}', '\n')
}

// AppendRaw appends e as one raw record (short keys and the org bucket),
// as the ingest hands it to Firehose.
func AppendRaw(b []byte, e *audit.Event) []byte {
	b = appendFields(b, e, &rawKeys)
	b = append(b, `,"`+KeyBucket+`":"`...)
	b = append(b, BucketName(BucketOf(e.OrgID))...)
	return append(b, '"', '}', '\n')
}

// appendFields writes the object without its closing brace. Values are
// valid UTF-8 (audit.Event.Validate), so AppendQuote cannot fail.
func appendFields(b []byte, e *audit.Event, k *keySet) []byte {
	key := func(b []byte, i int) []byte {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k[i]...)
		return append(b, '"', ':')
	}
	str := func(b []byte, i int, v string) []byte {
		b = key(b, i)
		b, _ = jsontext.AppendQuote(b, v)
		return b
	}
	b = append(b, '{')
	b = str(b, 0, e.OrgID)
	b = str(b, 1, e.RequestID)
	b = key(b, 2)
	b = append(b, '"')
	b = e.RequestTime.UTC().AppendFormat(b, audit.TimeLayout)
	b = append(b, '"')
	b = str(b, 3, e.RequestMethod)
	b = str(b, 4, e.RequestPath)
	b = str(b, 5, e.RequestQuery)
	b = key(b, 6)
	b = strconv.AppendInt(b, int64(e.ResponseStatus), 10)
	b = key(b, 7)
	b = strconv.AppendInt(b, e.ContentLength, 10)
	b = str(b, 8, e.Space)
	b = str(b, 9, e.Route)
	b = str(b, 10, e.Referrer)
	b = str(b, 11, e.ActorID)
	return b
}

// Reader decodes a stream of NDJSON records (raw records or org-day lines;
// an error names a field by the format's key). It is
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
		if long, ok := longName[key]; ok {
			key = long // a raw record's short key
		}
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
