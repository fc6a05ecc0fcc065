package localidp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// served is the JWKS at base, its keys by kid.
func served(t *testing.T, base string) map[string]*rsa.PublicKey {
	t.Helper()
	resp, err := http.Get(JWKSURL(base))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JWKS: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || k["kid"] == "" {
			t.Errorf("JWK %v", k)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k["n"])
		e, err2 := base64.RawURLEncoding.DecodeString(k["e"])
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		keys[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys
}

// parse checks token's RS256 signature against keys and returns its
// header and claims.
func parse(t *testing.T, token string, keys map[string]*rsa.PublicKey) (map[string]any, jwt.MapClaims) {
	t.Helper()
	var c jwt.MapClaims
	tok, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		k := keys[tok.Header["kid"].(string)]
		if k == nil {
			return nil, errors.New("kid not served")
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header, c
}

func start(t *testing.T, p *IdP) string {
	t.Helper()
	base, stop, err := p.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base %s", base)
	}
	return base
}

func TestMint(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	base := start(t, p)
	keys := served(t, base)
	if len(keys) != 1 || keys[p.KID()] == nil {
		t.Fatalf("JWKS kids %v, want %s", slices.Collect(maps.Keys(keys)), p.KID())
	}
	nbf := time.Now().Add(-time.Minute).Truncate(time.Second)
	token, err := p.Mint(Claims{Subject: "alice", OrgIDs: []string{"acme"}, TTL: 10 * time.Minute, NotBefore: nbf})
	if err != nil {
		t.Fatal(err)
	}
	h, c := parse(t, token, keys)
	if h["kid"] != p.KID() || h["alg"] != "RS256" {
		t.Errorf("header %v", h)
	}
	exp, _ := c.GetExpirationTime()
	iat, _ := c.GetIssuedAt()
	gotNbf, _ := c.GetNotBefore()
	if c["iss"] != Issuer(base) || c["aud"] != Audience || c["sub"] != "alice" ||
		!slices.Equal(c["org_ids"].([]any), []any{"acme"}) || exp.Sub(iat.Time) != 10*time.Minute || !gotNbf.Equal(nbf) {
		t.Errorf("claims %v", c)
	}

	// Defaults and overrides: no sub, an empty org_ids, our iss and aud,
	// exp given.
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	token, err = p.Mint(Claims{Issuer: "https://other.example", Audience: "x", ExpiresAt: at, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, c = unverified(t, token)
	exp, _ = c.GetExpirationTime()
	if _, ok := c["sub"]; ok || c["iss"] != "https://other.example" || c["aud"] != "x" || !exp.Equal(at) ||
		len(c["org_ids"].([]any)) != 0 || c["nbf"] != nil {
		t.Errorf("claims %v", c)
	}
	token, _ = p.Mint(Claims{})
	_, c = unverified(t, token)
	exp, _ = c.GetExpirationTime()
	iat, _ = c.GetIssuedAt()
	if exp.Sub(iat.Time) != DefaultTTL {
		t.Errorf("lifetime %v, want %v", exp.Sub(iat.Time), DefaultTTL)
	}
}

// unverified is token's header and claims, unchecked.
func unverified(t *testing.T, token string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	var c jwt.MapClaims
	tok, _, err := jwt.NewParser().ParseUnverified(token, &c)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header, c
}

// TestAttacks: the forged tokens are what they say, and none verifies
// with the served keys.
func TestAttacks(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	base := start(t, p)
	keys := served(t, base)
	c := Claims{Subject: "mallory", OrgIDs: []string{"acme"}}
	for _, tc := range []struct {
		name, alg string
		ownKID    bool
		mint      func(Claims) (string, error)
	}{
		{"unsigned", "none", true, p.MintUnsigned},
		{"HS256 with the public key", "HS256", true, p.MintHS256WithPublicKey},
		{"unknown key", "RS256", false, p.MintWithUnknownKey},
		{"foreign key", "RS256", true, p.MintWithForeignKey},
	} {
		token, err := tc.mint(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		h, claims := unverified(t, token)
		if h["alg"] != tc.alg || (h["kid"] == p.KID()) != tc.ownKID || claims["sub"] != "mallory" {
			t.Errorf("%s: header %v, claims %v", tc.name, h, claims)
		}
		if _, err := jwt.Parse(token, func(tok *jwt.Token) (any, error) {
			if k := keys[tok.Header["kid"].(string)]; k != nil {
				return k, nil
			}
			return nil, errors.New("kid not served")
		}, jwt.WithValidMethods([]string{"RS256"})); err == nil {
			t.Errorf("%s verifies", tc.name)
		}
	}
	// The HS256 token is keyed with the PEM of the served key: the
	// confusion a verifier trusting alg would fall for.
	token, _ := p.MintHS256WithPublicKey(c)
	if _, err := jwt.Parse(token, func(*jwt.Token) (any, error) {
		return publicPEM(t, keys[p.KID()]), nil
	}, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Errorf("HS256 token is not keyed with the public key's PEM: %v", err)
	}
}

// TestRotate: the new key signs and both are served.
func TestRotate(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	base := start(t, p)
	old := p.KID()
	oldToken, _ := p.Mint(Claims{Subject: "alice"})
	if err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	if p.KID() == old {
		t.Fatal("kid unchanged")
	}
	keys := served(t, base)
	if len(keys) != 2 || keys[old] == nil || keys[p.KID()] == nil {
		t.Fatalf("JWKS kids %v", slices.Collect(maps.Keys(keys)))
	}
	token, _ := p.Mint(Claims{Subject: "alice"})
	if h, _ := parse(t, token, keys); h["kid"] != p.KID() {
		t.Errorf("signed under %v", h["kid"])
	}
	parse(t, oldToken, keys)
}

// TestSaveLoad: Load gives the keys Save wrote, in a file of mode 0600;
// a bad file is named in the error.
func TestSaveLoad(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "idp")
	if err := p.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	q, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.JWKS()
	b, _ := q.JWKS()
	if string(a) != string(b) || q.KID() != p.KID() {
		t.Errorf("loaded JWKS %s, want %s", b, a)
	}
	// Saving again replaces the file (one key more).
	if err := q.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := q.Save(dir); err != nil {
		t.Fatal(err)
	}
	if r, err := Load(dir); err != nil || r.KID() != q.KID() {
		t.Errorf("after a second Save: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the folder, want 1", len(entries))
	}

	for name, content := range map[string]string{
		"empty":      "",
		"not PEM":    "hello",
		"public key": string(publicPEM(t, &p.keys[0].priv.PublicKey)),
		"bad DER":    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, KeyFile)) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	missing := t.TempDir()
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, KeyFile)) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no file: error %v", err)
	}
}

