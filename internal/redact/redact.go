// Package redact removes credentials from the request fields that audit
// events carry and from the text of rejected request-log records, so that
// a token a client put in a URL never reaches the log store, a customer's
// file or our rejects bucket.
//
// # The rule
//
// A credential parameter is one whose name, percent-decoded and compared
// case-insensitively (ASCII), is one of [Names] (so access_token,
// ACCESS_TOKEN and access%5Ftoken are the same). Its value becomes
// [Replacement]; the name stays, and every other byte is unchanged. An
// empty value stays empty (it holds no credential). Independently, any run
// that has the shape of a platform personal access token, "CFPAT-" (any
// case) followed by one or more token characters (A-Z a-z 0-9 _ -), each
// of them possibly percent-encoded, becomes [Replacement] wherever it
// stands.
//
// [Query] applies the rule to a raw query string: a parameter starts at the
// beginning and after each '&', ';', '?' or '#', and its value runs from
// the first '=' to the next '&'. ';' starts a parameter because some
// servers take it as a separator; a value runs on over ';' so that a value
// holding one is never redacted only in part. [URL] applies it to a URL
// (a referrer): to its query and to its fragment (OAuth's implicit flow
// returns "#access_token=…"), a value there ending at '&' or '#'. [Text]
// is for text of unknown shape (a rejected record that is not JSON, an
// error message): every "name=value" whose name ends with one of [Names]
// has its value, up to a '&', '"', '\', white space or control character,
// redacted; it redacts more than Query (csrf_token=…) and that is the
// point: rejects are for operators, not a customer's record.
//
// Every function is idempotent, returns its input when nothing is to be
// redacted (without allocating), and never panics. A redacted value can be
// longer than the value it replaces (REDACTED is 8 bytes): callers that
// keep a limit check it after redacting.
package redact

import "strings"

// Replacement is what a credential value becomes.
const Replacement = "REDACTED"

// TokenPrefix starts a platform personal access token.
const TokenPrefix = "CFPAT-"

// Names are the parameters whose values are credentials: OAuth's, the
// platform's access_token, passwords and secrets, and the signatures and
// credentials of SAS (sig) and S3 presigned URLs.
var Names = []string{
	"access_token", "token", "refresh_token", "id_token", "client_secret", "password", "secret",
	"sig", "signature", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
}

// maxName is the longest of Names (X-Amz-Security-Token).
const maxName = 20

// listed reports whether b, a decoded parameter name already in lower
// case, is one of Names. The switch compiles to length and byte
// comparisons, without allocating.
func listed(b []byte) bool {
	switch string(b) {
	case "access_token", "token", "refresh_token", "id_token", "client_secret", "password", "secret",
		"sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token":
		return true
	}
	return false
}

// Query returns q, a raw query string without '?', with its credentials
// redacted.
func Query(q string) string {
	return tokens(params(q, 0, false))
}

// URL returns u, a URL or URL reference, with the credentials of its query
// and fragment redacted, and every token shape anywhere in it.
func URL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = params(u, i+1, true)
	}
	return tokens(u)
}

// Text returns s with every value of a name=value whose name ends with one
// of Names redacted, and every token shape.
func Text(s string) string {
	return tokens(textParams(s))
}

// editor builds a redacted copy of s only once something is replaced.
type editor struct {
	s    string
	b    []byte
	last int // s[:last] is in b
}

func (e *editor) replace(from, to int) {
	if e.b == nil {
		e.b = make([]byte, 0, len(e.s)+len(Replacement))
	}
	e.b = append(e.b, e.s[e.last:from]...)
	e.b = append(e.b, Replacement...)
	e.last = to
}

func (e *editor) result() string {
	if e.b == nil {
		return e.s
	}
	return string(append(e.b, e.s[e.last:]...))
}

// isStart reports whether a parameter name starts after c.
func isStart(c byte) bool { return c == '&' || c == ';' || c == '?' || c == '#' }

