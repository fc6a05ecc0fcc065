package signing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/signing"
)

func localKMS(t *testing.T) *kms.Client {
	t.Helper()
	srv := testenv.LocalKMS(t)
	return kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: srv.URL, KMS: srv.URL}))
}

func createKey(t *testing.T, client *kms.Client, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	k, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage, Description: aws.String("audit log manifest signing (test)")})
	if err != nil {
		t.Fatalf("create %s %s key: %v", spec, usage, err)
	}
	return aws.ToString(k.KeyMetadata.KeyId)
}

// opensslVerify runs the customer's command, as a process, on files
// holding pemKey, sig and msg, and returns its combined output and error.
func opensslVerify(t *testing.T, pemKey string, sig, msg []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"signing-key.pem": []byte(pemKey), "x.manifest.json.sig": sig, "x.manifest.json": msg} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(testenv.Context(t), "openssl", "dgst", "-sha256", "-verify", "signing-key.pem", "-signature", "x.manifest.json.sig", "x.manifest.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSignLocalKMS is the acceptance test of the signer: a key like the
// stack's in local-kms, a manifest-sized message (over KMS's 4096-byte
// RAW limit) signed through it, verified by crypto/rsa and by the
// customer's openssl command with the PEM PublicKey gives; a changed byte
// of the message or of the signature fails both.
func TestSignLocalKMS(t *testing.T) {
	client := localKMS(t)
	ctx := testenv.Context(t)
	id := createKey(t, client, types.KeySpecRsa4096, types.KeyUsageTypeSignVerify)
	s := signing.New(client, id)

	pub, err := s.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.DER, raw.PublicKey) || !strings.HasSuffix(pub.KeyID, id) || pub.Key.N.BitLen() != 4096 ||
		!strings.HasPrefix(pub.PEM, "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("public key %s: %d bits, PEM %q", pub.KeyID, pub.Key.N.BitLen(), pub.PEM)
	}
	parsed, fp, err := signing.ParsePublicKeyPEM([]byte(pub.PEM))
	if err != nil || fp != pub.Fingerprint || parsed.N.Cmp(pub.Key.N) != 0 {
		t.Fatalf("the PEM reads back as another key (%s, %v)", fp, err)
	}

	msg := []byte(`{"file":"2025-01-05.csv","sha256":"` + strings.Repeat("ab", 32) + `","padding":"` + strings.Repeat("x", 5000) + `"}`)
	sig, err := s.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 512 {
		t.Fatalf("signature of %d bytes, want 512 (RSA 4096)", len(sig))
	}
	verifies := func(pubKey *rsa.PublicKey, msg, sig []byte) error {
		d := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(pubKey, crypto.SHA256, d[:], sig)
	}
	if err := verifies(parsed, msg, sig); err != nil {
		t.Fatalf("crypto/rsa: %v", err)
	}
	testenv.RequireTools(t, "openssl")
	if out, err := opensslVerify(t, pub.PEM, sig, msg); err != nil || out != "Verified OK" {
		t.Fatalf("openssl dgst -verify: %q, %v; want Verified OK", out, err)
	}

	changedMsg := bytes.Clone(msg)
	changedMsg[10] ^= 0x20
	changedSig := bytes.Clone(sig)
	changedSig[100] ^= 0x01
	for name, c := range map[string]struct{ msg, sig []byte }{"message": {changedMsg, sig}, "signature": {msg, changedSig}} {
		if err := verifies(parsed, c.msg, c.sig); err == nil {
			t.Errorf("changed %s: crypto/rsa verified it", name)
		}
		if out, err := opensslVerify(t, pub.PEM, c.sig, c.msg); err == nil || out == "Verified OK" || !strings.Contains(out, "Verification failure") {
			t.Errorf("changed %s: openssl said %q, %v; want Verification failure", name, out, err)
		}
	}

	// A signature is made anew each time but verifies each time
	// (PKCS#1 v1.5 is deterministic: the same bytes).
	again, err := s.Sign(ctx, msg)
	if err != nil || !bytes.Equal(again, sig) {
		t.Errorf("second signature of the same message differs (%v)", err)
	}
}

// TestPublicKeyRefusesOtherKeysLocalKMS: keys local-kms describes as not
// ours are refused, naming the key and what is wrong; an unknown key
// names the key and the operation.
func TestPublicKeyRefusesOtherKeysLocalKMS(t *testing.T) {
	client := localKMS(t)
	ctx := testenv.Context(t)
	for _, tc := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
		want  string
	}{
		{types.KeySpecRsa4096, types.KeyUsageTypeEncryptDecrypt, `key usage "ENCRYPT_DECRYPT" is not "SIGN_VERIFY"`},
		{types.KeySpecRsa2048, types.KeyUsageTypeSignVerify, `key spec "RSA_2048" is not "RSA_4096"`},
		{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify, `key spec "ECC_NIST_P256" is not "RSA_4096"`},
	} {
		id := createKey(t, client, tc.spec, tc.usage)
		s := signing.New(client, id)
		if _, err := s.PublicKey(ctx); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), id) {
			t.Errorf("%s %s: error = %v, want it to name the key and contain %q", tc.spec, tc.usage, err, tc.want)
		}
		if sig, err := s.Sign(ctx, []byte("m")); err == nil || sig != nil {
			t.Errorf("%s %s: signed with it", tc.spec, tc.usage)
		}
	}
	_, err := signing.New(client, "alias/no-such-key").Sign(ctx, []byte("m"))
	if err == nil || !strings.Contains(err.Error(), "get the public key of the KMS key alias/no-such-key") {
		t.Errorf("unknown key: %v", err)
	}
}
