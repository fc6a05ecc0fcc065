package sas_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
	"github.com/contentful/auditlogs/internal/sas/sastest"
)

// fakePublicKMS answers GetPublicKey with out and DescribeKey with
// describe, counting the DescribeKey calls.
type fakePublicKMS struct {
	out       kms.GetPublicKeyOutput
	describe  []types.EncryptionAlgorithmSpec
	described int
}

func (f *fakePublicKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	out := f.out
	out.KeyId = in.KeyId
	return &out, nil
}

func (f *fakePublicKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	f.described++
	return &kms.DescribeKeyOutput{KeyMetadata: &types.KeyMetadata{KeyId: in.KeyId, EncryptionAlgorithms: f.describe}}, nil
}

func TestPublicKeysChecks(t *testing.T) {
	der4096, err := x509.MarshalPKIXPublicKey(&rsa4096(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der2048, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	oaep := []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecRsaesOaepSha1, types.EncryptionAlgorithmSpecRsaesOaepSha256}
	good := kms.GetPublicKeyOutput{KeySpec: types.KeySpecRsa4096, KeyUsage: types.KeyUsageTypeEncryptDecrypt, EncryptionAlgorithms: oaep, PublicKey: der4096}
	with := func(change func(*kms.GetPublicKeyOutput)) kms.GetPublicKeyOutput {
		o := good
		change(&o)
		return o
	}
	for _, tc := range []struct {
		name      string
		f         *fakePublicKMS
		want      string
		described int
	}{
		{"ok", &fakePublicKMS{out: good}, "", 0},
		{"algorithms from DescribeKey", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) { o.EncryptionAlgorithms = nil }), describe: oaep}, "", 1},
		{"no OAEP SHA-256", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) {
			o.EncryptionAlgorithms = []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecRsaesOaepSha1}
		})}, "encryption algorithms [RSAES_OAEP_SHA_1] do not include RSAES_OAEP_SHA_256", 0},
		{"none anywhere", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) { o.EncryptionAlgorithms = nil })}, "encryption algorithms [] do not include RSAES_OAEP_SHA_256", 1},
		{"RSA 2048 spec", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) { o.KeySpec = types.KeySpecRsa2048 })}, `key spec "RSA_2048" is not "RSA_4096"`, 0},
		{"spec says 4096, key is 2048", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) { o.PublicKey = der2048 })}, "public key is RSA 2048, not RSA 4096", 0},
		{"signing key", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) {
			o.KeyUsage, o.EncryptionAlgorithms = types.KeyUsageTypeSignVerify, nil
		})}, `key usage "SIGN_VERIFY" is not "ENCRYPT_DECRYPT"`, 0},
		{"not DER", &fakePublicKMS{out: with(func(o *kms.GetPublicKeyOutput) { o.PublicKey = []byte("nope") })}, "not a SubjectPublicKeyInfo", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &sas.PublicKeys{KMS: tc.f, KeyIDs: map[sas.Residency]string{sas.EU: "key-eu"}}
			k, err := p.Get(context.Background(), sas.EU)
			if tc.f.described != tc.described {
				t.Errorf("DescribeKey called %d times, want %d", tc.f.described, tc.described)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Key.N.Cmp(rsa4096(t).N) != 0 || k.KeyID != "key-eu" || k.Residency != sas.EU {
					t.Fatalf("key %s of %s differs from the one KMS returned", k.KeyID, k.Residency)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "the eu KMS key key-eu") {
				t.Errorf("error = %q, want it to name the key and contain %q", err, tc.want)
			}
		})
	}
	_, err = (&sas.PublicKeys{KMS: &fakePublicKMS{out: good}, KeyIDs: map[sas.Residency]string{sas.EU: "key-eu"}}).Get(context.Background(), sas.US)
	if err == nil || !strings.Contains(err.Error(), `no KMS key configured for residency "us" (AUDITLOG_KMS_KEY_US)`) {
		t.Errorf("missing key: %v", err)
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	der, _ := x509.MarshalPKIXPublicKey(&rsa4096(t).PublicKey)
	if _, err := sas.ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not PEM":       {[]byte("hello"), "no PEM block"},
		"PKCS#1 block":  {pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}), `PEM block is "RSA PUBLIC KEY"`},
		"garbage bytes": {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}}), "not a SubjectPublicKeyInfo"},
	} {
		if _, err := sas.ParsePublicKeyPEM(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", name, err, tc.want)
		}
	}
}

