package registry

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
)

// InvalidItem is a registry item that List and ListParallel skipped
// because it does not decode into a valid destination (hand-edited,
// written by other code, or valid under rules that have since changed):
// which org, which attribute, its value where that is safe to show, and
// why. It is also the error of a scan without an invalid callback.
type InvalidItem struct {
	// OrgID is the item's key as stored (itself possibly the invalid field).
	OrgID string `json:"org_id"`
	// Field is the attribute at fault (AttrBucket, AttrCreatedAt, ...),
	// empty if the cause names none.
	Field string `json:"field"`
	// Value is the attribute's value, cut to maxShownValue bytes; always
	// empty for the SAS cipher (the SAS URL to whoever holds the key) and
	// the residency (a secret pasted in the wrong place would show).
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
}

func (i InvalidItem) Error() string {
	field := i.Field
	if field == "" {
		field = "item"
	}
	if i.Value != "" {
		field += " " + strconv.Quote(i.Value)
	}
	return fmt.Sprintf("registry item for org %s is invalid: %s: %s", strconv.Quote(i.OrgID), field, i.Reason)
}

// maxShownValue bounds InvalidItem.Value: enough to recognize a value, not
// a hand-edited item's whole 400 KB attribute in a log line.
const maxShownValue = 120

// hiddenAttrs are never shown in an InvalidItem's value.
var hiddenAttrs = map[string]bool{AttrSASCipher: true, AttrResidency: true}

// invalidItem describes why decode refused item, from decode's error:
// a field error of the destination's validation, a time that does not
// parse, or a refusal of the sas package (residency, cipher), whose
// messages are written to be safe to show.
func invalidItem(item map[string]types.AttributeValue, err error) InvalidItem {
	bad := InvalidItem{OrgID: str(item, AttrOrgID), Reason: err.Error()}
	var fe *audit.FieldError
	var pe *time.ParseError
	switch {
	case errors.As(err, &fe):
		bad.Field, bad.Value, bad.Reason = fe.Field, fe.Value, fe.Reason
	case errors.As(err, &pe):
		// decode names the attribute only in its message: find the
		// time attribute holding the value, in decode's order.
		for _, attr := range []string{AttrCreatedAt, AttrUpdatedAt, AttrSASExpiry} {
			if v := str(item, attr); v != "" && v == pe.Value {
				bad.Field, bad.Value = attr, v
				break
			}
		}
		bad.Reason = "is not an RFC 3339 time"
	case destination.Kind(str(item, AttrKind)) == destination.KindAzure:
		// The sas package's refusals, which name no field: the checks
		// Validate makes of an Azure destination, asked again one by one.
		if rerr := destination.ValidateResidency(str(item, AttrResidency)); rerr != nil {
			bad.Field, bad.Reason = AttrResidency, rerr.Error()
		} else if _, cerr := destination.DecodeCipher(str(item, AttrSASCipher)); cerr != nil {
			bad.Field, bad.Reason = AttrSASCipher, cerr.Error()
		}
	}
	if hiddenAttrs[bad.Field] {
		bad.Value = ""
	}
	bad.Value = cut(bad.Value, maxShownValue)
	return bad
}

// cut shortens v to at most n bytes at a rune boundary, marking the cut.
func cut(v string, n int) string {
	if len(v) <= n {
		return v
	}
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n] + "…"
}
