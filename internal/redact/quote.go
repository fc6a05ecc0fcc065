package redact

import (
	"fmt"
	"strconv"
)

// QuoteShort quotes a value for an error message when it is short and
// made only of characters that cannot be part of a signature or a base64
// ciphertext ('=', '%', '/', '&' and '?' never pass), and otherwise only
// says how long it is. Errors about customer input (a SAS URL, a cipher, a
// destination's fields) may meet a secret in the wrong place, so echoing
// must be the exception.
func QuoteShort(v string) string {
	const max = 64
	if len(v) <= max && IsPlain(v) {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("(%d characters, not shown)", len(v))
}

// IsPlain reports whether v is made only of letters, digits and the
// characters . - _ : space [ ] and comma, none of which a signature or a
// base64 ciphertext holds.
func IsPlain(v string) bool {
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
