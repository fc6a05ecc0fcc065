package redact

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// pat is a token of the platform's shape: CFPAT- and 43 token characters.
// It is made up; no test prints it.
var pat = "CFPAT-" + strings.Repeat("x7_Q-", 8) + "abc"

// show quotes s for a failure message with the test token masked: no test
// output prints a token, even a made-up one.
func show(s string) string {
	return strings.ReplaceAll(strconv.Quote(s), pat, "<test token>")
}

func TestPatShape(t *testing.T) {
	if len(pat) != len(TokenPrefix)+43 {
		t.Fatalf("test token has %d characters after the prefix, want 43", len(pat)-len(TokenPrefix))
	}
}

func TestNamesAreListed(t *testing.T) {
	for _, n := range Names {
		if !listedName(n) || !listedName(strings.ToUpper(n)) || !listedName(strings.ToLower(n)) {
			t.Errorf("%s is in Names but not matched", n)
		}
		if len(n) > maxName || !nameLen[len(n)] || !firstOfName[n[0]|0x20] || !firstOfName[n[0]&^0x20] {
			t.Errorf("%s: maxName, nameLen or firstOfName lacks it", n)
		}
	}
	for _, n := range []string{"", "to", "tokens", "a_name_longer_than_the_longest_listed_one", "mytoken", "access-token", "passwd", "x-amz-date", "access_token_"} {
		if listedName(n) {
			t.Errorf("%q matched, but it is no listed name", n)
		}
	}
}

