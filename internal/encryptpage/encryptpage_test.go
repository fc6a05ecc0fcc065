package encryptpage_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/contentful/auditlogs/internal/encryptpage"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var (
	keyOnce sync.Once
	keyDER  []byte
)

// localKeys are two PublicKeys sharing one locally generated RSA-4096 key:
// enough to render the page without KMS.
func localKeys(t *testing.T) []*sas.PublicKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			panic(err)
		}
		keyDER, _ = x509.MarshalPKIXPublicKey(&k.PublicKey)
	})
	return []*sas.PublicKey{{Residency: sas.US, DER: keyDER}, {Residency: sas.EU, DER: keyDER}}
}

func render(t *testing.T, keys []*sas.PublicKey, def sas.Residency) string {
	t.Helper()
	var b bytes.Buffer
	if err := encryptpage.Render(&b, keys, def); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// TestRenderIsSelfContained: the inline script and style are exactly what
// the CSP's hashes allow, and the page names no resource to load.
func TestRenderIsSelfContained(t *testing.T) {
	page := render(t, localKeys(t), sas.EU)
	csp := encryptpage.CSP()
	meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if meta == nil || html.UnescapeString(meta[1]) != csp {
		t.Fatalf("CSP meta tag %q, want %q", meta, csp)
	}
	if !strings.HasPrefix(csp, "default-src 'none'; ") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
	if len(scripts) != 1 || len(styles) != 1 {
		t.Fatalf("%d scripts, %d styles, want one each", len(scripts), len(styles))
	}
	if !strings.Contains(csp, "script-src "+sha(scripts[0][1])+";") || !strings.Contains(csp, "style-src "+sha(styles[0][1])+";") {
		t.Fatalf("CSP %q does not allow the page's script and style by hash", csp)
	}
	lower := strings.ToLower(page)
	for _, ref := range []string{" src=", " href=", "<link", "<img", "<iframe", "<form", "<object", "<embed", "<base"} {
		if strings.Contains(lower, ref) {
			t.Errorf("page contains %q: it must load nothing", ref)
		}
	}
	for _, ref := range []string{"url(", "@import"} {
		if strings.Contains(strings.ToLower(styles[0][1]), ref) {
			t.Errorf("style contains %q: it must load nothing", ref)
		}
	}
	if n := strings.Count(page, " selected>"); n != 1 || !strings.Contains(html.UnescapeString(page), `<option value="eu" data-spki="`+base64.StdEncoding.EncodeToString(keyDER)+`"`) {
		t.Errorf("%d options selected; want the eu one, with its key", n)
	}
}

func TestRenderRefuses(t *testing.T) {
	keys := localKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	for name, tc := range map[string]struct {
		keys []*sas.PublicKey
		def  sas.Residency
		want string
	}{
		"default without key": {keys[:1], sas.EU, `no key for the default residency "eu"`},
		"residency twice":     {[]*sas.PublicKey{keys[0], keys[0]}, sas.US, `residency "us" given twice`},
		"RSA 2048":            {[]*sas.PublicKey{{Residency: sas.US, DER: smallDER}}, sas.US, "public key is RSA 2048, not RSA 4096"},
	} {
		var b bytes.Buffer
		if err := encryptpage.Render(&b, tc.keys, tc.def); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", name, err, tc.want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8089", "127.0.0.2:1", "[::1]:8089", "127.0.0.1:0"} {
		if err := encryptpage.CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for addr, want := range map[string]string{
		":8089":           `host "" is not a loopback address`,
		"0.0.0.0:8089":    `host "0.0.0.0" is not a loopback address`,
		"[::]:8089":       `host "::" is not a loopback address`,
		"192.168.1.5:80":  `host "192.168.1.5" is not a loopback address`,
		"localhost:8089":  `host "localhost" is not a loopback address`,
		"127.0.0.1":       "want 127.0.0.1:PORT",
		"example.com:443": `host "example.com"`,
		"127.0.0.1:":      "no port",
	} {
		err := encryptpage.CheckLoopback(addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `--serve "`+addr+`"`) {
			t.Errorf("%s: error = %v, want it to name the value and contain %q", addr, err, want)
		}
	}
}

func TestHandler(t *testing.T) {
	page := []byte(render(t, localKeys(t), sas.US))
	srv := httptest.NewServer(encryptpage.Handler(page))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body.Bytes(), page) {
		t.Fatalf("GET /: %d, %d bytes", resp.StatusCode, body.Len())
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != encryptpage.CSP()+"; frame-ancestors 'none'" {
		t.Errorf("CSP header %q", got)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", resp.Header)
	}
	for _, req := range [][2]string{{"GET", "/favicon.ico"}, {"POST", "/"}, {"GET", "/page.html"}} {
		r, _ := http.NewRequest(req[0], srv.URL+req[1], nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", req[0], req[1], resp.StatusCode)
		}
	}
}
