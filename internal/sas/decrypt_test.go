package sas_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/failure"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/sastest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// wrap76 formats b64 as GNU base64 does: lines of 76 and a final newline.
func wrap76(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		panic(err)
	}
	return destination.EncodeCipher(raw)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeKMS records the request and answers with plaintext or err.
type fakeKMS struct {
	in        *kms.DecryptInput
	plaintext []byte
	err       error
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &kms.DecryptOutput{Plaintext: bytes.Clone(f.plaintext), KeyId: in.KeyId}, nil
}

func TestDecryptCallsKMSWithResidencyKey(t *testing.T) {
	raw := azureHost + "/audit-logs?" + good
	cipher := randomBytes(t, destination.CipherBytes)
	f := &fakeKMS{plaintext: []byte(raw)}
	d := &sas.Decrypter{KMS: f, KeyIDs: map[sas.Residency]string{sas.US: "key-us", sas.EU: "key-eu"}, Now: func() time.Time { return now }}
	u, err := d.Decrypt(context.Background(), sas.EU, wrap76(base64.StdEncoding.EncodeToString(cipher)))
	if err != nil {
		t.Fatal(err)
	}
	if u.Reveal() != raw {
		t.Error("decrypted URL differs from the plaintext")
	}
	if aws.ToString(f.in.KeyId) != "key-eu" || f.in.EncryptionAlgorithm != types.EncryptionAlgorithmSpecRsaesOaepSha256 || !bytes.Equal(f.in.CiphertextBlob, cipher) {
		t.Errorf("KMS got KeyId %q, algorithm %q, cipher equal %v", aws.ToString(f.in.KeyId), f.in.EncryptionAlgorithm, bytes.Equal(f.in.CiphertextBlob, cipher))
	}
}