func TestQuery(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"locale=en", "locale=en"},
		{"access_token=" + pat + "&locale=en", "access_token=REDACTED&locale=en"},
		{"locale=en&access_token=secret-value", "locale=en&access_token=REDACTED"},
		{"ACCESS_TOKEN=abc", "ACCESS_TOKEN=REDACTED"},
		{"Access_Token=abc&x=1", "Access_Token=REDACTED&x=1"},
		{"access%5Ftoken=abc", "access%5Ftoken=REDACTED"},
		{"access%5ftoken=abc", "access%5ftoken=REDACTED"},
		{"%61ccess_token=abc", "%61ccess_token=REDACTED"},
		{"token=a&refresh_token=b&id_token=c&client_secret=d&password=e&secret=f&sig=g&signature=h",
			"token=REDACTED&refresh_token=REDACTED&id_token=REDACTED&client_secret=REDACTED&password=REDACTED&secret=REDACTED&sig=REDACTED&signature=REDACTED"},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261124%2Fus-east-1&X-Amz-Date=20261124T000000Z&X-Amz-Signature=abcdef&X-Amz-Security-Token=FQo",
			"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20261124T000000Z&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED"},
		{"sv=2022-11-02&sr=c&sp=cw&sig=abc%2Bdef%3D", "sv=2022-11-02&sr=c&sp=cw&sig=REDACTED"},
		// The name must be the whole name.
		{"csrf_token=abc&tokens=x&mysig=y", "csrf_token=abc&tokens=x&mysig=y"},
		// An empty value holds nothing; a name without '=' has no value.
		{"token=&password", "token=&password"},
		// Redacted already: unchanged.
		{"token=REDACTED", "token=REDACTED"},
		// A value runs to '&', over ';' and '#'.
		{"password=a;b#c&x=1", "password=REDACTED&x=1"},
		// ';', '?' and '#' start a parameter too.
		{"x=1;token=abc&y=2", "x=1;token=REDACTED&y=2"},
		{"next=/cb?token=abc&y=2", "next=/cb?token=REDACTED&y=2"},
		// A value holding '=': all of it.
		{"token=a=b&c=d", "token=REDACTED&c=d"},
		// The token shape anywhere, under any name, in any case.
		{"q=" + pat, "q=REDACTED"},
		{"q=hello%20" + pat + "%20world", "q=hello%20REDACTED%20world"},
		{"filter=" + strings.ToLower(pat) + ",x", "filter=REDACTED,x"},
		{"q=%43FPAT-%61b", "q=REDACTED"},
		{"q=CFPAT-", "q=CFPAT-"},
		{"q=CFPAT-.", "q=CFPAT-."},
		{"q=CFPAT", "q=CFPAT"},
		// Bytes that are not UTF-8, and bad escapes, are kept.
		{"a=\xff&token=\xfe&b=%zz", "a=\xff&token=REDACTED&b=%zz"},
	} {
		if got := Query(c.in); got != c.want {
			t.Errorf("Query(%s) = %s, want %s", show(c.in), show(got), show(c.want))
		}
	}
}

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"https://app.contentful.com/spaces/s1", "https://app.contentful.com/spaces/s1"},
		{"https://example.com/cb?code=1&state=2", "https://example.com/cb?code=1&state=2"},
		{"https://example.com/cb?access_token=abc&x=1", "https://example.com/cb?access_token=REDACTED&x=1"},
		// The query ends at the fragment; the fragment has parameters too
		// (OAuth's implicit flow).
		{"https://example.com/cb?token=abc#access_token=def&token_type=bearer",
			"https://example.com/cb?token=REDACTED#access_token=REDACTED&token_type=bearer"},
		{"https://example.com/cb#access_token=def&expires_in=3600", "https://example.com/cb#access_token=REDACTED&expires_in=3600"},
		// A hash-routed single page app: the parameters after '?' in the fragment.
		{"https://example.com/#/callback?id_token=e.y.j&x=1", "https://example.com/#/callback?id_token=REDACTED&x=1"},
		// The path is not a query: a name=value there is data.
		{"https://example.com/token=abc/x", "https://example.com/token=abc/x"},
		// But a token shape is redacted anywhere.
		{"https://example.com/" + pat + "/x", "https://example.com/REDACTED/x"},
		{"https://example.com/x?q=" + pat + "#f", "https://example.com/x?q=REDACTED#f"},
		{"https://blob.core.windows.net/c?sv=2022&sig=abc%3D", "https://blob.core.windows.net/c?sv=2022&sig=REDACTED"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%s) = %s, want %s", show(c.in), show(got), show(c.want))
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"not json at all", "not json at all"},
		{`{"request_query":"access_token=` + pat + `&locale=en"`, `{"request_query":"access_token=REDACTED&locale=en"`},
		// Go's encoding/json writes '&' as \u0026.
		{`{"request_query":"a=1\u0026password=hunter2\u0026b=2"}`, `{"request_query":"a=1\u0026password=REDACTED\u0026b=2"}`},
		{`"referrer":"https://x/cb#access_token=abc"`, `"referrer":"https://x/cb#access_token=REDACTED"`},
		// Any name that ends with a listed one; percent-encoded names too.
		{"csrf_token=abc page_token=def x-amz-signature=0f", "csrf_token=REDACTED page_token=REDACTED x-amz-signature=REDACTED"},
		{"access%5Ftoken=abc", "access%5Ftoken=REDACTED"},
		{"PASSWORD=abc;def,ghi", "PASSWORD=REDACTED"},
		{"token=", "token="},
		{"token= x", "token= x"},
		{"token=REDACTED", "token=REDACTED"},
		{"error: " + strings.ToLower(pat) + " is invalid", "error: REDACTED is invalid"},
		{"locale=en=us", "locale=en=us"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%s) = %s, want %s", show(c.in), show(got), show(c.want))
		}
	}
}

func TestNoAllocationWhenClean(t *testing.T) {
	q := "fields.title=Hello%2C+world&locale=en-US&content_type=blogPost"
	u := "https://app.contentful.com/spaces/s7k2abcd1234/entries?x=1#frag"
	if n := testing.AllocsPerRun(100, func() { Query(q); URL(u); Text(q) }); n != 0 {
		t.Errorf("%v allocations redacting clean values", n)
	}
}

// Oracles for the fuzz test, written apart from the code under test.

var escape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

func decodeAll(s string) string {
	return escape.ReplaceAllStringFunc(s, func(m string) string {
		return string([]byte{unhexOracle(m[1])<<4 | unhexOracle(m[2])})
	})
}

func unhexOracle(c byte) byte { return byte(strings.IndexByte("0123456789abcdef", lower(c))) }

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func isListed(name string) bool {
	d := asciiLower(decodeAll(name))
	for _, n := range Names {
		if d == asciiLower(n) {
			return true
		}
	}
	return false
}

