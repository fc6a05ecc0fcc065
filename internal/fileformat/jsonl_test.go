package fileformat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNeedsEscapeAgreesWithByteLoop(t *testing.T) {
	specials := []byte{'"', '\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 'a', '/', 0x21}
	for n := 0; n < 40; n++ {
		for pos := 0; pos < n; pos++ {
			for _, c := range specials {
				b := bytes.Repeat([]byte("x"), n)
				b[pos] = c
				s := string(b)
				want := false
				for i := 0; i < len(s); i++ {
					want = want || s[i] < 0x20 || s[i] == '"' || s[i] == '\\' || s[i] >= 0x80
				}
				if got := needsEscape(s); got != want {
					t.Fatalf("needsEscape(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

// checkJSONString checks that appendJSONString makes, for s, a JSON
// string that encoding/json reads as s with its invalid UTF-8 replaced as
// csvenc replaces it, and that holds no raw line break of any kind.
func checkJSONString(t *testing.T, s string) {
	t.Helper()
	out := append(appendJSONString([]byte(`"`), s), '"')
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%q made %q: %v", s, out, err)
	}
	if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
		t.Fatalf("%q made %q, which reads as %q, want %q", s, out, got, want)
	}
	if !utf8.Valid(out) {
		t.Fatalf("%q made invalid UTF-8 %q", s, out)
	}
	if i := strings.IndexFunc(string(out), lineBreak); i >= 0 {
		t.Fatalf("%q made %q, with a raw line break at %d", s, out, i)
	}
}

// lineBreak is every character that some reader splits lines on
// (Python's str.splitlines), and the other control characters.
func lineBreak(r rune) bool {
	return r < 0x20 || r == 0x85 || r == 0x2028 || r == 0x2029
}

func TestJSONStringReadsBack(t *testing.T) {
	for c := 0; c < 256; c++ {
		checkJSONString(t, string([]byte{byte(c)}))
		checkJSONString(t, "abcdefgh"+string([]byte{byte(c)})+"ijklmnopq")
	}
	for _, e := range hardEvents() {
		for _, s := range wantRow(&e) {
			checkJSONString(t, s)
		}
		for _, s := range []string{e.RequestMethod, e.RequestPath, e.RequestQuery, e.Space, e.Route, e.Referrer, e.ActorID} {
			checkJSONString(t, s) // before its UTF-8 is fixed
		}
	}
	for _, s := range []string{"", "\u2028\u2029\u0085", "a\u2028b", "\xe2\x80", "\xe2\x80\xa8\xff", "😀\xf0\x9f", "\ufffd"} {
		checkJSONString(t, s)
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q="x"\n`, "\x00\x1f\x7f", "\xff\xfe", "ünï\u2028\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkJSONString(t, s) })
}

// TestJSONLOneRecordALine: a reader that splits on any line break sees
// exactly one line per row.
func TestJSONLOneRecordALine(t *testing.T) {
	events := hardEvents()
	data := gunzip(t, encode(t, JSONLGzip, events))
	if n := strings.Count(string(data), "\n"); n != len(events) {
		t.Fatalf("%d LFs for %d rows", n, len(events))
	}
	if n := len(strings.FieldsFunc(string(data), lineBreak)); n != len(events) {
		t.Fatalf("%d lines split on every line break for %d rows", n, len(events))
	}
}
