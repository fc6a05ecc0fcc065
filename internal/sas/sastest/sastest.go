// Package sastest does, in tests, what customers do with the product doc:
// it creates a KMS key like ours (RSA_4096, ENCRYPT_DECRYPT), writes its
// public key as PEM, and encrypts a SAS URL with the documented
// `openssl pkeyutl` and `base64` commands, run as real processes, so the
// tests prove that the doc's commands and our decryption agree.
//
// Tests only: production code imports it only from _test.go files (sas's,
// azuresink's, verify's, encryptpage's, auditctl's). Of this module it
// imports only testenv and opensslenc; not sas, whose decryption the tests
// check against what it writes.
package sastest

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
)

// PublicKeyFile is the file name the product doc uses for our public key.
const PublicKeyFile = opensslenc.PublicKeyFile

// CreateKey creates an RSA_4096 ENCRYPT_DECRYPT key and writes its public
// key, PKIX DER as KMS returns it, as a "PUBLIC KEY" PEM file in a new
// temporary folder. It returns the key ID and the PEM file's path.
func CreateKey(tb testing.TB, client *kms.Client) (keyID, pemPath string) {
	tb.Helper()
	ctx := context.Background()
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec:     types.KeySpecRsa4096,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
		Description: aws.String("audit log SAS encryption (test)"),
	})
	if err != nil {
		tb.Fatalf("create KMS key: %v", err)
	}
	keyID = aws.ToString(key.KeyMetadata.KeyId)
	pub, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		tb.Fatalf("get public key of %s: %v", keyID, err)
	}
	pemPath = filepath.Join(tb.TempDir(), PublicKeyFile)
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub.PublicKey}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return keyID, pemPath
}

// Encrypt runs the product doc's openssl and base64 commands on
// plaintext (opensslenc.Encrypt) with the PEM public key at pemPath and
// returns the content of sas-token.enc.b64, line breaks included.
func Encrypt(tb testing.TB, pemPath, plaintext string) string {
	tb.Helper()
	testenv.RequireTools(tb, "openssl", "base64", "sh")
	pemData, err := os.ReadFile(pemPath)
	if err != nil {
		tb.Fatal(err)
	}
	b64, err := opensslenc.Encrypt(context.Background(), pemData, plaintext)
	if err != nil {
		tb.Fatal(err)
	}
	return b64
}
