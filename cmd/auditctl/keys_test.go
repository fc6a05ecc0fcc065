package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/encryptpage/pagetest"
	"github.com/contentful/auditlogs/internal/localdev/emulator"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
	"github.com/contentful/auditlogs/internal/sas/sastest"
	"github.com/contentful/auditlogs/internal/signing"
)

// testSig is a made-up SAS signature: it must never appear in the
// commands' output or errors.
const testSig = "Zm9vYmFyYmF6cXV4K3Nv/bWVzaWduYXR1cmU0Mg=="

func testSASURL(expiry time.Time) string {
	return "https://acct01.blob.core.windows.net/audit-logs?sv=2025-01-05&sr=c&sp=cw&se=" +
		expiry.UTC().Format("2006-01-02T15:04:05Z") + "&sig=" + url.QueryEscape(testSig)
}

func assertNoSig(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSig, url.QueryEscape(testSig), "K3Nv/bWVz"} {
		if strings.Contains(s, secret) {
			t.Fatalf("%s shows the SAS signature", what)
		}
	}
}

// keyEnv starts a local-kms of the test's own with a us and an eu key like
// the stack's, and points the commands' environment at it as a deployment
// does: AUDITLOG_KMS_KEY_US/EU and the standard AWS variables.
func keyEnv(t *testing.T) (*kms.Client, *sas.Decrypter, map[sas.Residency]string) {
	t.Helper()
	srv := testenv.StartLocalKMS(t)
	client := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: srv.URL, KMS: srv.URL}))
	us, usPEM := sastest.CreateKey(t, client)
	eu, euPEM := sastest.CreateKey(t, client)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_ENDPOINT_URL_KMS": srv.URL,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AUDITLOG_KMS_KEY_US": us, "AUDITLOG_KMS_KEY_EU": eu, "AUDITLOG_AZURE_EMULATOR_HOSTS": "",
	} {
		t.Setenv(k, v)
	}
	ids := map[sas.Residency]string{sas.US: us, sas.EU: eu}
	pems := map[sas.Residency]string{}
	for r, f := range map[sas.Residency]string{sas.US: usPEM, sas.EU: euPEM} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pems[r] = string(b)
	}
	return client, &sas.Decrypter{KMS: client, KeyIDs: ids}, pems
}

