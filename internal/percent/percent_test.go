package percent

import (
	"fmt"
	"net/url"
	"testing"
)

// Decode agrees with net/url on every escape of a byte, in both cases of
// hex digit, and refuses what is no escape.
func TestDecode(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, f := range []string{"%%%02x", "%%%02X"} {
			esc := "a" + fmt.Sprintf(f, c)
			want, err := url.PathUnescape(esc[1:])
			got, ok := Decode(esc, 1)
			if err != nil || !ok || string([]byte{got}) != want {
				t.Fatalf("Decode(%q, 1) = %q, %t; net/url: %q, %v", esc, got, ok, want, err)
			}
		}
	}
	for _, s := range []string{"", "%", "%4", "%4g", "x41", "%G1"} {
		if _, ok := Decode(s, 0); ok {
			t.Errorf("Decode(%q, 0) found an escape", s)
		}
	}
	if _, ok := Decode("%41", -1); ok {
		t.Error("Decode at -1 found an escape")
	}
}

func TestUnreserved(t *testing.T) {
	const want = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
	var got []byte
	for c := 0; c < 256; c++ {
		if Unreserved(byte(c)) {
			got = append(got, byte(c))
		}
	}
	if string(got) != want {
		t.Errorf("unreserved %q, want %q (RFC 3986, section 2.3)", got, want)
	}
}
