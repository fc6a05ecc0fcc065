package sas_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/failure"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
)

var (
	localKeyOnce sync.Once
	localKey     *rsa.PrivateKey
)

// rsa4096 is a locally generated key pair, for the checks that need the
// private half outside KMS (openssl pkeyutl -decrypt).
func rsa4096(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	localKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, sas.KeyBits)
		if err != nil {
			panic(err)
		}
		localKey = k
	})
	return localKey
}

func TestCheckPlain(t *testing.T) {
	url := azureHost + "/audit-logs?" + good
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "SAS URL is empty"},
		{"only white space", " \n", `SAS URL is only white space (" \n")`},
		{"trailing line break", url + "\n", `SAS URL ends with white space ("\n"), often the line break an editor or echo adds`},
		{"trailing CRLF", url + "\r\n", `ends with white space ("\r\n")`},
		{"trailing no-break space", url + "\u00a0", `ends with white space ("\u00a0")`},
		{"leading space", " " + url, `SAS URL starts with white space (" "): remove it`},
		{"leading tab and trailing newline", "\t" + url + "\n", `starts with white space ("\t") and ends with white space ("\n")`},
		{"long run", url + strings.Repeat(" ", 20), `ends with white space ("        "… (20 characters))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sas.CheckPlain(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
			if !errors.Is(err, failure.ErrInvalidConfig) {
				t.Errorf("error does not wrap failure.ErrInvalidConfig")
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
	if err := sas.CheckPlain(url); err != nil {
		t.Fatalf("refused a URL without white space at its ends: %v", err)
	}
}

func TestEncryptRefuses(t *testing.T) {
	key := rsa4096(t)
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	url := azureHost + "/audit-logs?" + good
	for _, tc := range []struct {
		name  string
		pub   *rsa.PublicKey
		plain string
		want  string
	}{
		{"no key", nil, url, "public key is missing"},
		{"RSA 2048", &small.PublicKey, url, "public key is RSA 2048, not RSA 4096"},
		{"trailing line break", &key.PublicKey, url + "\n", `ends with white space ("\n")`},
		{"too long", &key.PublicKey, url + "&x=" + strings.Repeat("a", sas.MaxPlainBytes), "bytes long; RSA-4096 with OAEP SHA-256 encrypts at most 446"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sas.Encrypt(tc.pub, tc.plain)
			if err == nil {
				t.Fatalf("encrypted: %q", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
	// The longest plaintext OAEP allows is encrypted.
	longest := azureHost + "/audit-logs?" + good
	longest += "&x=" + strings.Repeat("a", sas.MaxPlainBytes-len(longest)-3)
	if _, err := sas.Encrypt(&key.PublicKey, longest); err != nil {
		t.Fatalf("%d bytes: %v", len(longest), err)
	}
}

func TestEncryptURLChecksTheURL(t *testing.T) {
	key := rsa4096(t)
	for _, tc := range []struct{ name, plain, want string }{
		{"trailing line break", azureHost + "/audit-logs?" + good + "\n", "ends with white space"},
		{"expired", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-01-02T00:00:00Z"), "SAS URL expired at 2026-01-02T00:00:00Z"},
		{"read only", azureHost + "/audit-logs?" + query("sp", "r", "se", "2026-12-31"), `lack create (c) and write (w)`},
		{"attacker host", "https://attacker.example.com/c?" + good, "is not an Azure Blob host"},
		{"emulator not allowed", "http://" + emuHost + "/devstoreaccount1/audit-logs?" + good, "is not an Azure Blob host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sas.EncryptURL(&key.PublicKey, tc.plain, now, sas.Policy{})
			if err == nil {
				t.Fatalf("encrypted: %q", out)
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, failure.ErrInvalidConfig) {
				t.Errorf("error = %q, want it to contain %q and wrap ErrInvalidConfig", err, tc.want)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
	emu := "http://" + emuHost + "/devstoreaccount1/audit-logs?" + good
	if _, err := sas.EncryptURL(&key.PublicKey, emu, now, sas.Policy{AllowedEmulatorHosts: []string{emuHost}}); err != nil {
		t.Fatalf("an allowed emulator URL was refused: %v", err)
	}
}

// TestEncryptOpenSSLInterop: with a local key pair, what Encrypt makes is
// what `openssl pkeyutl -decrypt` with the documented options decrypts,
// in the layout `base64` writes; and what the documented openssl commands
// make, Go's RSA-OAEP SHA-256 decrypts.
func TestEncryptOpenSSLInterop(t *testing.T) {
	testenv.RequireTools(t, "openssl", "base64", "sh")
	key := rsa4096(t)
	raw := azureHost + "/audit-logs?" + good
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "private.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("GoToOpenSSL", func(t *testing.T) {
		b64, err := sas.Encrypt(&key.PublicKey, raw)
		if err != nil {
			t.Fatal(err)
		}
		cipher, err := destination.DecodeCipher(b64)
		if err != nil {
			t.Fatal(err)
		}
		encFile := filepath.Join(dir, "sas-token.enc")
		if err := os.WriteFile(encFile, cipher, 0o600); err != nil {
			t.Fatal(err)
		}
		// The layout: exactly what `cat sas-token.enc | base64` prints.
		cmd := exec.Command("sh", "-c", "cat sas-token.enc | base64")
		cmd.Dir = dir
		gnu, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(gnu) != b64 {
			t.Errorf("Encrypt's base64 differs from base64's:\n%q\n%q", b64, gnu)
		}
		out, err := exec.Command("openssl", "pkeyutl", "-decrypt", "-in", encFile, "-inkey", keyFile,
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256").Output()
		if err != nil {
			t.Fatalf("openssl pkeyutl -decrypt: %v", err)
		}
		if string(out) != raw {
			t.Fatal("openssl decrypted something other than the input")
		}
		// Two encryptions of one input differ (OAEP is randomized), so a
		// cipher says nothing about whether two customers share a URL.
		again, err := sas.Encrypt(&key.PublicKey, raw)
		if err != nil || again == b64 {
			t.Fatalf("second encryption equal to the first or failed: %v", err)
		}
	})

	t.Run("OpenSSLToGo", func(t *testing.T) {
		pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		b64, err := opensslenc.Encrypt(context.Background(), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), raw)
		if err != nil {
			t.Fatal(err)
		}
		cipher, err := destination.DecodeCipher(b64)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := rsa.DecryptOAEP(sha256.New(), nil, key, cipher, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, []byte(raw)) {
			t.Fatal("decrypted something other than the input")
		}
	})
}
