// Package localidp is an identity provider for the local stack, the demo
// and tests of the self-service HTTP API: it holds RSA-2048 signing keys
// under kids, serves their JWKS on 127.0.0.1 as the platform's IdP does,
// and mints the bearer tokens the API takes (RS256, with iss, aud, sub,
// org_ids, iat, exp and nbf), and the forged ones it must refuse: alg
// none, HS256 keyed with the public key, a key not in the JWKS, a key
// not in the JWKS under a kid that is.
//
// It has no login, no OAuth flow: whoever can call Mint gets a token.
// That is its point: local runs and tests choose the subject and the
// orgs a token administers.
//
// Tests and local runs only (see internal/localdev). It imports jwt/v5
// but nothing of the module, so that internal/apiauth's tests can use it
// without a cycle.
package localidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The IdP's paths, under its base URL.
const (
	JWKSPath   = "/.well-known/jwks.json"
	ConfigPath = "/.well-known/openid-configuration"
)

// Audience is the audience of local tokens and of the local API.
const Audience = "auditlogs-api"

// KeyFile is the name of the keys' file in Save's and Load's folder.
const KeyFile = "localidp-keys.pem"

// DefaultTTL is a minted token's lifetime when Claims give none.
const DefaultTTL = time.Hour

// keyBits is the size of the signing keys.
const keyBits = 2048

// key is a signing key and its kid.
type key struct {
	kid  string
	priv *rsa.PrivateKey
}

// IdP is a local identity provider; it is safe for concurrent use.
type IdP struct {
	mu   sync.RWMutex
	keys []key  // all in the JWKS; the last one signs
	base string // the base URL of the last Start, the default issuer
}

// New is an IdP with a fresh key.
func New() (*IdP, error) {
	k, err := newKey("local-")
	if err != nil {
		return nil, err
	}
	return &IdP{keys: []key{k}}, nil
}

// newKey is a fresh RSA key; its kid is prefix and its fingerprint.
func newKey(prefix string) (key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return key{}, fmt.Errorf("local IdP: generate key: %w", err)
	}
	return keyOf(prefix, priv)
}

// keyOf names priv by the first 16 hex digits of its public key's
// SHA-256, so that the file need not store the kid.
func keyOf(prefix string, priv *rsa.PrivateKey) (key, error) {
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return key{}, fmt.Errorf("local IdP: public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return key{kid: prefix + hex.EncodeToString(sum[:8]), priv: priv}, nil
}

// Load reads the keys that Save wrote to dir.
func Load(dir string) (*IdP, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("local IdP keys: %w", err)
	}
	p := &IdP{}
	for rest := data; len(bytes.TrimSpace(rest)) > 0; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("local IdP keys %s: not PEM after key %d", path, len(p.keys))
		}
		if b.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("local IdP keys %s: key %d is a %q PEM block, want \"PRIVATE KEY\"", path, len(p.keys)+1, b.Type)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("local IdP keys %s: key %d: %w", path, len(p.keys)+1, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok || priv.N.BitLen() < keyBits {
			return nil, fmt.Errorf("local IdP keys %s: key %d is not an RSA key of %d bits or more", path, len(p.keys)+1, keyBits)
		}
		k, err := keyOf("local-", priv)
		if err != nil {
			return nil, fmt.Errorf("local IdP keys %s: %w", path, err)
		}
		p.keys = append(p.keys, k)
	}
	if len(p.keys) == 0 {
		return nil, fmt.Errorf("local IdP keys %s: no key", path)
	}
	return p, nil
}

// Save writes the IdP's keys to dir (created if need be), readable by
// its owner only, the signing key last; a file already there is
// replaced whole.
func (p *IdP) Save(dir string) error {
	p.mu.RLock()
	var buf bytes.Buffer
	for _, k := range p.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			p.mu.RUnlock()
			return fmt.Errorf("local IdP: key %s: %w", k.kid, err)
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}) // a bytes.Buffer does not fail
	}
	p.mu.RUnlock()
	path := filepath.Join(dir, KeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("local IdP keys %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, KeyFile+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("local IdP keys %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing to remove
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("local IdP keys %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local IdP keys %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("local IdP keys %s: %w", path, err)
	}
	return nil
}

// KID is the kid of the key that signs.
func (p *IdP) KID() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.keys[len(p.keys)-1].kid
}

// signer is the key that signs.
func (p *IdP) signer() key {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.keys[len(p.keys)-1]
}

// Rotate makes a fresh key the signing key; the others stay in the
// JWKS, so that the tokens they signed still verify.
func (p *IdP) Rotate() error {
	k, err := newKey("local-")
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, k)
	return nil
}

// jwk is an RSA public key as the JWKS lists it.
type jwk struct {
	KTY string `json:"kty"`
	KID string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is the IdP's key set, as its JWKSPath serves it.
func (p *IdP) JWKS() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, k := range p.keys {
		pub := k.priv.PublicKey
		set.Keys = append(set.Keys, jwk{KTY: "RSA", KID: k.kid, Use: "sig", Alg: "RS256",
			N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())})
	}
	return json.Marshal(set)
}

