package encryptpage_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/encryptpage"
	"github.com/contentful/auditlogs/internal/encryptpage/pagetest"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/sastest"
)

// kmsKeys creates a us and an eu key in local-kms, as the stack does, and
// returns their checked public keys and the export's Decrypter for them.
func kmsKeys(t *testing.T) ([]*sas.PublicKey, *sas.Decrypter) {
	t.Helper()
	srv := testenv.LocalKMS(t)
	client := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: srv.URL, KMS: srv.URL}))
	us, _ := sastest.CreateKey(t, client)
	eu, _ := sastest.CreateKey(t, client)
	ids := map[sas.Residency]string{sas.US: us, sas.EU: eu}
	p := &sas.PublicKeys{KMS: client, KeyIDs: ids}
	var keys []*sas.PublicKey
	for _, r := range sas.Residencies {
		k, err := p.Get(testenv.Context(t), r)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys, &sas.Decrypter{KMS: client, KeyIDs: ids}
}

// sasURL is a container SAS URL the export accepts, with a signature that
// must never show up in the page's messages.
const testSig = "Zm9vYmFyYmF6cXV4K3Nv/bWVzaWduYXR1cmU0Mg=="

func sasURL(expiry time.Time) string {
	return "https://acct01.blob.core.windows.net/audit-logs?sv=2025-01-05&sr=c&sp=cw&se=" +
		expiry.UTC().Format("2006-01-02T15:04:05Z") + "&sig=" + url.QueryEscape(testSig)
}

