package sas

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/destination"
)

// MaxPlainBytes is the longest plaintext RSA-OAEP with SHA-256 can
// encrypt under an RSA-4096 key: 512 - 2*32 - 2 bytes. openssl refuses
// longer input too; a container SAS URL is far shorter.
const MaxPlainBytes = KeyBits/8 - 2*sha256.Size - 2

// EncryptURL does, in one step, what the product doc asks of a customer:
// it checks plain as a SAS URL the export would accept (CheckURL) and
// encrypts it (Encrypt). Checking first catches a
// wrong URL while its owner is still at hand, instead of at the first
// delivery. Errors wrap failure.ErrInvalidConfig and never contain the
// signature.
func EncryptURL(pub *rsa.PublicKey, plain string, now time.Time, p Policy) (string, error) {
	if _, err := CheckURL(plain, now, p); err != nil {
		return "", err
	}
	return Encrypt(pub, plain)
}

// CheckURL checks plain as the input of Encrypt (CheckPlain) and as a SAS
// URL the export would accept (Parse with now and p), and returns it
// parsed.
func CheckURL(plain string, now time.Time, p Policy) (*URL, error) {
	if err := CheckPlain(plain); err != nil {
		return nil, err
	}
	return Parse(plain, now, p)
}

// Encrypt encrypts plain to pub exactly as the product doc's commands do,
//
//	openssl pkeyutl -encrypt -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
//	base64
//
// (RSA-OAEP, SHA-256 as the digest and for MGF1, no label), and returns
// the cipher in base64 as destination.EncodeCipher writes it: lines of 76 characters,
// each ending in a line break. plain is encrypted byte for byte: input with
// leading or trailing white space is refused (CheckPlain), not trimmed,
// because what KMS decrypts must be the URL and nothing else, and a
// silent trim would teach that a stray line break is harmless, which for
// the openssl route it is not.
func Encrypt(pub *rsa.PublicKey, plain string) (string, error) {
	if pub == nil {
		return "", invalidf("public key is missing")
	}
	if n := pub.N.BitLen(); n != KeyBits {
		return "", invalidf("public key is RSA %d, not RSA %d", n, KeyBits)
	}
	if err := CheckPlain(plain); err != nil {
		return "", err
	}
	if len(plain) > MaxPlainBytes {
		return "", invalidf("SAS URL is %d bytes long; RSA-4096 with OAEP SHA-256 encrypts at most %d: is it a single container SAS URL?", len(plain), MaxPlainBytes)
	}
	msg := []byte(plain)
	cipher, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	clear(msg)
	if err != nil {
		// Key and length are checked above; what is left is the random
		// source. The error cannot hold the plaintext.
		return "", err
	}
	return destination.EncodeCipher(cipher), nil
}

// CheckPlain refuses an empty SAS URL and one with leading or trailing
// white space (including the final line break editors add), naming the
// white space found: it is never part of the secret, and "ends with \n"
// tells the customer exactly what to remove.
func CheckPlain(plain string) error {
	if plain == "" {
		return invalidf("SAS URL is empty")
	}
	lead := len(plain) - len(strings.TrimLeftFunc(plain, unicode.IsSpace))
	if lead == len(plain) {
		return invalidf("SAS URL is only white space (%s)", quoteSpace(plain))
	}
	trail := len(plain) - len(strings.TrimRightFunc(plain, unicode.IsSpace))
	switch {
	case lead > 0 && trail > 0:
		return invalidf("SAS URL starts with white space (%s) and ends with white space (%s): remove both; the URL must be the input's only content", quoteSpace(plain[:lead]), quoteSpace(plain[len(plain)-trail:]))
	case lead > 0:
		return invalidf("SAS URL starts with white space (%s): remove it; the URL must be the input's only content", quoteSpace(plain[:lead]))
	case trail > 0:
		return invalidf("SAS URL ends with white space (%s), often the line break an editor or echo adds: remove it, e.g. write the file with printf '%%s' \"$URL\" > sas-token.plain", quoteSpace(plain[len(plain)-trail:]))
	}
	return nil
}

// quoteSpace quotes a run of white space, at most a few characters of it.
func quoteSpace(ws string) string {
	const max = 8
	if n := utf8.RuneCountInString(ws); n > max {
		r := []rune(ws)
		return strconv.Quote(string(r[:max])) + "… (" + strconv.Itoa(n) + " characters)"
	}
	return strconv.Quote(ws)
}