// TestHandler: the OpenID configuration names the issuer and JWKS the
// client came to; other methods and paths are refused; stop stops.
func TestHandler(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := p.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get(base + ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	err = json.NewDecoder(resp.Body).Decode(&conf)
	resp.Body.Close()
	if err != nil || conf["issuer"] != Issuer(base) || conf["jwks_uri"] != JWKSURL(base) {
		t.Errorf("configuration %v (%v)", conf, err)
	}
	for _, r := range []struct{ method, path string }{{"POST", JWKSPath}, {"GET", "/token"}} {
		req, _ := http.NewRequest(r.method, base+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s %s: %s", r.method, r.path, resp.Status)
		}
	}
	stop()
	stop()
	if _, err := http.Get(JWKSURL(base)); err == nil {
		t.Error("JWKS served after stop")
	}
	if Issuer(base+"/") != base || JWKSURL(base+"/") != base+JWKSPath {
		t.Errorf("Issuer %s, JWKSURL %s", Issuer(base+"/"), JWKSURL(base+"/"))
	}
}

// TestMintNeedsIssuer: an IdP never started has no issuer of its own.
func TestMintNeedsIssuer(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Mint(Claims{Subject: "a"}); err == nil {
		t.Error("minted without an issuer")
	}
	if _, err := p.Mint(Claims{Subject: "a", Issuer: "http://127.0.0.1:1"}); err != nil {
		t.Error(err)
	}
}

func publicPEM(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
