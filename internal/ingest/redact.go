package ingest

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contentful/auditlogs/internal/redact"
)

// redactRecord returns the text of a rejected record without the
// credentials it may hold, for the reject sinks: a reject is kept in our
// bucket for months and read by operators, so it must not hold a token
// that its event would not have held.
//
// A record is rejected because something in it is wrong, so it may not be
// JSON at all. Two passes make both cases safe:
//
//  1. If the record starts as a JSON object, the string values of its
//     request_query, referrer and request_path members are decoded (JSON
//     escapes included), redacted as the event's fields are (the query
//     rule, the URL rule; the path for the query it may carry) and, where
//     that changed them, written back in place, re-quoted. The rest of the
//     record is left byte for byte. Members read before a syntax error are
//     redacted all the same.
//  2. Then redact.Text runs over the whole text: the token shape anywhere,
//     and every name=value whose name ends with a listed name, in any
//     member or in text that is no JSON. Its replacements never take a '"'
//     or '\', so a record that was JSON stays JSON.
func redactRecord(data []byte) []byte {
	out := redactMembers(data)
	if s := redact.Text(string(out)); s != string(out) {
		return []byte(s)
	}
	return out
}

// redactMembers is the first pass of redactRecord.
func redactMembers(data []byte) []byte {
	type edit struct {
		from, to int
		quoted   []byte
	}
	var edits []edit
	d := jsontext.NewDecoder(bytes.NewReader(data), decodeOpts...)
	if d.PeekKind() != '{' {
		return data
	}
	if _, err := d.ReadToken(); err != nil {
		return data
	}
	for d.PeekKind() == '"' {
		name, err := d.ReadToken()
		if err != nil {
			break
		}
		var rule func(string) string
		switch name.String() {
		case keyQuery:
			rule = redact.Query
		case keyReferrer, keyPath:
			rule = redact.URL
		}
		if rule == nil || d.PeekKind() != '"' {
			if err := d.SkipValue(); err != nil {
				break
			}
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			break
		}
		end := int(d.InputOffset())
		// Invalid UTF-8 comes back as U+FFFD, as Parse reads it.
		plain, _ := jsontext.AppendUnquote(nil, v)
		if r := rule(string(plain)); r != string(plain) {
			q, _ := jsontext.AppendQuote(nil, r)
			edits = append(edits, edit{end - len(v), end, q})
		}
	}
	if len(edits) == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+16*len(edits))
	last := 0
	for _, e := range edits {
		out = append(out, data[last:e.from]...)
		out = append(out, e.quoted...)
		last = e.to
	}
	return append(out, data[last:]...)
}