// survivor returns the first value of a listed parameter in s (parameters
// from index from on) that is neither empty nor the replacement.
func survivor(s string, from int, url bool) (string, bool) {
	ends := "&"
	if url {
		ends = "&#"
	}
	for p := from; p < len(s); p++ {
		if p != from && !strings.ContainsRune("&;?#", rune(s[p-1])) {
			continue
		}
		q := strings.IndexAny(s[p:], "=&;?#")
		if q < 0 || s[p+q] != '=' || !isListed(s[p:p+q]) {
			continue
		}
		v := s[p+q+1:]
		if e := strings.IndexAny(v, ends); e >= 0 {
			v = v[:e]
		}
		if v != "" && v != Replacement {
			return s[p : p+q], true
		}
	}
	return "", false
}

var tokenShape = regexp.MustCompile(`(?i)cfpat-[a-z0-9_-]`)

// latin1 maps each byte to the rune of the same value, so that any bytes
// make valid UTF-8 for regexp.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// onlyReplaced reports whether out is in with some non-empty runs of bytes
// outside notInRun replaced by Replacement.
func onlyReplaced(in, out, notInRun string) bool {
	pieces := strings.Split(out, Replacement)
	for i := range pieces {
		pieces[i] = regexp.QuoteMeta(latin1(pieces[i]))
	}
	re := regexp.MustCompile(`^` + strings.Join(pieces, `[^`+regexp.QuoteMeta(notInRun)+`]+`) + `$`)
	return re.MatchString(latin1(in))
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"access_token=" + pat + "&locale=en", "https://x/cb?token=a#access_token=b&c=d", "a=1;password=x#y&z",
		"%43FPAT-%61b", "X-Amz-Signature=0&X-Amz-Credential=1", `{"request_query":"a=1\u0026sig=x"}`, "token=REDACTED",
		"access%5Ftoken=%", "cfpat-cfpat-x", "=&;?#", "%5%5Ftoken=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name     string
			fn       func(string) string
			notInRun string
		}{
			{"Query", Query, "&"},
			{"URL", URL, "&#"},
			{"Text", Text, "&\"\\\x00-\x20\x7f"},
		} {
			out := c.fn(s)
			if again := c.fn(out); again != out {
				t.Fatalf("%s is not idempotent on %q: %q, then %q", c.name, s, out, again)
			}
			if m := tokenShape.FindStringIndex(decodeAll(out)); m != nil {
				t.Fatalf("%s(%q) left a token shape at byte %d of the decoded result", c.name, s, m[0])
			}
			// The regexp oracle takes time in the product of the lengths:
			// short inputs only.
			if len(s) <= 256 && !onlyReplaced(s, out, c.notInRun) {
				t.Fatalf("%s(%q) = %q changes more than values", c.name, s, out)
			}
			switch c.name {
			case "Query":
				if n, ok := survivor(out, 0, false); ok {
					t.Fatalf("Query(%q) = %q leaves the value of %q", s, out, n)
				}
			case "URL":
				if i := strings.IndexAny(out, "?#"); i >= 0 {
					if n, ok := survivor(out, i+1, true); ok {
						t.Fatalf("URL(%q) = %q leaves the value of %q", s, out, n)
					}
				}
			case "Text":
				// Text redacts at least what Query does.
				if n, ok := survivor(out, 0, false); ok && !strings.ContainsFunc(s, func(r rune) bool { return r != '&' && r < 0x80 && textStop(byte(r)) }) {
					t.Fatalf("Text(%q) = %q leaves the value of %q", s, out, n)
				}
			}
		}
	})
}

// TestQuoteShort: a short plain value is quoted; a long one, or one with a
// character of a signature or a ciphertext, is only measured.
func TestQuoteShort(t *testing.T) {
	for v, want := range map[string]string{
		"us":                    `"us"`,
		"my-account_1.core:443": `"my-account_1.core:443"`,
		"sig=abc":               "(7 characters, not shown)",
		"a%2Fb":                 "(5 characters, not shown)",
		strings.Repeat("a", 65): "(65 characters, not shown)",
		"QUJDRA==":              "(8 characters, not shown)",
	} {
		if got := QuoteShort(v); got != want {
			t.Errorf("QuoteShort(%q) = %s, want %s", v, got, want)
		}
	}
}
