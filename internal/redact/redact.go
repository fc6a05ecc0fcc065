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
//
// Of this module redact imports only internal/percent. It must not import
// audit or ingest: they import it (audit.Event.Normalize redacts through
// it).
package redact

import (
	"strings"

	"github.com/contentful/auditlogs/internal/percent"
)

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

// firstOfName and nameLen are the first bytes (both cases) and the lengths
// of Names, a filter before the comparison (TestNamesAreListed keeps them
// in step with Names).
var (
	firstOfName = [256]bool{'a': true, 'A': true, 't': true, 'T': true, 'r': true, 'R': true, 'i': true, 'I': true,
		'c': true, 'C': true, 'p': true, 'P': true, 's': true, 'S': true, 'x': true, 'X': true}
	nameLen = [maxName + 1]bool{3: true, 5: true, 6: true, 8: true, 9: true, 12: true, 13: true, 15: true, 16: true, 20: true}
)

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
	i := strings.IndexByte(u, '?')
	if j := strings.IndexByte(u, '#'); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i >= 0 {
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

// nameEnd is 1 for '=', 2 for the bytes after which a parameter starts
// ('&', ';', '?', '#'), 0 for the rest: the bytes that end a name.
var nameEnd = [256]uint8{'=': 1, '&': 2, ';': 2, '?': 2, '#': 2}

// params redacts the values of listed parameters in s, whose first
// parameter starts at from. In a URL a value ends at '&' or '#' (the
// fragment), in a query at '&' only.
//
// It goes from one '=' to the next (strings.IndexByte skips values fast)
// and reads the name back from it: the bytes since the last start byte, or
// since floor, where a parameter surely starts. A '=' found first on the
// way back means this one is inside a value.
func params(s string, from int, url bool) string {
	ed := editor{s: s}
	floor := from
	for i := from; i < len(s); {
		k := strings.IndexByte(s[i:], '=')
		if k < 0 {
			break
		}
		j := i + k
		i = j + 1
		p := j
		for p > floor && nameEnd[s[p-1]] == 0 && j-p <= 3*maxName {
			p--
		}
		if p > floor && nameEnd[s[p-1]] != 2 || !listedName(s[p:j]) {
			continue // inside a value, too long, or not listed
		}
		ve := j + 1
		for ve < len(s) && s[ve] != '&' && !(url && s[ve] == '#') {
			ve++
		}
		if v := s[j+1 : ve]; v != "" && v != Replacement {
			ed.replace(j+1, ve)
		}
		i, floor = ve+1, ve+1
	}
	return ed.result()
}

// listedName reports whether name, percent-encoded, decodes to one of
// Names, ignoring ASCII case.
func listedName(name string) bool {
	if len(name) < 3 || len(name) > 3*maxName {
		return false
	}
	// Most names are neither listed nor encoded: a listed name starts
	// with one of a few letters and has one of a few lengths.
	if strings.IndexByte(name, '%') < 0 && (len(name) > maxName || !nameLen[len(name)] || !firstOfName[name[0]]) {
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
		if d, ok := percent.Decode(s, k-2); ok {
			c = d
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

// tokens replaces every token shape in s. A shape holds a '-' (or %2D):
// the search goes from one to the next (strings.IndexByte is fast) and
// looks back for the prefix, rather than trying every byte.
func tokens(s string) string {
	ed := editor{s: s}
	encoded := strings.IndexByte(s, '%') >= 0
	for i := 0; i < len(s); {
		h, w := nextHyphen(s, i, encoded)
		if h < 0 {
			break
		}
		start, end := prefixBefore(s, h, i), tokenRun(s, h+w)
		if start < 0 || end == h+w { // no prefix, or no token character
			i = h + w
			continue
		}
		ed.replace(start, end)
		i = end
	}
	return ed.result()
}

// nextHyphen returns the position of the first '-', or of "%2D" when s
// may hold escapes, at or after i, and its width; -1 if none.
func nextHyphen(s string, i int, encoded bool) (int, int) {
	h := strings.IndexByte(s[i:], '-')
	if h >= 0 {
		h += i
	}
	if !encoded {
		return h, 1
	}
	for j := i; ; {
		k := strings.IndexByte(s[j:], '%')
		if k < 0 {
			break
		}
		k += j
		if h >= 0 && k > h {
			break
		}
		if k+2 < len(s) && s[k+1] == '2' && (s[k+2] == 'D' || s[k+2] == 'd') {
			return k, 3
		}
		j = k + 1
	}
	return h, 1
}

// prefixBefore returns where "cfpat" (any case, each byte possibly
// percent-encoded) starts when it ends at s[h], not before floor; else -1.
// Escapes cannot overlap ('%' is no hex digit), so decoding backwards
// reads the same bytes as decoding forwards.
func prefixBefore(s string, h, floor int) int {
	const prefix = "cfpat"
	k := h
	for n := len(prefix) - 1; n >= 0; n-- {
		if k <= floor {
			return -1
		}
		c := s[k-1]
		k--
		if d, ok := percent.Decode(s, k-2); ok {
			c = d
			k -= 2
		}
		if lower(c) != prefix[n] {
			return -1
		}
	}
	if k < floor {
		return -1
	}
	return k
}

// tokenRun returns the end of the token characters (each possibly
// percent-encoded) that start at s[j].
func tokenRun(s string, j int) int {
	for j < len(s) {
		c, w := decodeAt(s, j)
		if !isTokenChar(c) {
			break
		}
		j += w
	}
	return j
}

// decodeAt returns the byte at s[i], percent-decoded, and how many bytes
// of s it took (3 for a valid %XX, else 1). i < len(s).
func decodeAt(s string, i int) (byte, int) {
	if d, ok := percent.Decode(s, i); ok {
		return d, 3
	}
	return s[i], 1
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