// TestPageInChromium is the acceptance test of the encryption page: it is
// rendered with keys from local-kms, opened from a file in headless
// Chromium, a SAS URL is typed into it, and the cipher it shows is
// decrypted by the export's Decrypter through KMS to exactly what was
// typed, for each residency. White space around the URL is refused, the
// page makes no request but loading itself, and its CSP blocks one that
// its script would try.
func TestPageInChromium(t *testing.T) {
	keys, d := kmsKeys(t)
	browser := pagetest.Browser(t)
	var b bytes.Buffer
	if err := encryptpage.Render(&b, keys, sas.EU); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "encrypt-sas.html")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pageURL := "file://" + file
	p := pagetest.Open(t, browser, pageURL)
	ctx := testenv.Context(t)

	if got := p.Residencies(); !slices.Equal(got, []sas.Residency{sas.US, sas.EU}) {
		t.Fatalf("page offers %v", got)
	}
	if got := p.Residency(); got != sas.EU {
		t.Fatalf("page opened with %q selected, want the default eu", got)
	}

	raw := sasURL(time.Now().Add(48 * time.Hour))
	for _, r := range []sas.Residency{sas.EU, sas.US} {
		t.Run("EncryptsFor_"+string(r), func(t *testing.T) {
			p := p.For(t)
			p.Select(r)
			p.Type(raw)
			cipher, problem := p.Encrypt()
			if problem != "" {
				t.Fatalf("page refused a good SAS URL: %s", problem)
			}
			// The layout of `base64` and destination.EncodeCipher, byte for byte.
			rawCipher, err := destination.DecodeCipher(cipher)
			if err != nil {
				t.Fatal(err)
			}
			if destination.EncodeCipher(rawCipher) != cipher {
				t.Fatalf("cipher layout differs from base64's:\n%q", cipher)
			}
			u, err := d.Decrypt(ctx, r, cipher)
			if err != nil {
				t.Fatalf("export path: %v", err)
			}
			if u.Reveal() != raw {
				t.Fatal("KMS decrypted something other than what was typed")
			}
			other := sas.US
			if r == sas.US {
				other = sas.EU
			}
			if _, err := d.Decrypt(ctx, other, cipher); err == nil {
				t.Fatalf("a cipher made for %s decrypted with the %s key", r, other)
			}
		})
	}

	t.Run("RefusesBadInput", func(t *testing.T) {
		p := p.For(t)
		for _, tc := range []struct{ name, typed, want string }{
			{"trailing line break", raw + "\n", `SAS URL ends with white space ("\n")`},
			{"leading space", " " + raw, `SAS URL starts with white space (" ")`},
			{"both", "\t" + raw + " ", `starts with white space ("\t") and ends with white space (" ")`}, // pasted, see below
			{"only white space", "  ", `SAS URL is only white space ("  ")`},
			{"empty", "", "SAS URL is empty"},
			{"space inside", strings.Replace(raw, "sv=", "sv= ", 1), "a space, control or non-ASCII character at position"},
			{"not Azure", strings.Replace(raw, "acct01.blob.core.windows.net", "attacker.example.com", 1), `SAS host "attacker.example.com" is not an Azure Blob host`},
			{"http", strings.Replace(raw, "https:", "http:", 1), `scheme "http" is not https`},
			{"blob, not container", strings.Replace(raw, "/audit-logs?", "/audit-logs/x.csv?", 1), "exactly one container (found 2 path segments)"},
			{"read only", strings.Replace(raw, "sp=cw", "sp=r", 1), `SAS permissions "r" lack create (c) or write (w)`},
			{"read and list too", strings.Replace(raw, "sp=cw", "sp=rcwl", 1), `SAS permissions "rcwl" grant more than create, write and add: remove read (r), list (l)`},
			{"account SAS", strings.Replace(raw, "sp=cw", "ss=b&srt=co&sp=cw", 1), "SAS URL is an account SAS (it has the parameter ss)"},
			{"expired", sasURL(time.Now().Add(-time.Hour)), "SAS URL expired at"},
			{"no signature", strings.Split(raw, "&sig=")[0], "no signature (sig)"},
		} {
			if strings.Contains(tc.typed, "\t") {
				p.Paste(tc.typed)
			} else {
				p.Type(tc.typed)
			}
			cipher, problem := p.Encrypt()
			if cipher != "" || !strings.Contains(problem, tc.want) {
				t.Errorf("%s: cipher %d characters, error %q; want no cipher and %q", tc.name, len(cipher), problem, tc.want)
			}
			if strings.Contains(problem, testSig) || strings.Contains(problem, url.QueryEscape(testSig)) {
				t.Errorf("%s: the page's error shows the signature: %s", tc.name, problem)
			}
		}
	})

	t.Run("SendsNothing", func(t *testing.T) {
		p := p.For(t)
		var hits atomic.Int32
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
		defer sink.Close()
		// The CSP, not CORS, must stop it: the server sees nothing, and
		// the browser records no request.
		t.Logf("fetch from the page: %s", p.Fetch(sink.URL+"/exfiltrate"))
		if hits.Load() != 0 {
			t.Errorf("the server got %d requests from the page: the CSP does not block them", hits.Load())
		}
		for _, req := range p.Requests() {
			if req != pageURL {
				t.Errorf("the page requested %s", req)
			}
		}
	})
}

// TestServedPageInChromium: the page as Handler serves it (what
// `auditctl encrypt-page --serve` runs) works over http on 127.0.0.1, and
// the browser asks the server for nothing but the page.
func TestServedPageInChromium(t *testing.T) {
	keys, d := kmsKeys(t)
	browser := pagetest.Browser(t)
	var b bytes.Buffer
	if err := encryptpage.Render(&b, keys[:1], sas.US); err != nil {
		t.Fatal(err)
	}
	var mu atomic.Value
	mu.Store([]string{})
	h := encryptpage.Handler(b.Bytes())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Store(append(mu.Load().([]string), r.Method+" "+r.URL.Path))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := pagetest.Open(t, browser, srv.URL+"/")
	if got := p.Residencies(); !slices.Equal(got, []sas.Residency{sas.US}) {
		t.Fatalf("page offers %v, want only us", got)
	}
	raw := sasURL(time.Now().Add(time.Hour))
	p.Type(raw)
	cipher, problem := p.Encrypt()
	if problem != "" {
		t.Fatal(problem)
	}
	u, err := d.Decrypt(testenv.Context(t), sas.US, cipher)
	if err != nil || u.Reveal() != raw {
		t.Fatalf("export path: %v", err)
	}
	if got := mu.Load().([]string); !slices.Equal(got, []string{"GET /"}) {
		t.Errorf("the server got %v, want only GET /", got)
	}
}
