// Package opensslenc does what the product doc tells a customer to do with
// a SAS URL: it runs the documented `openssl pkeyutl` and `base64`
// commands, as real processes, to encrypt it to our public key. The tests
// and the local demo use it to prove that the doc's commands and our
// decryption agree; production never encrypts.
//
// It imports only the standard library. Only sastest and the local stack
// (internal/localdev/localstack, the demo) import it, and tests; auditctl
// links it through the local stack, no Lambda function links it at all.
package opensslenc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PublicKeyFile is the file name the product doc uses for our public key.
const PublicKeyFile = "contentful-audit-public-key.pem"

// Encrypt writes plaintext to sas-token.plain in a new temporary folder,
// exactly as given (so a caller can add the trailing line break an editor
// would), with the PEM public key beside it, and runs the product doc's
// commands:
//
//	openssl pkeyutl -encrypt -in sas-token.plain -out sas-token.enc -pubin -keyform PEM -inkey contentful-audit-public-key.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
//	cat sas-token.enc | base64 > sas-token.enc.b64
//
// It returns the content of sas-token.enc.b64, line breaks included, and
// removes the folder.
func Encrypt(ctx context.Context, publicKeyPEM []byte, plaintext string) (string, error) {
	dir, err := os.MkdirTemp("", "sas-encrypt-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), publicKeyPEM, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "sas-token.plain"), []byte(plaintext), 0o600); err != nil {
		return "", err
	}
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		// The output is openssl's diagnostics, never the plaintext.
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", name, err, out)
		}
		return nil
	}
	if err := run("openssl", "pkeyutl", "-encrypt", "-in", "sas-token.plain", "-out", "sas-token.enc", "-pubin", "-keyform", "PEM",
		"-inkey", PublicKeyFile, "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256"); err != nil {
		return "", err
	}
	if err := run("sh", "-c", "cat sas-token.enc | base64 > sas-token.enc.b64"); err != nil {
		return "", err
	}
	b64, err := os.ReadFile(filepath.Join(dir, "sas-token.enc.b64"))
	if err != nil {
		return "", err
	}
	return string(b64), nil
}
