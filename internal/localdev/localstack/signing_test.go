package localstack

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/signing"
)

// TestSigningKeyAsTheStacks: the local stack creates a signing key like
// the stack's (RSA 4096, SIGN_VERIFY) and hands its ID to the processes
// it configures, as the SAS keys'; the app's signer, built from that
// environment, signs with it, verifiably with the public key recorded.
func TestSigningKeyAsTheStacks(t *testing.T) {
	st := startStack(t)
	ctx := context.Background()
	if st.SigningKeyID == "" || st.Env[config.EnvSigningKeyID] != st.SigningKeyID || os.Getenv(config.EnvSigningKeyID) != st.SigningKeyID {
		t.Fatalf("signing key %q; in Env %q, in the environment %q", st.SigningKeyID, st.Env[config.EnvSigningKeyID], os.Getenv(config.EnvSigningKeyID))
	}
	for _, k := range []string{config.EnvKMSKeyUS, config.EnvKMSKeyEU} {
		if st.Env[k] == st.SigningKeyID {
			t.Fatalf("%s is the signing key: the signing key must be a key of its own", k)
		}
	}
	a, err := app.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Signer()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.DER, st.SigningPublicKey) || pub.KeySpec != signing.KeySpec || pub.KeyUsage != signing.KeyUsage {
		t.Fatalf("the app's signer reads key %s (%s %s), not the local stack's %s", pub.KeyID, pub.KeySpec, pub.KeyUsage, st.SigningKeyID)
	}
	msg := []byte(`{"manifest":"local"}`)
	sig, err := s.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub.Key, crypto.SHA256, d[:], sig); err != nil {
		t.Fatal(err)
	}
}
