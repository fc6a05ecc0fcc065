// Package encryptpage renders the product doc's "Option 2" page: a single
// static HTML file that encrypts a SAS URL in the customer's browser with
// WebCrypto (RSA-OAEP, SHA-256) under a residency's public key and shows
// the cipher in the layout the doc's `base64` command writes, so it can be
// submitted like one made with openssl.
//
// The page carries everything it needs: the public keys (as data
// attributes), its script and its style, inline. A Content-Security-Policy
// of default-src 'none' forbids every request (fetch, images, fonts,
// forms); the inline script and style are allowed by their SHA-256 hashes,
// not by 'unsafe-inline', so nothing but the exact code shipped here can
// run even if the saved file is edited or something is injected into it,
// and the hashes cost nothing since they are computed when the page is
// rendered.
//
// Of this module it imports only internal/sas (the residencies and the
// check of a public key). The caller hands it the public keys: it calls no
// AWS service and must not import internal/app, the registry or cmd. Only
// auditctl imports it (`auditctl encrypt-page`).
package encryptpage

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"

	"github.com/contentful/auditlogs/internal/sas"
)

var (
	//go:embed page.html.tmpl
	pageTemplate string
	//go:embed page.js
	script string
	//go:embed page.css
	style string

	tmpl = template.Must(template.New("page").Parse(pageTemplate))
)

// Labels name the residencies as the product doc does.
var Labels = map[sas.Residency]string{
	sas.US: "US/global data residency (most customers)",
	sas.EU: "EU data residency",
}

// CSP is the page's Content-Security-Policy: nothing may be loaded or
// sent, only the page's own inline script and style run.
func CSP() string {
	return fmt.Sprintf("default-src 'none'; script-src '%s'; style-src '%s'; base-uri 'none'; form-action 'none'",
		hash(script), hash(style))
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Render writes the page with keys, in the order given, offering def
// first selected. def must be among keys, each residency at most once.
func Render(w io.Writer, keys []*sas.PublicKey, def sas.Residency) error {
	type option struct {
		Residency   sas.Residency
		Label       string
		SPKI        string
		Fingerprint string
		Default     bool
	}
	data := struct {
		CSP    string
		Style  template.CSS
		Script template.JS
		Keys   []option
	}{CSP: CSP(), Style: template.CSS(style), Script: template.JS(script)}
	seen := map[sas.Residency]bool{}
	for _, k := range keys {
		if seen[k.Residency] {
			return fmt.Errorf("encryptpage: residency %q given twice", k.Residency)
		}
		seen[k.Residency] = true
		// The page runs in browsers we do not control: give it only keys
		// that passed the checks sas.PublicKeys makes.
		if _, err := sas.ParsePublicKeyDER(k.DER); err != nil {
			return fmt.Errorf("encryptpage: the %s key: %w", k.Residency, err)
		}
		data.Keys = append(data.Keys, option{Residency: k.Residency, Label: Labels[k.Residency],
			SPKI: base64.StdEncoding.EncodeToString(k.DER), Fingerprint: k.Fingerprint(), Default: k.Residency == def})
	}
	if !seen[def] {
		return fmt.Errorf("encryptpage: no key for the default residency %q", def)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("encryptpage: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Handler serves page at / (GET and HEAD only) with the CSP also as a
// header, where frame-ancestors works (browsers ignore it in a meta tag),
// and answers 404 to anything else.
func Handler(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", CSP()+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}

// CheckLoopback accepts a listen address host:port whose host is a
// loopback IP literal (127.0.0.0/8 or ::1). The page is for the person at
// this machine; any other address, a name or an empty host (all
// interfaces) would offer it to the network.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--serve %q: want 127.0.0.1:PORT: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--serve %q: host %q is not a loopback address: serve only on 127.0.0.1 (or [::1])", addr, host)
	}
	if port == "" {
		return fmt.Errorf("--serve %q: no port", addr)
	}
	return nil
}