func TestDecryptFailures(t *testing.T) {
	cipher := base64.StdEncoding.EncodeToString(randomBytes(t, destination.CipherBytes))
	keys := map[sas.Residency]string{sas.US: "key-us"}
	for _, tc := range []struct {
		name      string
		res       sas.Residency
		cipher    string
		kms       *fakeKMS
		want      string
		permanent bool
	}{
		{"unknown residency", "asia", cipher, &fakeKMS{}, `invalid residency "asia"`, true},
		{"no key for residency", sas.EU, cipher, &fakeKMS{}, `no KMS key configured for residency "eu"`, false},
		{"bad cipher", sas.US, "abc", &fakeKMS{}, "sas_cipher", true},
		{"wrong key", sas.US, cipher, &fakeKMS{err: &types.InvalidCiphertextException{Message: aws.String("")}}, "cannot be decrypted with the us key", true},
		{"incorrect key", sas.US, cipher, &fakeKMS{err: &types.IncorrectKeyException{Message: aws.String("")}}, "cannot be decrypted with the us key", true},
		{"KMS throttles", sas.US, cipher, &fakeKMS{err: &types.KMSInternalException{Message: aws.String("slow down")}}, "decrypt sas_cipher with the us KMS key", false},
		{"trailing newline in file", sas.US, cipher, &fakeKMS{plaintext: []byte(azureHost + "/audit-logs?" + good + "\n")}, "trailing white space", true},
		{"expired", sas.US, cipher, &fakeKMS{plaintext: []byte(azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-01-02T00:00:00Z"))}, "SAS URL expired at 2026-01-02T00:00:00Z", true},
		{"attacker host", sas.US, cipher, &fakeKMS{plaintext: []byte("https://attacker.example.com/c?" + good)}, `SAS host "attacker.example.com" is not an Azure Blob host`, true},
		{"binary plaintext", sas.US, cipher, &fakeKMS{plaintext: append([]byte{0, 1, 2}, testSig...)}, "control or non-ASCII", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &sas.Decrypter{KMS: tc.kms, KeyIDs: keys, Now: func() time.Time { return now }}
			_, err := d.Decrypt(context.Background(), tc.res, tc.cipher)
			if err == nil {
				t.Fatal("Decrypt succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if got := failure.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%+v", err))
		})
	}
}

// TestDecryptLocalKMS follows the product doc end to end: a key like ours,
// its public key as PEM, the documented openssl and base64 commands, and
// our decryption.
func TestDecryptLocalKMS(t *testing.T) {
	srv := testenv.LocalKMS(t)
	// Default as well as KMS: the SDK reads AWS_ENDPOINT_URL_KMS when the
	// client is made, after AWSConfig has restored the environment, while
	// AWS_ENDPOINT_URL is captured in the config itself.
	client := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: srv.URL, KMS: srv.URL}))
	usKey, usPEM := sastest.CreateKey(t, client)
	euKey, euPEM := sastest.CreateKey(t, client)
	d := &sas.Decrypter{KMS: client, KeyIDs: map[sas.Residency]string{sas.US: usKey, sas.EU: euKey}}
	ctx := testenv.Context(t)

	expiry := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02T15:04:05Z")
	raw := azureHost + "/audit-logs?" + query("sv", "2025-01-05", "sr", "c", "sp", "cw", "se", expiry)
	usCipher := sastest.Encrypt(t, usPEM, raw)
	if !strings.Contains(strings.TrimSuffix(usCipher, "\n"), "\n") {
		t.Fatalf("base64 output is not wrapped over lines as GNU base64 does: %q", usCipher[:20])
	}

	t.Run("Roundtrip", func(t *testing.T) {
		u, err := d.Decrypt(ctx, sas.US, usCipher)
		if err != nil {
			t.Fatal(err)
		}
		if u.Reveal() != raw {
			t.Fatal("decrypted URL differs from the encrypted one")
		}
		if u.Account() != "acct01" || u.Container() != "audit-logs" || u.Permissions() != "cw" {
			t.Errorf("account %q container %q permissions %q", u.Account(), u.Container(), u.Permissions())
		}
	})

	t.Run("EUKey", func(t *testing.T) {
		u, err := d.Decrypt(ctx, sas.EU, sastest.Encrypt(t, euPEM, raw))
		if err != nil {
			t.Fatal(err)
		}
		if u.Reveal() != raw {
			t.Fatal("decrypted URL differs from the encrypted one")
		}
	})

	t.Run("OtherResidencysKey", func(t *testing.T) {
		_, err := d.Decrypt(ctx, sas.EU, usCipher)
		if err == nil {
			t.Fatal("a cipher made with the US public key decrypted with the EU key")
		}
		if !errors.Is(err, failure.ErrInvalidConfig) || !strings.Contains(err.Error(), "cannot be decrypted with the eu key") {
			t.Errorf("error = %v, want a clear ErrInvalidConfig", err)
		}
		assertNoSecret(t, "error", err.Error())
		t.Logf("error: %v", err)
	})

	t.Run("Garbage", func(t *testing.T) {
		garbage := base64.StdEncoding.EncodeToString(randomBytes(t, destination.CipherBytes))
		_, err := d.Decrypt(ctx, sas.US, garbage)
		if err == nil {
			t.Fatal("512 random bytes decrypted")
		}
		if !errors.Is(err, failure.ErrInvalidConfig) {
			t.Errorf("error = %v, want ErrInvalidConfig", err)
		}
		if strings.Contains(err.Error(), garbage[8:40]) {
			t.Errorf("error repeats the cipher: %v", err)
		}
		t.Logf("error: %v", err)
	})

	t.Run("TrailingNewline", func(t *testing.T) {
		// What `echo "$SAS" > sas-token.plain` produces.
		_, err := d.Decrypt(ctx, sas.US, sastest.Encrypt(t, usPEM, raw+"\n"))
		if err == nil || !strings.Contains(err.Error(), "trailing white space") || !errors.Is(err, failure.ErrInvalidConfig) {
			t.Fatalf("error = %v, want a refusal of the trailing line break", err)
		}
		assertNoSecret(t, "error", err.Error())
	})

	t.Run("Expired", func(t *testing.T) {
		past := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		expired := azureHost + "/audit-logs?" + query("sp", "cw", "se", past.Format(time.RFC3339))
		_, err := d.Decrypt(ctx, sas.US, sastest.Encrypt(t, usPEM, expired))
		if err == nil || !strings.Contains(err.Error(), "SAS URL expired at "+past.Format(time.RFC3339)) {
			t.Fatalf("error = %v, want expired", err)
		}
		assertNoSecret(t, "error", err.Error())
	})
}
