package destination

import (
	"fmt"
	"strconv"
)

// Residency is the data residency whose KMS key a SAS cipher was encrypted
// to. Each residency has its own key pair, so a cipher made with the US
// public key can only be decrypted with the US private key.
type Residency string

const (
	ResidencyUS Residency = "us"
	ResidencyEU Residency = "eu"
)

// Residencies lists every valid residency.
var Residencies = []Residency{ResidencyUS, ResidencyEU}

// ParseResidency accepts exactly "us" or "eu". A refusal wraps
// failure.ErrInvalidConfig.
func ParseResidency(s string) (Residency, error) {
	switch r := Residency(s); r {
	case ResidencyUS, ResidencyEU:
		return r, nil
	}
	return "", invalidf("invalid residency %s: must be %q or %q", quoteShort(s), ResidencyUS, ResidencyEU)
}

// ValidateResidency accepts "us" and "eu".
func ValidateResidency(r string) error {
	_, err := ParseResidency(r)
	return err
}

// quoteShort quotes a value for an error message when it is short and made
// only of characters that cannot be part of a signature or a base64
// ciphertext ('=', '%', '/', '&' and '?' never pass), and otherwise only
// says how long it is. Errors here describe customer input that may hold a
// secret in the wrong place, so echoing must be the exception. (sas has
// the same rule for the parts of a SAS URL.)
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