// params redacts the values of listed parameters in s, whose first
// parameter starts at from. In a URL a value ends at '&' or '#' (the
// fragment), in a query at '&' only.
func params(s string, from int, url bool) string {
	ed := editor{s: s}
	for i := from; i < len(s); {
		j := i
		for j < len(s) && s[j] != '=' && !isStart(s[j]) {
			j++
		}
		if j == len(s) {
			break
		}
		if s[j] != '=' { // a name without a value
			i = j + 1
			continue
		}
		if !listedName(s[i:j]) {
			// The next name starts after the next start byte, which may
			// be inside this value (a;token=x).
			i = j + 1
			for i < len(s) && !isStart(s[i]) {
				i++
			}
			i++
			continue
		}
		vs, ve := j+1, j+1
		for ve < len(s) && s[ve] != '&' && !(url && s[ve] == '#') {
			ve++
		}
		if v := s[vs:ve]; v != "" && v != Replacement {
			ed.replace(vs, ve)
		}
		i = ve + 1
	}
	return ed.result()
}

// listedName reports whether name, percent-encoded, decodes to one of
// Names, ignoring ASCII case.
func listedName(name string) bool {
	if len(name) < 3 || len(name) > 3*maxName {
		return false
	}
	var buf [maxName]byte
	n := 0
	for i := 0; i < len(name); {
		c, w := decodeAt(name, i)
		if n == len(buf) {
			return false
		}
		buf[n] = lower(c)
		n++
		i += w
	}
	return listed(buf[:n])
}

// textParams is Text's parameter rule: for each '=', whether the decoded
// text before it ends with one of Names.
func textParams(s string) string {
	ed := editor{s: s}
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '=')
		if j < 0 {
			break
		}
		j += i
		if !endsWithName(s[:j]) {
			i = j + 1
			continue
		}
		vs, ve := j+1, j+1
		for ve < len(s) && !textStop(s[ve]) {
			ve++
		}
		if v := s[vs:ve]; v != "" && v != Replacement {
			ed.replace(vs, ve)
		}
		i = ve
	}
	return ed.result()
}

// textStop reports whether c ends a value in Text: a query separator, the
// end of a JSON string or an escape in it, white space, a control byte.
func textStop(c byte) bool {
	return c == '&' || c == '"' || c == '\\' || c <= ' ' || c == 0x7f
}

// endsWithName reports whether s, percent-decoded backwards, ends with one
// of Names, ignoring ASCII case.
func endsWithName(s string) bool {
	var rev [maxName]byte // the last decoded bytes, the last first
	n := 0
	for k := len(s); k > 0 && n < maxName; n++ {
		c := s[k-1]
		k--
		if k >= 2 && s[k-2] == '%' && isHex(s[k-1]) && isHex(c) {
			c = unhex(s[k-1])<<4 | unhex(c)
			k -= 2
		}
		rev[n] = lower(c)
	}
	var buf [maxName]byte
	for m := 3; m <= n; m++ { // every suffix of 3 bytes or more
		for i := 0; i < m; i++ {
			buf[i] = rev[m-1-i]
		}
		if listed(buf[:m]) {
			return true
		}
	}
	return false
}

// tokens replaces every token shape in s.
func tokens(s string) string {
	ed := editor{s: s}
	for i := 0; i+len(TokenPrefix) < len(s); i++ {
		if c := s[i]; c != 'C' && c != 'c' && c != '%' {
			continue
		}
		if end := tokenAt(s, i); end > 0 {
			ed.replace(i, end)
			i = end - 1
		}
	}
	return ed.result()
}

// tokenAt returns the end of the token shape that starts at s[i], or -1.
func tokenAt(s string, i int) int {
	const prefix = "cfpat-"
	j := i
	for k := 0; k < len(prefix); k++ {
		if j == len(s) {
			return -1
		}
		c, w := decodeAt(s, j)
		if lower(c) != prefix[k] {
			return -1
		}
		j += w
	}
	start := j
	for j < len(s) {
		c, w := decodeAt(s, j)
		if !isTokenChar(c) {
			break
		}
		j += w
	}
	if j == start {
		return -1
	}
	return j
}

// decodeAt returns the byte at s[i], percent-decoded, and how many bytes
// of s it took (3 for a valid %XX, else 1). i < len(s).
func decodeAt(s string, i int) (byte, int) {
	if c := s[i]; c != '%' || i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return c, 1
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), 3
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
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
