package destination

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/contentful/auditlogs/internal/failure"
)

// CipherBytes is the length of an RSA-4096 ciphertext.
const CipherBytes = 512

// DecodeCipher decodes the submitted cipher: standard base64, with the line
// breaks that GNU base64 adds every 76 characters (and any other white
// space) ignored. The result must be exactly CipherBytes long. Errors name
// the field sas_cipher and what was found, echoing at most a short prefix,
// and wrap failure.ErrInvalidConfig.
func DecodeCipher(b64 string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, b64)
	if clean == "" {
		return nil, invalidf("sas_cipher is empty: submit the base64 of the encrypted SAS URL")
	}
	raw, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		// A plain SAS URL pasted here is the usual cause; never echo
		// enough of it to matter.
		if looksLikeURL(clean) {
			return nil, invalidf("sas_cipher is a plain URL, not a cipher: encrypt the SAS URL with the public key as documented and submit the base64 of the result")
		}
		return nil, invalidf("sas_cipher is not standard base64 (%d characters starting %s): %v", len(clean), prefix(clean), err)
	}
	if looksLikeURL(string(raw)) {
		return nil, invalidf("sas_cipher is the base64 of a plain URL, not of a cipher: encrypt the SAS URL with the public key as documented")
	}
	if len(raw) != CipherBytes {
		return nil, invalidf("sas_cipher decodes to %d bytes, want %d (an RSA-4096 cipher): was it encrypted with the RSA-4096 public key as documented?", len(raw), CipherBytes)
	}
	return raw, nil
}

// EncodeCipher writes a cipher the way customers submit it, as the product
// doc's `base64` command does: standard base64 in lines of 76 characters,
// each ending in a newline. DecodeCipher reads it back.
func EncodeCipher(cipher []byte) string {
	b64 := base64.StdEncoding.EncodeToString(cipher)
	var b strings.Builder
	for len(b64) > 76 {
		b.WriteString(b64[:76] + "\n")
		b64 = b64[76:]
	}
	b.WriteString(b64 + "\n")
	return b.String()
}

func looksLikeURL(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "https:") || strings.HasPrefix(s, "http:")
}

// prefix quotes the first few characters, enough to recognize what was
// pasted, far too few to be a secret.
func prefix(s string) string {
	const n = 8
	if len(s) > n {
		return strconv.Quote(s[:n]) + "…"
	}
	return strconv.Quote(s)
}

// invalidError is a refusal of a submitted cipher or residency. Its
// message is written here from validated or length-only facts, never
// copied from the input, so it cannot carry a secret. Only the customer can
// fix it: it wraps failure.ErrInvalidConfig.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return failure.ErrInvalidConfig }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}
