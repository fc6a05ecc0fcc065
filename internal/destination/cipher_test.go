package destination

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/failure"
)

// testSig is a made-up SAS signature; its raw and URL-encoded forms, a
// distinctive piece of it, and the query holding it must never appear in
// an error.
const testSig = "k3Y+q1Xv7s9w/zR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2="

var testQuery = "sv=2025-01-05&sr=c&sp=cw&se=2026-12-31T00:00:00Z&sig=" + url.QueryEscape(testSig)

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSig, url.QueryEscape(testSig), "zR0aB4cD5eF6", testQuery} {
		if strings.Contains(s, secret) {
			t.Fatalf("%s contains the signature or the query (%q): %s", what, secret, s)
		}
	}
}

// wrap76 formats b64 as GNU base64 does: lines of 76 and a final newline.
func wrap76(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		panic(err)
	}
	return EncodeCipher(raw)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeCipherAccepts(t *testing.T) {
	want := randomBytes(t, CipherBytes)
	b64 := base64.StdEncoding.EncodeToString(want)
	for name, in := range map[string]string{
		"one line":           b64,
		"GNU base64 wrapped": wrap76(b64),
		"CRLF":               strings.ReplaceAll(wrap76(b64), "\n", "\r\n"),
		"indented":           "  " + strings.ReplaceAll(wrap76(b64), "\n", "\n\t"),
	} {
		got, err := DecodeCipher(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: decoded bytes differ", name)
		}
	}
}

func TestDecodeCipherRefuses(t *testing.T) {
	secretURL := "https://acct01.blob.core.windows.net/audit-logs?" + testQuery
	long := base64.StdEncoding.EncodeToString(randomBytes(t, CipherBytes))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "sas_cipher is empty"},
		{"only white space", " \n\r\n", "sas_cipher is empty"},
		{"not base64", "!!notbase64" + long, `sas_cipher is not standard base64 (695 characters starting "!!notbas"…)`},
		{"URL-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(long) + "-_", "sas_cipher is not standard base64"},
		{"too short", base64.StdEncoding.EncodeToString(randomBytes(t, 511)), "sas_cipher decodes to 511 bytes, want 512"},
		{"too long", base64.StdEncoding.EncodeToString(randomBytes(t, 513)), "decodes to 513 bytes"},
		{"RSA-2048 cipher", wrap76(base64.StdEncoding.EncodeToString(randomBytes(t, 256))), "decodes to 256 bytes"},
		{"plain SAS URL", secretURL, "sas_cipher is a plain URL"},
		{"base64 of plain SAS URL", wrap76(base64.StdEncoding.EncodeToString([]byte(secretURL))), "sas_cipher is the base64 of a plain URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCipher(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, failure.ErrInvalidConfig) {
				t.Errorf("error does not wrap failure.ErrInvalidConfig: %v", err)
			}
			assertNoSecret(t, "error", err.Error())
			// A short prefix at most: never the bulk of the input.
			if len(tc.in) > 32 && strings.Contains(err.Error(), strings.TrimSpace(tc.in)[8:32]) {
				t.Errorf("error repeats the input beyond a short prefix: %v", err)
			}
		})
	}
}

func TestEncodeCipherWrapsLikeGNUBase64(t *testing.T) {
	raw := randomBytes(t, CipherBytes)
	enc := EncodeCipher(raw)
	// 684 characters: nine full lines, as `base64` prints them.
	lines := strings.Split(strings.TrimSuffix(enc, "\n"), "\n")
	if !strings.HasSuffix(enc, "\n") || len(lines) != 9 || len(lines[0]) != 76 || len(lines[8]) != 76 {
		t.Fatalf("layout: %d lines, first %d, last %d characters", len(lines), len(lines[0]), len(lines[len(lines)-1]))
	}
	back, err := DecodeCipher(enc)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("DecodeCipher(EncodeCipher(x)) != x: %v", err)
	}
}
