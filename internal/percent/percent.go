// Package percent holds the byte rules of RFC 3986's percent-encoding that
// the route matcher (canonical paths) and the redaction (parameter names)
// share.
//
// It imports nothing, not even of the standard library: routes and redact
// import it, and it stays below both.
package percent

// Decode returns the byte the escape %XX at s[i:] stands for; ok is false
// when s[i:] starts no escape (no '%', or not two hex digits after it).
func Decode(s string, i int) (b byte, ok bool) {
	if i < 0 || i+2 >= len(s) || s[i] != '%' || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), true
}

// Unreserved reports whether c is one of RFC 3986's unreserved characters
// (ALPHA / DIGIT / "-" / "." / "_" / "~"), which mean the same escaped or not.
func Unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
