// Package rsakey reads and names the RSA public keys the service hands
// out: the SAS encryption keys (internal/sas) and the manifests' signing
// key (internal/signing), as KMS returns them (DER SubjectPublicKeyInfo)
// and as customers hold them ("PUBLIC KEY" PEM), and their fingerprint,
// the hex SHA-256 of the DER (what `openssl pkey -pubin -outform DER |
// sha256sum` prints). One place, so that every reader of a key refuses
// the same files and every fingerprint is the same number.
//
// It imports only the standard library.
package rsakey

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseDER parses a SubjectPublicKeyInfo and checks it is an RSA key of
// bits bits (any size when bits is 0).
func ParseDER(der []byte, bits int) (*rsa.PublicKey, error) {
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key is not a SubjectPublicKeyInfo: %w", err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is a %T, not an RSA key", key)
	}
	if n := pub.N.BitLen(); bits != 0 && n != bits {
		return nil, fmt.Errorf("public key is RSA %d, not RSA %d", n, bits)
	}
	return pub, nil
}

// ParsePEM reads one "PUBLIC KEY" PEM block and checks it as ParseDER
// does. With strict, nothing but white space may follow the block, so
// that a file of several keys is not read as its first. It returns the
// key and its DER.
func ParsePEM(data []byte, bits int, strict bool) (*rsa.PublicKey, []byte, error) {
	b, rest := pem.Decode(data)
	if b == nil {
		return nil, nil, errors.New("public key: no PEM block found")
	}
	if b.Type != "PUBLIC KEY" {
		return nil, nil, fmt.Errorf("public key: PEM block is %q, want \"PUBLIC KEY\" (SubjectPublicKeyInfo)", b.Type)
	}
	if strict && len(strings.TrimSpace(string(rest))) > 0 {
		return nil, nil, errors.New("public key: more than one PEM block, or data after it")
	}
	pub, err := ParseDER(b.Bytes, bits)
	if err != nil {
		return nil, nil, err
	}
	return pub, b.Bytes, nil
}

// Fingerprint is the hex SHA-256 of a key's DER SubjectPublicKeyInfo.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// FingerprintOf is the Fingerprint of key.
func FingerprintOf(key *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", fmt.Errorf("encode the public key: %w", err)
	}
	return Fingerprint(der), nil
}
