package azuresink

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// secrets returns the forms of a SAS's signature and query that scrub
// removes from messages. It is a function for the reason sas.URL keeps
// its secret in one: fmt prints a function as an address whatever the
// verb, where it would print a string field, or the target of a pointer
// under %s, %q or %x, as it is.
type secrets func() []string

// newSecrets holds forms in a secrets.
func newSecrets(forms ...string) secrets { return func() []string { return forms } }

// list is the forms, for scrub; nil when there are none.
func (s secrets) list() []string {
	if s == nil {
		return nil
	}
	return s()
}

// describe is what every way of printing a Sink gives: where it writes
// and until when, never the SAS (the client inside holds it).
func (s Sink) describe() string {
	d := "azure container " + s.account + "/" + s.container
	if s.prefix != "" {
		d += ", prefix " + strconv.Quote(s.prefix)
	}
	if !s.expiry.IsZero() {
		d += ", SAS expires " + s.expiry.UTC().Format(time.RFC3339)
	}
	return d
}

// String describes the sink without its SAS.
func (s Sink) String() string { return s.describe() }

// GoString makes %#v print the description too.
func (s Sink) GoString() string { return "azuresink.Sink(" + strconv.Quote(s.describe()) + ")" }

// Format makes every fmt verb print the description: fmt's default for a
// struct would walk the fields.
func (s Sink) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(s.describe()))
	default:
		fmt.Fprint(f, s.describe())
	}
}

// MarshalJSON encodes the description as a JSON string.
func (s Sink) MarshalJSON() ([]byte, error) { return json.Marshal(s.describe()) }

// LogValue makes slog record the description.
func (s Sink) LogValue() slog.Value { return slog.StringValue(s.describe()) }

var (
	_ slog.LogValuer = Sink{}
	_ fmt.Formatter  = Sink{}
)
