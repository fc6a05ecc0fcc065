package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Column names, in CSV order. The NDJSON wire format uses exactly these
// keys plus "org_id" and "request_id".
var Columns = []string{
	"request_time", "request_method", "request_path", "request_query", "response_status",
	"content_length", "space", "route", "referrer", "actor_id",
}

// TimeLayout is how request_time is written: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// wireEvent is the NDJSON shape. Pointers tell a missing key from an
// empty value for the keys that are required.
type wireEvent struct {
	OrgID          *string `json:"org_id"`
	RequestID      *string `json:"request_id"`
	RequestTime    *string `json:"request_time"`
	RequestMethod  *string `json:"request_method"`
	RequestPath    *string `json:"request_path"`
	RequestQuery   string  `json:"request_query"`
	ResponseStatus *int    `json:"response_status"`
	ContentLength  int64   `json:"content_length"`
	Space          string  `json:"space"`
	Route          string  `json:"route"`
	Referrer       string  `json:"referrer"`
	ActorID        string  `json:"actor_id"`
}

// MarshalJSON writes the NDJSON wire form of e.
func (e Event) MarshalJSON() ([]byte, error) {
	t := e.RequestTime.UTC().Format(TimeLayout)
	return json.Marshal(wireEvent{
		OrgID: &e.OrgID, RequestID: &e.RequestID, RequestTime: &t,
		RequestMethod: &e.RequestMethod, RequestPath: &e.RequestPath, RequestQuery: e.RequestQuery,
		ResponseStatus: &e.ResponseStatus, ContentLength: e.ContentLength, Space: e.Space,
		Route: e.Route, Referrer: e.Referrer, ActorID: e.ActorID,
	})
}

// UnmarshalJSON reads one wire object strictly: unknown keys and missing
// required keys are errors naming the key. It does not validate values;
// call Normalize and Validate for that (ReadNDJSON does).
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	for _, req := range []struct {
		name string
		ok   bool
	}{
		{"org_id", w.OrgID != nil}, {"request_id", w.RequestID != nil}, {"request_time", w.RequestTime != nil},
		{"request_method", w.RequestMethod != nil}, {"request_path", w.RequestPath != nil},
		{"response_status", w.ResponseStatus != nil},
	} {
		if !req.ok {
			return &FieldError{Field: req.name, Value: "", Reason: "is required"}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, *w.RequestTime)
	if err != nil {
		return &FieldError{Field: "request_time", Value: *w.RequestTime, Reason: "must be an RFC 3339 time such as 2026-11-24T13:45:12.345Z"}
	}
	*e = Event{
		OrgID: *w.OrgID, RequestID: *w.RequestID, RequestTime: t,
		RequestMethod: *w.RequestMethod, RequestPath: *w.RequestPath, RequestQuery: w.RequestQuery,
		ResponseStatus: *w.ResponseStatus, ContentLength: w.ContentLength, Space: w.Space,
		Route: w.Route, Referrer: w.Referrer, ActorID: w.ActorID,
	}
	return nil
}

// LineError says which NDJSON line was bad and why.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// MaxLineBytes bounds one NDJSON line; an event is far smaller.
const MaxLineBytes = 1 << 20

// ReadNDJSON decodes, normalizes and validates one event per line, calling
// fn for each. Blank lines are skipped. It stops at the first bad line with
// a *LineError, or at the first error from fn.
func ReadNDJSON(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				err = fe
			}
			return &LineError{Line: line, Err: err}
		}
		e.Normalize()
		if err := e.Validate(); err != nil {
			return &LineError{Line: line, Err: err}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &LineError{Line: line + 1, Err: err}
	}
	return nil
}

// WriteNDJSON writes events as NDJSON, one per line.
func WriteNDJSON(w io.Writer, events ...Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
