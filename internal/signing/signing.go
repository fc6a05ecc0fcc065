// Package signing signs what we deliver with our KMS signing key, so that
// a customer can check a file's manifest came from us with nothing but
// openssl and the public key we publish:
//
//	openssl dgst -sha256 -verify signing-key.pem -signature X.manifest.json.sig X.manifest.json
//
// The key is an RSA 4096 key for SIGN_VERIFY; its private half never
// leaves KMS. Signer hashes a message with SHA-256 here and has KMS sign
// the digest (MessageType DIGEST, so a message may be of any size, where
// KMS's RAW messages stop at 4096 bytes) with RSASSA-PKCS1-v1_5 (Algorithm),
// the padding openssl dgst uses for an RSA key by default. The signature is
// the raw bytes KMS returns, what openssl's -signature reads. Before a
// signature is returned it is verified against the key's public half, so
// a signature the customer's openssl would refuse is never handed out.
//
// PublicKey fetches, checks and caches that public half (its PEM is what
// customers are given, its fingerprint what they compare);
// ParsePublicKeyPEM reads it back for a verifier.
//
// KMS's errors are wrapped naming the key and the operation, and left
// unclassified: a refused or disabled signing key is the operator's to fix
// or a transient failure to retry, never the customer's destination
// failing (internal/failure's sentinels), as internal/sas treats its
// decryption keys' errors.
//
// Of this module the package imports only internal/rsakey (the key's
// parsing and fingerprint, shared with the SAS keys); it declares the part of the KMS client
// it uses (KMS), so that tests can give it another.
package signing

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/rsakey"
)

// Algorithm is KMS's name of the signing algorithm: RSASSA-PKCS1-v1_5 with
// SHA-256, what `openssl dgst -sha256 -verify` checks with an RSA key
// unless told otherwise (-sigopt rsa_padding_mode:pss).
const Algorithm = string(types.SigningAlgorithmSpecRsassaPkcs1V15Sha256)

// The key we sign with, as KMS describes it.
const (
	KeySpec  = string(types.KeySpecRsa4096)
	KeyUsage = string(types.KeyUsageTypeSignVerify)
	// KeyBits is the size of the key of KeySpec.
	KeyBits = 4096
)

// KMS is the part of *kms.Client that Signer uses. DescribeKey is asked
// only when GetPublicKey's answer lists no signing algorithms (local-kms
// leaves them out there).
type KMS interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// Signer signs messages with one KMS key. It is safe for concurrent use;
// build it once (at a cold start) and share it, so that the public key is
// fetched once.
type Signer struct {
	kms   KMS
	keyID string

	mu  sync.Mutex
	pub *PublicKey // once fetched and checked; a failed fetch is not kept
}

// New returns a Signer of the key keyID (a key ID, ARN or alias) through
// client. Nothing is asked of KMS until the first Sign or PublicKey.
func New(client KMS, keyID string) *Signer {
	return &Signer{kms: client, keyID: keyID}
}

// KeyID is the key ID, ARN or alias the Signer was built with.
func (s *Signer) KeyID() string { return s.keyID }

// Sign returns the signature of msg: the SHA-256 of msg, computed here,
// signed by KMS with Algorithm (PKCS#1 v1.5), as raw bytes. The signature
// is verified with the key's checked public half (PublicKey) before it is
// returned: a key that is not the one we publish, or a signature that
// does not verify, is an error, not a signature.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	pub, err := s.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(msg)
	out, err := s.kms.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyID),
		Message:          digest[:],
		MessageType:      types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpec(Algorithm),
	})
	if err != nil {
		return nil, fmt.Errorf("signing: sign with the KMS key %s: %w", s.keyID, err)
	}
	if got := string(out.SigningAlgorithm); got != "" && got != Algorithm {
		return nil, fmt.Errorf("signing: the KMS key %s signed with %s, not %s", s.keyID, got, Algorithm)
	}
	if err := rsa.VerifyPKCS1v15(pub.Key, crypto.SHA256, digest[:], out.Signature); err != nil {
		return nil, fmt.Errorf("signing: the signature KMS made with the key %s does not verify with its public key (fingerprint %s): %w",
			s.keyID, pub.Fingerprint, err)
	}
	return out.Signature, nil
}

