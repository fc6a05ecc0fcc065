package sas

import (
	"fmt"
	"strconv"

	"github.com/contentful/auditlogs/internal/destination"
)

// Residency is the model's data residency (destination.Residency): the
// KMS key pair a SAS cipher was encrypted to. The names below keep the
// keys' API (Decrypter.KeyIDs, PublicKeys) in this package's terms; the
// values and their validation are destination's.
type Residency = destination.Residency

const (
	US = destination.ResidencyUS
	EU = destination.ResidencyEU
)

// Residencies lists every valid residency (destination.Residencies).
var Residencies = destination.Residencies

// ParseResidency is destination.ParseResidency: exactly "us" or "eu".
func ParseResidency(s string) (Residency, error) { return destination.ParseResidency(s) }

// quoteShort quotes a value for an error message when it is short and made
// only of characters that cannot be part of a signature or a base64
// ciphertext ('=', '%', '/', '&' and '?' never pass), and otherwise only
// says how long it is. Errors here describe customer input that may hold a
// secret in the wrong place, so echoing must be the exception.
func quoteShort(v string) string {
	const max = 64
	if len(v) <= max && isPlain(v) {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("(%d characters, not shown)", len(v))
}

func isPlain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == ' ', c == '[', c == ']', c == ',':
		default:
			return false
		}
	}
	return true
}