// lockedBuffer is written by a command running in another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runWith runs the CLI with a context and standard input, returning
// standard output and standard error apart.
func runWith(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	root := newRoot()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var out, errOut lockedBuffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(stdin)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestKeysPublic(t *testing.T) {
	client, _, pems := keyEnv(t)
	ctx := context.Background()

	out, err := run("keys", "public", "--residency", "us")
	if err != nil {
		t.Fatal(err)
	}
	if out != pems[sas.US] || !strings.HasPrefix(out, "-----BEGIN PUBLIC KEY-----\n") || !strings.HasSuffix(out, "-----END PUBLIC KEY-----\n") {
		t.Fatalf("keys public --residency us printed:\n%s\nwant the PEM of the us key:\n%s", out, pems[sas.US])
	}

	out, err = run("keys", "public", "--residency", "eu", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got publicKeyJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, _ := pem.Decode([]byte(got.PEM))
	if b == nil {
		t.Fatalf("json pem %q", got.PEM)
	}
	sum := sha256.Sum256(b.Bytes)
	if got.Residency != sas.EU || got.PEM != pems[sas.EU] || got.KeySpec != "RSA_4096" || got.KeyUsage != "ENCRYPT_DECRYPT" ||
		!strings.Contains(strings.Join(got.EncryptionAlgorithms, ","), "RSAES_OAEP_SHA_256") || got.SHA256 != hex.EncodeToString(sum[:]) ||
		!strings.HasSuffix(got.KeyID, os.Getenv("AUDITLOG_KMS_KEY_EU")) {
		t.Fatalf("keys public --json: %+v", got)
	}

	// Usage errors (exit code 2) name the flag and the value.
	for _, args := range [][]string{{"keys", "public", "--residency", "asia"}, {"keys", "public"}, {"keys", "public", "--residency", "us", "extra"}} {
		if _, err := run(args...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", args, err)
		} else if args[len(args)-1] == "asia" && !strings.Contains(err.Error(), `--residency: invalid residency "asia"`) {
			t.Errorf("%v: %v", args, err)
		}
	}

	// Failures (exit code 1): no key configured, a key of the wrong kind.
	t.Setenv("AUDITLOG_KMS_KEY_EU", "")
	if _, err := run("keys", "public", "--residency", "eu"); err == nil || isUsage(err) || !strings.Contains(err.Error(), `no KMS key configured for residency "eu" (AUDITLOG_KMS_KEY_EU)`) {
		t.Errorf("eu without a key: %v", err)
	}
	small, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUDITLOG_KMS_KEY_US", aws.ToString(small.KeyMetadata.KeyId))
	if _, err := run("keys", "public", "--residency", "us"); err == nil || isUsage(err) || !strings.Contains(err.Error(), `key spec "RSA_2048" is not "RSA_4096"`) {
		t.Errorf("RSA 2048 key: %v", err)
	}
}

// TestKeysPublicSigning: --purpose signing prints the signing key
// (AUDITLOG_SIGNING_KEY_ID) as PEM, which the customer's openssl command
// verifies a signature of our signer with, and as JSON with its
// description and fingerprint; --residency with it, and an unknown
// purpose, are usage errors naming the flag; a missing or wrong key a
// failure naming it.
func TestKeysPublicSigning(t *testing.T) {
	client, _, pems := keyEnv(t)
	ctx := context.Background()
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa4096, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(key.KeyMetadata.KeyId)
	t.Setenv("AUDITLOG_SIGNING_KEY_ID", id)
	raw, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	wantPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: raw.PublicKey}))

	out, err := run("keys", "public", "--purpose", "signing")
	if err != nil {
		t.Fatal(err)
	}
	if out != wantPEM {
		t.Fatalf("keys public --purpose signing printed:\n%s\nwant the signing key's PEM:\n%s", out, wantPEM)
	}
	// What a customer does with it: verify a manifest our signer signed.
	testenv.RequireTools(t, "openssl")
	dir := t.TempDir()
	manifest := []byte(`{"file":"audit/2025-01-05.csv","sha256":"` + strings.Repeat("0f", 32) + `"}`)
	sig, err := signing.New(client, id).Sign(ctx, manifest)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"signing-key.pem": []byte(out), "x.manifest.json": manifest, "x.manifest.json.sig": sig} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := exec.CommandContext(ctx, "openssl", "dgst", "-sha256", "-verify", "signing-key.pem", "-signature", "x.manifest.json.sig", "x.manifest.json")
	verify.Dir = dir
	if got, err := verify.CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "Verified OK" {
		t.Fatalf("openssl with the printed PEM: %q, %v", got, err)
	}

	out, err = run("keys", "public", "--purpose", "signing", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got signingKeyJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sum := sha256.Sum256(raw.PublicKey)
	if got.PEM != wantPEM || got.KeySpec != "RSA_4096" || got.KeyUsage != "SIGN_VERIFY" || !strings.HasSuffix(got.KeyID, id) ||
		!slices.Contains(got.SigningAlgorithms, "RSASSA_PKCS1_V1_5_SHA_256") || got.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Fatalf("keys public --purpose signing --json: %+v", got)
	}
	var fields map[string]any
	_ = json.Unmarshal([]byte(out), &fields)
	for _, k := range []string{"key_id", "key_spec", "key_usage", "signing_algorithms", "fingerprint", "pem"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("--json lacks %s: %s", k, out)
		}
	}

	// The default purpose is still encryption.
	if out, err := run("keys", "public", "--purpose", "encryption", "--residency", "us"); err != nil || out != pems[sas.US] {
		t.Errorf("--purpose encryption --residency us: %v\n%s", err, out)
	}

	// Usage errors (exit code 2), naming the flag (and the value).
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "public", "--purpose", "signing", "--residency", "us"}, "--residency: not with --purpose signing"},
		{[]string{"keys", "public", "--purpose", "signing", "--residency", ""}, "--residency: not with --purpose signing"},
		{[]string{"keys", "public", "--purpose", "sigining"}, `--purpose: unknown purpose "sigining": want encryption or signing`},
		{[]string{"keys", "public", "--purpose", "encryption"}, "--residency: required with --purpose encryption"},
	} {
		if _, err := run(c.args...); !isUsage(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error containing %q", c.args, err, c.want)
		}
	}

	// Failures (exit code 1): a key that cannot sign, no key configured.
	enc, _ := sastest.CreateKey(t, client)
	t.Setenv("AUDITLOG_SIGNING_KEY_ID", enc)
	if _, err := run("keys", "public", "--purpose", "signing"); err == nil || isUsage(err) || !strings.Contains(err.Error(), `key usage "ENCRYPT_DECRYPT" is not "SIGN_VERIFY"`) ||
		!strings.Contains(err.Error(), enc) {
		t.Errorf("an encryption key as the signing key: %v", err)
	}
	t.Setenv("AUDITLOG_SIGNING_KEY_ID", "")
	if _, err := run("keys", "public", "--purpose", "signing"); err == nil || isUsage(err) || !strings.Contains(err.Error(), "AUDITLOG_SIGNING_KEY_ID is not set") {
		t.Errorf("no signing key: %v", err)
	}
}