// Handler serves the JWKS at JWKSPath, and at ConfigPath a minimal
// OpenID configuration whose issuer is the URL the request came to.
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := p.JWKS()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store") // a rotation shows at once
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET "+ConfigPath, func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                base,
			"jwks_uri":                              JWKSURL(base),
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	return mux
}

// Start serves Handler on 127.0.0.1 at a free port until stop is called
// or ctx ends, and returns its base URL, which is from now on the
// issuer of tokens whose Claims name none.
func (p *IdP) Start(ctx context.Context) (baseURL string, stop func(), err error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("local IdP: listen: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l) // ErrServerClosed after stop
	}()
	base := "http://" + l.Addr().String()
	p.mu.Lock()
	p.base = base
	p.mu.Unlock()
	stop = sync.OnceFunc(func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	})
	context.AfterFunc(ctx, stop)
	return base, stop, nil
}

// Issuer is the issuer of an IdP served at base: base itself.
func Issuer(base string) string { return strings.TrimRight(base, "/") }

// JWKSURL is the JWKS's URL of an IdP served at base.
func JWKSURL(base string) string { return Issuer(base) + JWKSPath }

// Claims are what a minted token says.
type Claims struct {
	// Subject is sub; empty leaves it out.
	Subject string
	// OrgIDs are org_ids, an array even when nil.
	OrgIDs []string
	// Issuer is iss; empty is the base URL of the last Start.
	Issuer string
	// Audience is aud; empty is Audience.
	Audience string
	// TTL is the time from now to exp; zero is DefaultTTL, negative an
	// expired token.
	TTL time.Duration
	// NotBefore is nbf; zero leaves it out.
	NotBefore time.Time
	// ExpiresAt is exp, if set, instead of now and TTL.
	ExpiresAt time.Time
}

// claims are c as the token's claims.
func (p *IdP) claims(c Claims) (jwt.MapClaims, error) {
	iss := c.Issuer
	if iss == "" {
		p.mu.RLock()
		iss = p.base
		p.mu.RUnlock()
	}
	if iss == "" {
		return nil, errors.New("local IdP: the claims name no issuer, and the IdP is not started")
	}
	aud := c.Audience
	if aud == "" {
		aud = Audience
	}
	now := time.Now()
	exp := c.ExpiresAt
	if exp.IsZero() {
		ttl := c.TTL
		if ttl == 0 {
			ttl = DefaultTTL
		}
		exp = now.Add(ttl)
	}
	orgs := c.OrgIDs
	if orgs == nil {
		orgs = []string{}
	}
	m := jwt.MapClaims{"iss": iss, "aud": aud, "org_ids": orgs, "iat": now.Unix(), "exp": exp.Unix()}
	if c.Subject != "" {
		m["sub"] = c.Subject
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	return m, nil
}

// mint signs c's claims with method and signingKey under kid.
func (p *IdP) mint(c Claims, method jwt.SigningMethod, kid string, signingKey any) (string, error) {
	m, err := p.claims(c)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(method, m)
	t.Header["kid"] = kid
	s, err := t.SignedString(signingKey)
	if err != nil {
		return "", fmt.Errorf("local IdP: sign %s: %w", method.Alg(), err)
	}
	return s, nil
}

// Mint is a valid token: RS256, signed by the signing key under its kid.
func (p *IdP) Mint(c Claims) (string, error) {
	k := p.signer()
	return p.mint(c, jwt.SigningMethodRS256, k.kid, k.priv)
}

// MintUnsigned is a token of alg none under the signing key's kid.
func (p *IdP) MintUnsigned(c Claims) (string, error) {
	return p.mint(c, jwt.SigningMethodNone, p.KID(), jwt.UnsafeAllowNoneSignatureType)
}

// MintHS256WithPublicKey is the algorithm confusion attack: HS256 keyed
// with the signing key's public half as PEM ("PUBLIC KEY"), which a
// verifier that takes the token's alg at its word would check with the
// same bytes.
func (p *IdP) MintHS256WithPublicKey(c Claims) (string, error) {
	k := p.signer()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		return "", fmt.Errorf("local IdP: public key: %w", err)
	}
	return p.mint(c, jwt.SigningMethodHS256, k.kid, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// MintWithUnknownKey is RS256 by a fresh key under its own kid, which
// is not in the JWKS.
func (p *IdP) MintWithUnknownKey(c Claims) (string, error) {
	k, err := newKey("unknown-")
	if err != nil {
		return "", err
	}
	return p.mint(c, jwt.SigningMethodRS256, k.kid, k.priv)
}

// MintWithForeignKey is RS256 by a fresh key under the signing key's
// kid: the signature does not hold for the key the kid names.
func (p *IdP) MintWithForeignKey(c Claims) (string, error) {
	k, err := newKey("foreign-")
	if err != nil {
		return "", err
	}
	return p.mint(c, jwt.SigningMethodRS256, p.KID(), k.priv)
}