// TestPublicKeyEncryptLocalKMS is the acceptance test of the key and
// encrypt path: our keys in local-kms, the public key as PublicKeys reads
// and prints it, a SAS URL encrypted both by Encrypt and by the product
// doc's openssl commands (real processes) to that PEM, and both decrypted
// by the export's Decrypter through KMS (RSAES_OAEP_SHA_256) to the exact
// input.
func TestPublicKeyEncryptLocalKMS(t *testing.T) {
	srv := testenv.LocalKMS(t)
	client := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: srv.URL, KMS: srv.URL}))
	ctx := testenv.Context(t)
	usKey, usPEMFile := sastest.CreateKey(t, client)
	euKey, _ := sastest.CreateKey(t, client)
	keys := map[sas.Residency]string{sas.US: usKey, sas.EU: euKey}
	p := &sas.PublicKeys{KMS: client, KeyIDs: keys}
	d := &sas.Decrypter{KMS: client, KeyIDs: keys}

	us, err := p.Get(ctx, sas.US)
	if err != nil {
		t.Fatal(err)
	}
	pemFile, err := os.ReadFile(usPEMFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(us.PEM(), "-----BEGIN PUBLIC KEY-----\n") || us.PEM() != string(pemFile) {
		t.Fatalf("PEM differs from GetPublicKey's key:\n%s", us.PEM())
	}
	if !strings.HasSuffix(us.KeyID, usKey) || us.Key.N.BitLen() != 4096 {
		t.Fatalf("key %s, %d bits", us.KeyID, us.Key.N.BitLen())
	}
	eu, err := p.Get(ctx, sas.EU)
	if err != nil {
		t.Fatal(err)
	}
	if eu.Fingerprint() == us.Fingerprint() {
		t.Fatal("both residencies have the same key")
	}

	expiry := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02T15:04:05Z")
	raw := azureHost + "/audit-logs?" + query("sv", "2025-01-05", "sr", "c", "sp", "cw", "se", expiry)

	t.Run("EncryptToKMS", func(t *testing.T) {
		b64, err := sas.EncryptURL(us.Key, raw, time.Now(), sas.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := d.Decrypt(ctx, sas.US, b64)
		if err != nil {
			t.Fatal(err)
		}
		if u.Reveal() != raw {
			t.Fatal("KMS decrypted something other than the input")
		}
		if _, err := d.Decrypt(ctx, sas.EU, b64); err == nil || !strings.Contains(err.Error(), "cannot be decrypted with the eu key") {
			t.Fatalf("a cipher for the us key, decrypted with the eu key: %v", err)
		}
	})

	t.Run("OpenSSLWithPrintedPEMToKMS", func(t *testing.T) {
		testenv.RequireTools(t, "openssl", "base64", "sh")
		b64, err := opensslenc.Encrypt(ctx, []byte(eu.PEM()), raw)
		if err != nil {
			t.Fatal(err)
		}
		u, err := d.Decrypt(ctx, sas.EU, b64)
		if err != nil {
			t.Fatal(err)
		}
		if u.Reveal() != raw {
			t.Fatal("KMS decrypted something other than the input")
		}
	})

	t.Run("RefusesOtherKeys", func(t *testing.T) {
		for _, tc := range []struct {
			spec  types.KeySpec
			usage types.KeyUsageType
			want  string
		}{
			{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt, `key spec "RSA_2048" is not "RSA_4096"`},
			{types.KeySpecRsa4096, types.KeyUsageTypeSignVerify, `key usage "SIGN_VERIFY" is not "ENCRYPT_DECRYPT"`},
			{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify, `key spec "ECC_NIST_P256" is not "RSA_4096"`},
		} {
			k, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(k.KeyMetadata.KeyId)
			_, err = (&sas.PublicKeys{KMS: client, KeyIDs: map[sas.Residency]string{sas.US: id}}).Get(ctx, sas.US)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), id) {
				t.Errorf("%s %s: error = %v, want it to name the key and contain %q", tc.spec, tc.usage, err, tc.want)
			}
		}
		_, err := (&sas.PublicKeys{KMS: client, KeyIDs: map[sas.Residency]string{sas.US: "alias/no-such-key"}}).Get(ctx, sas.US)
		if err == nil || !strings.Contains(err.Error(), "get the public key of the us KMS key alias/no-such-key") {
			t.Errorf("unknown key: %v", err)
		}
	})
}
