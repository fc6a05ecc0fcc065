package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads the request's JSON body into v strictly: the media type
// application/json, no unknown field, one value, within MaxBody. An empty
// body is allowed only if optional. The problem names the field and the
// value at fault.
func decode(r *http.Request, v any, optional bool) *Problem {
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return problem(http.StatusRequestEntityTooLarge, "body_too_large", "Request body too large",
			fmt.Sprintf("the body is larger than the limit of %d bytes", MaxBody))
	}
	if err != nil {
		return badRequest("unreadable_body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("missing_body", "this request needs a JSON body")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
			fmt.Sprintf("Content-Type is %s, want application/json", strconv.Quote(shown(r.Header.Get("Content-Type")))))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badRequest("invalid_json", "the body holds more than one JSON value")
	}
	return nil
}

// jsonProblem names what encoding/json refused.
func jsonProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest("invalid_json", fmt.Sprintf("the body is not valid JSON at byte %d: %v", syn.Offset, syn))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return badRequest("invalid_field", fmt.Sprintf("%s: a JSON %s, want a %s", field, typ.Value, typ.Type),
			FieldError{Field: field, Value: "a JSON " + typ.Value, Reason: "must be a " + jsonType(typ.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for it: its message is the one way.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return badRequest("unknown_field", fmt.Sprintf("%s is not a field of this request", strconv.Quote(shown(name))),
			FieldError{Field: shown(name), Value: "", Reason: "is not a field of this request (see the API's reference)"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid_json", "the body ends in the middle of a JSON value")
	}
	return badRequest("invalid_json", "the body is not valid JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}