// PublicKey is the public half of the signing key, as customers get it.
type PublicKey struct {
	// KeyID is the key's ARN as KMS names it (the Signer's key ID when
	// KMS names none).
	KeyID string
	// KeySpec, KeyUsage and SigningAlgorithms are KMS's description.
	KeySpec           string
	KeyUsage          string
	SigningAlgorithms []string
	// DER is the SubjectPublicKeyInfo as KMS returns it.
	DER []byte
	// PEM is DER as a "PUBLIC KEY" block, what `openssl dgst -verify`
	// reads.
	PEM string
	// Fingerprint is the hex SHA-256 of DER (Fingerprint).
	Fingerprint string
	// Key is the parsed key.
	Key *rsa.PublicKey
}

// PublicKey fetches the key's public half with GetPublicKey (the first
// time; then it is the cached one) and checks it is a key customers can
// verify our signatures with and Sign can sign with: KeySpec, for
// KeyUsage, allowing Algorithm, and an RSA key of KeyBits by its DER. An
// error names the key and what is wrong; it is not cached, so the next
// call asks KMS again.
func (s *Signer) PublicKey(ctx context.Context) (PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return *s.pub, nil
	}
	if s.keyID == "" {
		return PublicKey{}, errors.New("signing: no KMS signing key ID given")
	}
	out, err := s.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.keyID)})
	if err != nil {
		return PublicKey{}, fmt.Errorf("signing: get the public key of the KMS key %s: %w", s.keyID, err)
	}
	k := PublicKey{KeyID: aws.ToString(out.KeyId), KeySpec: string(out.KeySpec), KeyUsage: string(out.KeyUsage),
		SigningAlgorithms: algorithms(out.SigningAlgorithms), DER: out.PublicKey}
	if k.KeyID == "" {
		k.KeyID = s.keyID
	}
	if len(k.SigningAlgorithms) == 0 && k.KeyUsage == KeyUsage {
		// KMS lists the algorithms in GetPublicKey's answer; local-kms
		// has them in DescribeKey only. Ask it rather than assume, so an
		// emulator cannot pass a check that KMS would fail.
		d, err := s.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(s.keyID)})
		if err != nil {
			return PublicKey{}, fmt.Errorf("signing: describe the KMS key %s: %w", s.keyID, err)
		}
		if d.KeyMetadata != nil {
			k.SigningAlgorithms = algorithms(d.KeyMetadata.SigningAlgorithms)
		}
	}
	if err := k.check(); err != nil {
		return PublicKey{}, fmt.Errorf("signing: the KMS key %s: %w", k.KeyID, err)
	}
	s.pub = &k
	return k, nil
}

func algorithms(as []types.SigningAlgorithmSpec) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, string(a))
	}
	return out
}

// check checks k and fills in Key, PEM and Fingerprint.
func (k *PublicKey) check() error {
	if k.KeyUsage != KeyUsage {
		return fmt.Errorf("key usage %q is not %q: it cannot sign", k.KeyUsage, KeyUsage)
	}
	if k.KeySpec != KeySpec {
		return fmt.Errorf("key spec %q is not %q: customers are promised RSA 4096 signatures", k.KeySpec, KeySpec)
	}
	if !slices.Contains(k.SigningAlgorithms, Algorithm) {
		return fmt.Errorf("signing algorithms [%s] do not include %s (openssl dgst's RSA signature)", strings.Join(k.SigningAlgorithms, " "), Algorithm)
	}
	pub, err := parseDER(k.DER)
	if err != nil {
		return err
	}
	k.Key = pub
	k.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.DER}))
	k.Fingerprint = Fingerprint(k.DER)
	return nil
}

// Fingerprint is the hex SHA-256 of a public key's DER (its
// SubjectPublicKeyInfo): what a customer compares to know they hold our
// key, e.g. with `openssl pkey -pubin -in signing-key.pem -outform DER |
// sha256sum`.
func Fingerprint(der []byte) string { return rsakey.Fingerprint(der) }

// parseDER parses a SubjectPublicKeyInfo and checks it is an RSA key of
// KeyBits bits.
func parseDER(der []byte) (*rsa.PublicKey, error) { return rsakey.ParseDER(der, KeyBits) }

// ParsePublicKeyPEM reads the signing key as PublicKey.PEM writes it (and
// customers hold it): one "PUBLIC KEY" block (SubjectPublicKeyInfo) of an
// RSA 4096 key, and nothing after it but white space, so that a file of
// several keys is not read as its first. It returns the key and its
// Fingerprint.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, string, error) {
	pub, der, err := rsakey.ParsePEM(data, KeyBits, true)
	if err != nil {
		return nil, "", err
	}
	return pub, Fingerprint(der), nil
}
