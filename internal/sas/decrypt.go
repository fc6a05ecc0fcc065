package sas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/destination"
)

// Algorithm is the KMS encryption algorithm that matches the documented
// `openssl pkeyutl -pkeyopt rsa_padding_mode:oaep -pkeyopt
// rsa_oaep_md:sha256` (OAEP with SHA-256 for both the digest and MGF1).
const Algorithm = types.EncryptionAlgorithmSpecRsaesOaepSha256

// KMS is the part of *kms.Client that Decrypter uses.
type KMS interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Decrypter turns a submitted cipher into a checked SAS URL. The private
// keys (RSA_4096, ENCRYPT_DECRYPT, one per residency) never leave KMS.
type Decrypter struct {
	KMS KMS
	// KeyIDs maps each residency to its key's ID, ARN or alias.
	KeyIDs map[Residency]string
	// Policy is passed to Parse.
	Policy Policy
	// Now is the clock the expiry is checked against; time.Now if nil.
	Now func() time.Time
}

// Decrypt decodes cipherB64 (see destination.DecodeCipher), decrypts it with the
// residency's KMS key and checks the plaintext with Parse. A cipher made for
// another residency's key, or not a cipher at all, fails with an error
// that wraps failure.ErrInvalidConfig. The plaintext never appears in an
// error.
func (d *Decrypter) Decrypt(ctx context.Context, residency Residency, cipherB64 string) (*URL, error) {
	if _, err := ParseResidency(string(residency)); err != nil {
		return nil, err
	}
	keyID := d.KeyIDs[residency]
	if keyID == "" {
		// Our configuration, not the customer's: not ErrInvalidConfig.
		return nil, fmt.Errorf("sas: no KMS key configured for residency %q: %w", residency, ErrNoKey)
	}
	cipher, err := destination.DecodeCipher(cipherB64)
	if err != nil {
		return nil, err
	}
	out, err := d.KMS.Decrypt(ctx, &kms.DecryptInput{
		KeyId:               aws.String(keyID),
		CiphertextBlob:      cipher,
		EncryptionAlgorithm: Algorithm,
	})
	if err != nil {
		var badCipher *types.InvalidCiphertextException
		var wrongKey *types.IncorrectKeyException
		if errors.As(err, &badCipher) || errors.As(err, &wrongKey) {
			// KMS's message describes the request, never a plaintext: there
			// is none. Keep it for the operator.
			return nil, &invalidError{
				reason: ErrUndecryptable,
				msg:    fmt.Sprintf("sas_cipher cannot be decrypted with the %s key: encrypt the SAS URL to the %s public key with the documented openssl command (RSA-OAEP, SHA-256)", residency, residency),
				cause:  err,
			}
		}
		// Throttling, network, a disabled key: ours to retry or fix.
		return nil, fmt.Errorf("sas: decrypt sas_cipher with the %s KMS key: %w", residency, err)
	}
	plain := string(out.Plaintext)
	clear(out.Plaintext) // one copy of the secret fewer in memory
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	u, err := Parse(plain, now, d.Policy)
	if err != nil {
		return nil, fmt.Errorf("decrypted SAS URL (%s): %w", residency, err)
	}
	return u, nil
}
