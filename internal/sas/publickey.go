package sas

import (
	"context"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/rsakey"
)

// KeyBits is the size of the residency keys: the product doc promises
// customers RSA 4096, and destination.DecodeCipher expects ciphers of that size.
const KeyBits = 4096

// PublicKeyKMS is the part of *kms.Client that PublicKeys uses.
type PublicKeyKMS interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// PublicKeys fetches the public half of each residency's KMS key: what
// customers encrypt their SAS URL to. Reading a public key needs
// kms:GetPublicKey (and kms:DescribeKey, see Get), never kms:Decrypt.
type PublicKeys struct {
	KMS PublicKeyKMS
	// KeyIDs maps each residency to its key's ID, ARN or alias, as
	// Decrypter.KeyIDs does.
	KeyIDs map[Residency]string
}

// PublicKey is one residency's checked public key.
type PublicKey struct {
	Residency Residency
	// KeyID is the key's ARN as KMS names it.
	KeyID string
	// Key is the parsed RSA public key.
	Key *rsa.PublicKey
	// DER is the SubjectPublicKeyInfo as KMS returns it.
	DER []byte
	// KeySpec, KeyUsage and Algorithms are KMS's description of the key.
	KeySpec    types.KeySpec
	KeyUsage   types.KeyUsageType
	Algorithms []types.EncryptionAlgorithmSpec
}

// PEM is the key as the product doc prints it: a "PUBLIC KEY" block
// (SubjectPublicKeyInfo, what `openssl pkeyutl -pubin -keyform PEM` reads).
func (k *PublicKey) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.DER}))
}

// Fingerprint is the hex SHA-256 of the DER, to compare a key a customer
// holds with ours without reading the PEM.
func (k *PublicKey) Fingerprint() string { return rsakey.Fingerprint(k.DER) }

// Get fetches the residency's public key with GetPublicKey and checks that
// it is one the documented openssl command can encrypt to and our
// Decrypter can decrypt with: an RSA 4096 key (by KMS's key spec and by
// the key itself) for ENCRYPT_DECRYPT that allows RSAES_OAEP_SHA_256.
// Handing a customer any other key would make their cipher undeliverable,
// and they would only learn it at the first delivery.
func (p *PublicKeys) Get(ctx context.Context, r Residency) (*PublicKey, error) {
	if _, err := ParseResidency(string(r)); err != nil {
		return nil, err
	}
	keyID := p.KeyIDs[r]
	if keyID == "" {
		return nil, fmt.Errorf("sas: no KMS key configured for residency %q (AUDITLOG_KMS_KEY_%s)", r, strings.ToUpper(string(r)))
	}
	out, err := p.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("sas: get the public key of the %s KMS key %s: %w", r, keyID, err)
	}
	k := &PublicKey{Residency: r, KeyID: aws.ToString(out.KeyId), DER: out.PublicKey,
		KeySpec: out.KeySpec, KeyUsage: out.KeyUsage, Algorithms: out.EncryptionAlgorithms}
	if k.KeyID == "" {
		k.KeyID = keyID
	}
	if len(k.Algorithms) == 0 && k.KeyUsage != types.KeyUsageTypeSignVerify {
		// KMS lists the algorithms in GetPublicKey's answer; local-kms
		// leaves them out there but has them in DescribeKey. Ask it
		// rather than assume, so an emulator cannot pass a check that
		// KMS would fail.
		d, err := p.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		if err != nil {
			return nil, fmt.Errorf("sas: describe the %s KMS key %s: %w", r, keyID, err)
		}
		if d.KeyMetadata != nil {
			k.Algorithms = d.KeyMetadata.EncryptionAlgorithms
		}
	}
	if err := k.check(); err != nil {
		return nil, fmt.Errorf("sas: the %s KMS key %s: %w", r, k.KeyID, err)
	}
	return k, nil
}

func (k *PublicKey) check() error {
	if k.KeySpec != types.KeySpecRsa4096 {
		return fmt.Errorf("key spec %q is not %q: customers are promised RSA 4096", k.KeySpec, types.KeySpecRsa4096)
	}
	if k.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		return fmt.Errorf("key usage %q is not %q", k.KeyUsage, types.KeyUsageTypeEncryptDecrypt)
	}
	if !slices.Contains(k.Algorithms, Algorithm) {
		return fmt.Errorf("encryption algorithms %v do not include %s (the product doc's openssl RSA-OAEP SHA-256)", k.Algorithms, Algorithm)
	}
	pub, err := ParsePublicKeyDER(k.DER)
	if err != nil {
		return err
	}
	k.Key = pub
	return nil
}

// ParsePublicKeyDER parses a SubjectPublicKeyInfo and checks it is an RSA
// key of KeyBits bits.
func ParsePublicKeyDER(der []byte) (*rsa.PublicKey, error) { return rsakey.ParseDER(der, KeyBits) }

// ParsePublicKeyPEM reads a "PUBLIC KEY" PEM block, as PublicKey.PEM
// writes it and the product doc prints it, and checks it as
// ParsePublicKeyDER does.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	pub, _, err := rsakey.ParsePEM(data, KeyBits, false)
	return pub, err
}