// TestSASEncrypt is the acceptance test of `sas encrypt`: its cipher, and
// one the product doc's openssl commands make with the PEM `keys public`
// prints, both decrypt through KMS in the export path to the exact input.
func TestSASEncrypt(t *testing.T) {
	_, d, _ := keyEnv(t)
	ctx := context.Background()
	raw := testSASURL(time.Now().Add(24 * time.Hour))
	dir := t.TempDir()
	plain := filepath.Join(dir, "sas-token.plain")
	if err := os.WriteFile(plain, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	decrypts := func(t *testing.T, r sas.Residency, cipher string) {
		t.Helper()
		u, err := d.Decrypt(ctx, r, cipher)
		if err != nil {
			t.Fatalf("export path: %v", err)
		}
		if u.Reveal() != raw {
			t.Fatal("KMS decrypted something other than the input")
		}
	}

	t.Run("File", func(t *testing.T) {
		out, errOut, err := runWith(ctx, strings.NewReader(""), "sas", "encrypt", "--residency", "us", "--in", plain)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSig(t, "output", out+errOut)
		if c, err := destination.DecodeCipher(out); err != nil || destination.EncodeCipher(c) != out {
			t.Fatalf("output is not the doc's base64 layout: %v\n%s", err, out)
		}
		decrypts(t, sas.US, out)
		if _, err := d.Decrypt(ctx, sas.EU, out); err == nil {
			t.Fatal("a cipher for the us key decrypted with the eu key")
		}
	})

	t.Run("StdinJSON", func(t *testing.T) {
		out, _, err := runWith(ctx, strings.NewReader(raw), "sas", "encrypt", "--residency", "eu", "--in", "-", "--json")
		if err != nil {
			t.Fatal(err)
		}
		assertNoSig(t, "output", out)
		var got encryptJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.Residency != sas.EU || got.Account != "acct01" || got.Container != "audit-logs" || got.Expiry.IsZero() || got.KeyID == "" {
			t.Fatalf("--json: %+v", got)
		}
		decrypts(t, sas.EU, got.SASCipher)
	})

	t.Run("OpenSSLWithPrintedPEM", func(t *testing.T) {
		testenv.RequireTools(t, "openssl", "base64", "sh")
		pemOut, err := run("keys", "public", "--residency", "eu")
		if err != nil {
			t.Fatal(err)
		}
		b64, err := opensslenc.Encrypt(ctx, []byte(pemOut), raw)
		if err != nil {
			t.Fatal(err)
		}
		decrypts(t, sas.EU, b64)
	})

	t.Run("Refuses", func(t *testing.T) {
		write := func(name, content string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		nl := write("newline.plain", raw+"\n")
		crlf := write("crlf.plain", raw+"\r\n")
		lead := write("lead.plain", " "+raw)
		expired := write("expired.plain", testSASURL(time.Now().Add(-time.Hour)))
		blob := write("blob.plain", strings.Replace(raw, "/audit-logs?", "/audit-logs/x.csv?", 1))
		for _, tc := range []struct {
			name  string
			stdin string
			args  []string
			want  string
			usage bool
		}{
			{"trailing newline", "", []string{"--residency", "us", "--in", nl}, "--in " + nl + `: SAS URL ends with white space ("\n")`, false},
			{"trailing CRLF", "", []string{"--residency", "us", "--in", crlf}, `ends with white space ("\r\n")`, false},
			{"echo to stdin", raw + "\n", []string{"--residency", "us", "--in", "-"}, `--in -: SAS URL ends with white space ("\n")`, false},
			{"leading space", "", []string{"--residency", "us", "--in", lead}, `SAS URL starts with white space (" ")`, false},
			{"empty stdin", "", []string{"--residency", "us", "--in", "-"}, "--in -: SAS URL is empty", false},
			{"expired", "", []string{"--residency", "us", "--in", expired}, "SAS URL expired at", false},
			{"blob URL", "", []string{"--residency", "us", "--in", blob}, "only a container, not a blob", false},
			{"no such file", "", []string{"--residency", "us", "--in", filepath.Join(dir, "missing")}, "--in: open", true},
			{"bad residency", "", []string{"--residency", "EU", "--in", plain}, `--residency: invalid residency "EU"`, true},
			{"no --in", "", []string{"--residency", "us"}, `required flag(s) "in" not set`, true},
		} {
			out, errOut, err := runWith(ctx, strings.NewReader(tc.stdin), append([]string{"sas", "encrypt"}, tc.args...)...)
			if err == nil {
				t.Errorf("%s: encrypted", tc.name)
				continue
			}
			if !strings.Contains(err.Error(), tc.want) || isUsage(err) != tc.usage {
				t.Errorf("%s: error %q (usage %v), want %q (usage %v)", tc.name, err, isUsage(err), tc.want, tc.usage)
			}
			if out != "" {
				t.Errorf("%s: printed %q on failure", tc.name, out)
			}
			assertNoSig(t, tc.name+" error", err.Error()+out+errOut)
		}
	})

	t.Run("NoKeyForResidency", func(t *testing.T) {
		t.Setenv("AUDITLOG_KMS_KEY_US", "")
		_, _, err := runWith(ctx, strings.NewReader(""), "sas", "encrypt", "--residency", "us", "--in", plain)
		if err == nil || isUsage(err) || !strings.Contains(err.Error(), "AUDITLOG_KMS_KEY_US") {
			t.Fatalf("error = %v", err)
		}
	})
}

// TestEncryptPage: the page `encrypt-page --out` writes, with local-kms
// keys, works in headless Chromium and its cipher decrypts in the export
// path; `--serve` serves it on loopback only.
func TestEncryptPage(t *testing.T) {
	_, d, pems := keyEnv(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "encrypt-sas.html")
	_, errOut, err := runWith(ctx, strings.NewReader(""), "encrypt-page", "--residency", "eu", "--out", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "wrote "+file) {
		t.Errorf("stderr %q", errOut)
	}
	page, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	unescaped := html.UnescapeString(string(page))
	for r, p := range pems {
		b, _ := pem.Decode([]byte(p))
		if !strings.Contains(unescaped, `value="`+string(r)+`" data-spki="`+base64.StdEncoding.EncodeToString(b.Bytes)+`"`) {
			t.Errorf("the page lacks the %s public key", r)
		}
	}

	t.Run("InChromium", func(t *testing.T) {
		browser := pagetest.Browser(t)
		p := pagetest.Open(t, browser, "file://"+file)
		if p.Residency() != sas.EU {
			t.Fatalf("selected %q, want eu (--residency)", p.Residency())
		}
		raw := testSASURL(time.Now().Add(time.Hour))
		p.Type(raw + "\n")
		if cipher, problem := p.Encrypt(); cipher != "" || !strings.Contains(problem, `ends with white space ("\n")`) {
			t.Fatalf("trailing line break: cipher %d characters, error %q", len(cipher), problem)
		}
		p.Type(raw)
		cipher, problem := p.Encrypt()
		if problem != "" {
			t.Fatal(problem)
		}
		u, err := d.Decrypt(ctx, sas.EU, cipher)
		if err != nil || u.Reveal() != raw {
			t.Fatalf("export path: %v", err)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--residency", "us"}, "either --out FILE or --serve"},
			{[]string{"--residency", "us", "--out", file, "--serve", "127.0.0.1:0"}, "either --out FILE or --serve"},
			{[]string{"--residency", "us", "--serve", "0.0.0.0:8089"}, `--serve "0.0.0.0:8089": host "0.0.0.0" is not a loopback address`},
			{[]string{"--residency", "us", "--serve", ":8089"}, `host "" is not a loopback address`},
			{[]string{"--residency", "mars", "--out", file}, `invalid residency "mars"`},
		} {
			_, _, err := runWith(ctx, strings.NewReader(""), append([]string{"encrypt-page"}, tc.args...)...)
			if !isUsage(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.want)
			}
		}
	})

	t.Run("Serve", func(t *testing.T) {
		port, err := emulator.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		var stdout string
		go func() {
			var err error
			stdout, _, err = runWith(sctx, strings.NewReader(""), "encrypt-page", "--residency", "us", "--serve", addr)
			done <- err
		}()
		var resp *http.Response
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err = http.Get("http://" + addr + "/")
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			cancel()
			t.Fatalf("the page was not served: %v (command: %v)", err, <-done)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<option value="us"`)) || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop when its context ended")
		}
		if !strings.Contains(stdout, "serving the encryption page on http://"+addr+"/") {
			t.Errorf("stdout %q", stdout)
		}
		if _, err := http.Get("http://" + addr + "/"); err == nil {
			t.Error("still serving after the command returned")
		}
	})
}
