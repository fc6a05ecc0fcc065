package rsakey

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

// TestParseAndFingerprint: a key reads back from its PEM and DER, its
// size checked when asked; the fingerprint is the SHA-256 of the DER; a
// second block is refused only when strict; other blocks and sizes are
// refused naming what is wrong.
func TestParseAndFingerprint(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	block := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pub, gotDER, err := ParsePEM(block, 2048, true)
	if err != nil || pub.N.Cmp(k.N) != 0 || string(gotDER) != string(der) {
		t.Fatalf("ParsePEM: %v", err)
	}
	sum := sha256.Sum256(der)
	if f, err := FingerprintOf(&k.PublicKey); err != nil || f != hex.EncodeToString(sum[:]) || Fingerprint(der) != f {
		t.Fatalf("fingerprint %s, %v; want %x", f, err, sum)
	}
	for _, c := range []struct {
		name   string
		data   []byte
		bits   int
		strict bool
		want   string
	}{
		{"size", block, 4096, false, "RSA 2048, not RSA 4096"},
		{"two blocks", append(append([]byte{}, block...), block...), 0, true, "more than one PEM block"},
		{"other block", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}), 0, false, `"RSA PUBLIC KEY"`},
		{"no block", []byte("hello"), 0, false, "no PEM block"},
	} {
		if _, _, err := ParsePEM(c.data, c.bits, c.strict); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, _, err := ParsePEM(append(append([]byte{}, block...), block...), 0, false); err != nil {
		t.Errorf("two blocks, not strict: %v", err)
	}
}
