package signing_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/signing"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var (
	keyOnce sync.Once
	key4096 *rsa.PrivateKey
)

// rsa4096 is one RSA 4096 key for the fakes, generated once (seconds).
func rsa4096(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			panic(err)
		}
		key4096 = k
	})
	return key4096
}

func der(t *testing.T, pub any) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeKMS signs with key as KMS would, answers GetPublicKey with pub, and
// records what it was asked.
type fakeKMS struct {
	key       *rsa.PrivateKey
	pub       kms.GetPublicKeyOutput
	describe  []types.SigningAlgorithmSpec
	getErr    error // GetPublicKey fails with it while set
	signErr   error
	tamper    bool // flip a bit of the signature
	gets      atomic.Int32
	described atomic.Int32
	mu        sync.Mutex
	signed    []*kms.SignInput
}

func (f *fakeKMS) Sign(_ context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	f.mu.Lock()
	f.signed = append(f.signed, in)
	f.mu.Unlock()
	if f.signErr != nil {
		return nil, f.signErr
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, in.Message)
	if err != nil {
		return nil, err
	}
	if f.tamper {
		sig[len(sig)-1] ^= 1
	}
	return &kms.SignOutput{KeyId: in.KeyId, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

func (f *fakeKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	f.gets.Add(1)
	if f.getErr != nil {
		return nil, f.getErr
	}
	out := f.pub
	out.KeyId = aws.String("arn:aws:kms:us-east-1:111122223333:key/" + aws.ToString(in.KeyId))
	return &out, nil
}

func (f *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	f.described.Add(1)
	return &kms.DescribeKeyOutput{KeyMetadata: &types.KeyMetadata{KeyId: in.KeyId, SigningAlgorithms: f.describe}}, nil
}

func goodPub(t *testing.T) kms.GetPublicKeyOutput {
	return kms.GetPublicKeyOutput{KeySpec: types.KeySpecRsa4096, KeyUsage: types.KeyUsageTypeSignVerify, PublicKey: der(t, &rsa4096(t).PublicKey),
		SigningAlgorithms: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256}}
}

// TestSignSendsTheDigest: KMS is sent the SHA-256 of the message as a
// DIGEST with PKCS#1 v1.5, of a message far over KMS's RAW limit, and the
// signature verifies over the message.
func TestSignSendsTheDigest(t *testing.T) {
	f := &fakeKMS{key: rsa4096(t), pub: goodPub(t)}
	s := signing.New(f, "k1")
	msg := []byte(strings.Repeat(`{"file":"x.csv"}`, 1000)) // 16,000 bytes
	sig, err := s.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	in := f.signed[0]
	digest := sha256.Sum256(msg)
	if aws.ToString(in.KeyId) != "k1" || in.MessageType != types.MessageTypeDigest || string(in.SigningAlgorithm) != signing.Algorithm ||
		string(in.Message) != string(digest[:]) {
		t.Fatalf("Sign asked KMS for key %s, %s, %s, message of %d bytes; want k1, DIGEST, %s, the SHA-256 of the message",
			aws.ToString(in.KeyId), in.MessageType, in.SigningAlgorithm, len(in.Message), signing.Algorithm)
	}
	if err := rsa.VerifyPKCS1v15(&rsa4096(t).PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatal(err)
	}
	if signing.Algorithm != "RSASSA_PKCS1_V1_5_SHA_256" {
		t.Errorf("Algorithm %q", signing.Algorithm)
	}
}

// TestSignVerifiesBeforeReturning: a signature that does not verify with
// the published key is an error, not a signature.
func TestSignVerifiesBeforeReturning(t *testing.T) {
	f := &fakeKMS{key: rsa4096(t), pub: goodPub(t), tamper: true}
	sig, err := signing.New(f, "k1").Sign(context.Background(), []byte("m"))
	if err == nil || sig != nil || !strings.Contains(err.Error(), "does not verify with its public key") || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("tampered signature: %d bytes returned, error %v", len(sig), err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// KMS signing with another key than the one it publishes.
	f = &fakeKMS{key: other, pub: goodPub(t)}
	if _, err := signing.New(f, "k1").Sign(context.Background(), []byte("m")); err == nil {
		t.Fatal("a signature of another key was returned")
	}
}

func TestSignErrorsNameKeyAndOperation(t *testing.T) {
	denied := &types.KMSInvalidStateException{Message: aws.String("key is disabled")}
	f := &fakeKMS{key: rsa4096(t), pub: goodPub(t), signErr: denied}
	_, err := signing.New(f, "alias/sign").Sign(context.Background(), []byte("m"))
	if err == nil || !strings.Contains(err.Error(), "sign with the KMS key alias/sign") || !errors.As(err, new(*types.KMSInvalidStateException)) {
		t.Fatalf("err = %v, want it to name the operation and the key and wrap KMS's error", err)
	}
	f = &fakeKMS{getErr: errors.New("boom")}
	_, err = signing.New(f, "alias/sign").Sign(context.Background(), []byte("m"))
	if err == nil || !strings.Contains(err.Error(), "get the public key of the KMS key alias/sign: boom") {
		t.Fatalf("err = %v", err)
	}
	if len(f.signed) != 0 {
		t.Error("signed without a checked public key")
	}
	if _, err := signing.New(f, "").PublicKey(context.Background()); err == nil || !strings.Contains(err.Error(), "no KMS signing key ID") {
		t.Errorf("empty key ID: %v", err)
	}
}

// TestPublicKeyCached: fetched once over many calls, concurrent ones
// included; a failed fetch is not kept.
func TestPublicKeyCached(t *testing.T) {
	f := &fakeKMS{key: rsa4096(t), pub: goodPub(t), getErr: errors.New("throttled")}
	s := signing.New(f, "k1")
	if _, err := s.PublicKey(context.Background()); err == nil {
		t.Fatal("no error")
	}
	f.getErr = nil
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Sign(context.Background(), []byte("m")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	k, err := s.PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := f.gets.Load(); n != 2 {
		t.Errorf("GetPublicKey called %d times, want 2 (the failed one, then once)", n)
	}
	want := der(t, &rsa4096(t).PublicKey)
	sum := sha256.Sum256(want)
	b, _ := pem.Decode([]byte(k.PEM))
	if k.KeyID != "arn:aws:kms:us-east-1:111122223333:key/k1" || string(k.DER) != string(want) || b == nil || b.Type != "PUBLIC KEY" ||
		string(b.Bytes) != string(want) || k.Fingerprint != signing.Fingerprint(want) || k.Fingerprint != hex.EncodeToString(sum[:]) ||
		k.Key.N.Cmp(rsa4096(t).N) != 0 || k.KeySpec != "RSA_4096" || k.KeyUsage != "SIGN_VERIFY" ||
		strings.Join(k.SigningAlgorithms, ",") != "RSASSA_PSS_SHA_256,RSASSA_PKCS1_V1_5_SHA_256" {
		t.Fatalf("public key %+v", k)
	}
}

func TestPublicKeyChecks(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(*kms.GetPublicKeyOutput)) kms.GetPublicKeyOutput {
		o := goodPub(t)
		change(&o)
		return o
	}
	pkcs1 := []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPkcs1V15Sha256}
	for _, tc := range []struct {
		name      string
		f         *fakeKMS
		want      string
		described int32
	}{
		{"ok", &fakeKMS{pub: goodPub(t)}, "", 0},
		{"algorithms from DescribeKey", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.SigningAlgorithms = nil }), describe: pkcs1}, "", 1},
		{"none anywhere", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.SigningAlgorithms = nil })},
			"signing algorithms [] do not include RSASSA_PKCS1_V1_5_SHA_256", 1},
		{"PSS only", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) {
			o.SigningAlgorithms = []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256}
		})}, "signing algorithms [RSASSA_PSS_SHA_256] do not include RSASSA_PKCS1_V1_5_SHA_256", 0},
		{"encryption key", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) {
			o.KeyUsage, o.SigningAlgorithms = types.KeyUsageTypeEncryptDecrypt, nil
		})}, `key usage "ENCRYPT_DECRYPT" is not "SIGN_VERIFY"`, 0},
		{"RSA 2048 spec", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.KeySpec = types.KeySpecRsa2048 })},
			`key spec "RSA_2048" is not "RSA_4096"`, 0},
		{"spec says 4096, key is 2048", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.PublicKey = der(t, &small.PublicKey) })},
			"public key is RSA 2048, not RSA 4096", 0},
		{"spec says RSA, key is EC", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.PublicKey = der(t, &ec.PublicKey) })},
			"not an RSA key", 0},
		{"not DER", &fakeKMS{pub: with(func(o *kms.GetPublicKeyOutput) { o.PublicKey = []byte("nope") })}, "not a SubjectPublicKeyInfo", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := signing.New(tc.f, "key-s").PublicKey(context.Background())
			if n := tc.f.described.Load(); n != tc.described {
				t.Errorf("DescribeKey called %d times, want %d", n, tc.described)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Key.N.Cmp(rsa4096(t).N) != 0 || !strings.HasSuffix(k.KeyID, "key-s") {
					t.Fatalf("key %s differs from the one KMS returned", k.KeyID)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "the KMS key arn:aws:kms:us-east-1:111122223333:key/key-s") {
				t.Errorf("error = %q, want it to name the key and contain %q", err, tc.want)
			}
		})
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	d := der(t, &rsa4096(t).PublicKey)
	block := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: d})
	pub, fp, err := signing.ParsePublicKeyPEM(append(block, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if pub.N.Cmp(rsa4096(t).N) != 0 || fp != signing.Fingerprint(d) {
		t.Fatalf("parsed another key, or fingerprint %s", fp)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not PEM":       {[]byte("hello"), "no PEM block"},
		"PKCS#1 block":  {pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: d}), `PEM block is "RSA PUBLIC KEY"`},
		"garbage bytes": {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}}), "not a SubjectPublicKeyInfo"},
		"RSA 2048":      {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der(t, &small.PublicKey)}), "RSA 2048, not RSA 4096"},
		"two keys":      {append(append([]byte{}, block...), block...), "more than one PEM block"},
	} {
		if _, _, err := signing.ParsePublicKeyPEM(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", name, err, tc.want)
		}
	}
}
