package app_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
)

// TestSignerNeedsTheKeyID: without AUDITLOG_SIGNING_KEY_ID a signer is a
// configuration error naming the variable, whichever way it is built.
func TestSignerNeedsTheKeyID(t *testing.T) {
	want := "environment variable AUDITLOG_SIGNING_KEY_ID is not set"
	if _, err := app.NewSigner(nil, config.Config{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NewSigner: %v, want %q", err, want)
	}
	if _, err := app.Signer(context.Background(), config.Config{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Signer: %v, want %q", err, want)
	}
	base := *apps.App // a copy: apps is shared
	base.Config.SigningKeyID = ""
	a := app.App{App: &base}
	if _, err := a.Signer(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("App.Signer: %v, want %q", err, want)
	}
	s, err := app.NewSigner(nil, config.Config{SigningKeyID: "alias/sign"})
	if err != nil || s.KeyID() != "alias/sign" {
		t.Fatalf("NewSigner with a key ID: %v", err)
	}
}

// TestAppSignsWithTheConfiguredKey: the App's signer is the local stack's
// signing key (AUDITLOG_SIGNING_KEY_ID), through the App's AWS
// configuration; its signature verifies with the public key.
func TestAppSignsWithTheConfiguredKey(t *testing.T) {
	ctx := context.Background()
	s, err := apps.Signer()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(pub.KeyID, stack.SigningKeyID) {
		t.Fatalf("signer's key %s, the local stack's %s", pub.KeyID, stack.SigningKeyID)
	}
	msg := []byte(`{"file":"x.csv"}`)
	sig, err := s.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub.Key, crypto.SHA256, d[:], sig); err != nil {
		t.Fatal(err)
	}
}
