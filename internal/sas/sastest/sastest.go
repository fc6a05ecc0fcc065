// Package sastest does, in tests, what customers do with the product doc:
// it creates a KMS key like ours (RSA_4096, ENCRYPT_DECRYPT), writes its
// public key as PEM, and encrypts a SAS URL with the documented
// `openssl pkeyutl` and `base64` commands, run as real processes, so the
// tests prove that the doc's commands and our decryption agree.
package sastest

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/testenv"
)

// PublicKeyFile is the file name the product doc uses for our public key.
const PublicKeyFile = "contentful-audit-public-key.pem"

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

// Encrypt writes plaintext to sas-token.plain, exactly as given (so a test
// can add the trailing line break an editor would), and runs the product
// doc's commands on it:
//
//	openssl pkeyutl -encrypt -in sas-token.plain -out sas-token.enc -pubin -keyform PEM -inkey contentful-audit-public-key.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
//	cat sas-token.enc | base64 > sas-token.enc.b64
//
// It returns the content of sas-token.enc.b64, line breaks included.
func Encrypt(tb testing.TB, pemPath, plaintext string) string {
	tb.Helper()
	testenv.RequireTools(tb, "openssl", "base64", "sh")
	dir := tb.TempDir()
	pemData, err := os.ReadFile(pemPath)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), pemData, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sas-token.plain"), []byte(plaintext), 0o600); err != nil {
		tb.Fatal(err)
	}
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		// The output is openssl's diagnostics, never the plaintext.
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("%s: %v: %s", name, err, out)
		}
	}
	run("openssl", "pkeyutl", "-encrypt", "-in", "sas-token.plain", "-out", "sas-token.enc", "-pubin", "-keyform", "PEM",
		"-inkey", PublicKeyFile, "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256")
	run("sh", "-c", "cat sas-token.enc | base64 > sas-token.enc.b64")
	b64, err := os.ReadFile(filepath.Join(dir, "sas-token.enc.b64"))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b64)
}
