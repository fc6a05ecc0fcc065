package apiauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

const (
	issuer   = "https://idp.test.example"
	audience = "auditlogs-api"
	subject  = "user-alice-8f3a"
)

// jwk is one key the test JWKS serves; its JSON is written out here, not
// by the library that reads it.
type jwk struct {
	kid, alg, use string
	key           any // *rsa.PublicKey or *ecdsa.PublicKey
}

func (k jwk) MarshalJSON() ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": k.kid}
	if k.alg != "" {
		m["alg"] = k.alg
	}
	if k.use != "" {
		m["use"] = k.use
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		e, err := pub.ECDH()
		if err != nil {
			return nil, err
		}
		xy := e.Bytes()[1:] // uncompressed point: 0x04 || X || Y
		m["kty"], m["crv"] = "EC", pub.Curve.Params().Name
		m["x"], m["y"] = b64(xy[:len(xy)/2]), b64(xy[len(xy)/2:])
	}
	return json.Marshal(m)
}

// jwksServer is the IdP's JWKS endpoint on 127.0.0.1: its keys can
// change, it can fail, and it counts its requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []jwk
	down     bool
	requests atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...jwk) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(map[string][]jwk{"keys": s.keys}); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(down bool, keys ...jwk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.keys = down, keys
}

func (s *jwksServer) url() string { return s.URL + "/.well-known/jwks.json" }

func newVerifier(t *testing.T, jwksURL string, log *slog.Logger) *Verifier {
	t.Helper()
	v, err := New(t.Context(), Config{Issuer: issuer, Audience: audience, JWKSURL: jwksURL, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// claims are a valid token's claims; edit them with a func.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": subject, "org_ids": []string{"acme", "beta"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// sign signs claims with key under alg and kid ("" for no kid), headers
// added to the header.
func sign(t *testing.T, alg, kid string, key any, claims jwt.MapClaims, headers map[string]any) string {
	t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %s", alg)
	}
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range headers {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publicPEM(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// noToken fails if err's text or the log quotes the token, a part of it
// or a value of its claims.
func noToken(t *testing.T, where, text, token string) {
	t.Helper()
	parts := []string{token, subject}
	for _, p := range strings.Split(token, ".") {
		if len(p) >= 8 {
			parts = append(parts, p, p[:8], p[len(p)-8:])
		}
	}
	for _, p := range parts {
		if strings.Contains(text, p) {
			t.Errorf("%s quotes the token: %q", where, text)
			return
		}
	}
}

func TestVerify(t *testing.T) {
	rs := rsaKey(t)
	rsNoAlg := rsaKey(t)
	es := ecKey(t, elliptic.P256())
	es384 := ecKey(t, elliptic.P384())
	enc := rsaKey(t)
	foreign := rsaKey(t)
	jwks := newJWKSServer(t,
		jwk{kid: "rs", alg: "RS256", use: "sig", key: &rs.PublicKey},
		jwk{kid: "rs-any", key: &rsNoAlg.PublicKey},
		jwk{kid: "es", alg: "ES256", use: "sig", key: &es.PublicKey},
		jwk{kid: "es384", key: &es384.PublicKey},
		jwk{kid: "enc", use: "enc", key: &enc.PublicKey},
	)
	v := newVerifier(t, jwks.url(), nil)

	with := func(edit func(jwt.MapClaims)) jwt.MapClaims { c := validClaims(); edit(c); return c }
	valid := sign(t, "RS256", "rs", rs, validClaims(), nil)
	seg := strings.Split(valid, ".")
	hs256 := sign(t, "HS256", "rs", publicPEM(t, &rs.PublicKey), validClaims(), nil)
	none := sign(t, "none", "rs", jwt.UnsafeAllowNoneSignatureType, validClaims(), nil)
	// The signature's middle character flipped; its payload's claims
	// changed under the old signature.
	sig := []byte(seg[2])
	if sig[len(sig)/2] == 'A' {
		sig[len(sig)/2] = 'B'
	} else {
		sig[len(sig)/2] = 'A'
	}
	badSig := seg[0] + "." + seg[1] + "." + string(sig)
	payload, _ := json.Marshal(with(func(c jwt.MapClaims) { c["org_ids"] = []string{"acme", "beta", "victim"} }))
	tampered := seg[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + seg[2]

	unauth := ErrUnauthenticated
	tests := []struct {
		name  string
		auth  string // the Authorization header
		err   error  // nil: valid
		msg   string // in the error
		orgs  []string
		class error // jwt's error class wrapped, if any
	}{
		{name: "RS256", auth: "Bearer " + valid, orgs: []string{"acme", "beta"}},
		{name: "scheme in lower case", auth: "bearer " + valid, orgs: []string{"acme", "beta"}},
		{name: "scheme in upper case, spaces", auth: "  BEARER   " + valid + " ", orgs: []string{"acme", "beta"}},
		{name: "ES256", auth: "Bearer " + sign(t, "ES256", "es", es, validClaims(), nil), orgs: []string{"acme", "beta"}},
		{name: "ES384", auth: "Bearer " + sign(t, "ES384", "es384", es384, validClaims(), nil), orgs: []string{"acme", "beta"}},
		{name: "PS256 with a key without alg", auth: "Bearer " + sign(t, "PS256", "rs-any", rsNoAlg, validClaims(), nil), orgs: []string{"acme", "beta"}},
		{name: "RS512 with a key without alg", auth: "Bearer " + sign(t, "RS512", "rs-any", rsNoAlg, validClaims(), nil), orgs: []string{"acme", "beta"}},
		{name: "aud an array naming us", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["aud"] = []string{"other", audience} }), nil), orgs: []string{"acme", "beta"}},
		{name: "no org administered", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = []string{} }), nil), orgs: []string{}},
		{name: "expired within the leeway", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), nil), orgs: []string{"acme", "beta"}},
		{name: "no iat nor nbf", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "iat"); delete(c, "nbf") }), nil), orgs: []string{"acme", "beta"}},

		{name: "no header", auth: "", err: unauth, msg: "no Authorization header"},
		{name: "Basic", auth: "Basic dXNlcjpwYXNz", err: unauth, msg: "scheme is not Bearer"},
		{name: "token without scheme", auth: valid, err: unauth, msg: "scheme is not Bearer"},
		{name: "no token", auth: "Bearer ", err: unauth, msg: "no bearer token"},
		{name: "two segments", auth: "Bearer " + seg[0] + "." + seg[1], err: unauth, msg: "malformed", class: jwt.ErrTokenMalformed},
		{name: "not base64", auth: "Bearer a*b.c*d.e*f", err: unauth, msg: "malformed", class: jwt.ErrTokenMalformed},
		{name: "header not JSON", auth: "Bearer " + base64.RawURLEncoding.EncodeToString([]byte("{kid")) + "." + seg[1] + "." + seg[2], err: unauth, msg: "malformed"},
		{name: "too long", auth: "Bearer " + strings.Repeat("a", maxTokenBytes+1), err: unauth, msg: "longer than"},
		{name: "bad signature", auth: "Bearer " + badSig, err: unauth, msg: "signature is invalid", class: jwt.ErrTokenSignatureInvalid},
		{name: "claims changed after signing", auth: "Bearer " + tampered, err: unauth, msg: "signature is invalid"},
		{name: "signed by a foreign key under a known kid", auth: "Bearer " + sign(t, "RS256", "rs", foreign, validClaims(), nil), err: unauth, msg: "signature is invalid"},
		{name: "unknown kid", auth: "Bearer " + sign(t, "RS256", "nobody", foreign, validClaims(), nil), err: unauth, msg: "kid is not a signing key"},
		{name: "no kid", auth: "Bearer " + sign(t, "RS256", "", rs, validClaims(), nil), err: unauth, msg: "no kid"},
		{name: "alg none", auth: "Bearer " + none, err: unauth, msg: "alg is not one of RS256"},
		{name: "HS256 keyed with the public key", auth: "Bearer " + hs256, err: unauth, msg: "alg is not one of RS256"},
		{name: "unknown alg", auth: "Bearer " + headerAlg(t, valid, "XX999"), err: unauth, msg: "alg is missing or unknown"},
		{name: "RS256 under an ES256 key", auth: "Bearer " + sign(t, "RS256", "es", rs, validClaims(), nil), err: unauth, msg: "not its key's alg"},
		{name: "PS256 under an RS256 key", auth: "Bearer " + sign(t, "PS256", "rs", rs, validClaims(), nil), err: unauth, msg: "not its key's alg"},
		{name: "ES256 under an RSA key without alg", auth: "Bearer " + sign(t, "ES256", "rs-any", es, validClaims(), nil), err: unauth, msg: "does not fit its key's type"},
		{name: "ES256 under a P-384 key without alg", auth: "Bearer " + sign(t, "ES256", "es384", es, validClaims(), nil), err: unauth, msg: "does not fit its key's type"},
		{name: "key for encryption", auth: "Bearer " + sign(t, "RS256", "enc", enc, validClaims(), nil), err: unauth, msg: "not for signatures"},
		{name: "crit header", auth: "Bearer " + sign(t, "RS256", "rs", rs, validClaims(), map[string]any{"crit": []string{"exp"}, "exp": 1}), err: unauth, msg: "crit"},
		{name: "other issuer", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["iss"] = issuer + "/" }), nil), err: unauth, msg: `issuer is not "` + issuer + `"`, class: jwt.ErrTokenInvalidIssuer},
		{name: "no issuer", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "iss") }), nil), err: unauth, msg: "no iss claim"},
		{name: "other audience", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["aud"] = []string{"billing", "auditlogs"} }), nil), err: unauth, msg: `audience is not "auditlogs-api"`, class: jwt.ErrTokenInvalidAudience},
		{name: "no audience", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "aud") }), nil), err: unauth, msg: "no aud claim"},
		{name: "empty audience", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["aud"] = "" }), nil), err: unauth, msg: "no aud claim"},
		{name: "expired", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), nil), err: unauth, msg: "token expired", class: jwt.ErrTokenExpired},
		{name: "no exp", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil), err: unauth, msg: "no exp claim"},
		{name: "exp not a number", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), nil), err: unauth, msg: "malformed"},
		{name: "not valid yet", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(2 * time.Minute).Unix() }), nil), err: unauth, msg: "not valid yet", class: jwt.ErrTokenNotValidYet},
		{name: "issued in the future", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(2 * time.Minute).Unix() }), nil), err: unauth, msg: "issued in the future"},
		{name: "no sub", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "sub") }), nil), err: unauth, msg: "no sub claim"},
		{name: "empty sub", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["sub"] = "" }), nil), err: unauth, msg: "no sub claim"},
		{name: "no org_ids", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { delete(c, "org_ids") }), nil), err: unauth, msg: "no org_ids claim"},
		{name: "org_ids null", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = nil }), nil), err: unauth, msg: "no org_ids claim"},
		{name: "org_ids a string", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = "acme" }), nil), err: unauth, msg: "org_ids claim is not an array of strings"},
		{name: "org_ids an object", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = map[string]int{"acme": 1} }), nil), err: unauth, msg: "org_ids claim is not an array of strings"},
		{name: "org_ids with a number", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = []any{"acme", 7} }), nil), err: unauth, msg: "org_ids claim is not an array of strings"},
		{name: "org_ids with null", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = []any{"acme", nil} }), nil), err: unauth, msg: "org_ids claim is not an array of strings"},
		{name: "org_ids with an empty string", auth: "Bearer " + sign(t, "RS256", "rs", rs, with(func(c jwt.MapClaims) { c["org_ids"] = []string{"acme", ""} }), nil), err: unauth, msg: "org_ids claim has an empty string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tc.auth)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.Subject != subject || !slices.Equal(p.OrgIDs, tc.orgs) || p.OrgIDs == nil {
					t.Fatalf("principal %+v, want %s %q", p, subject, tc.orgs)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			if !errors.Is(err, tc.err) || errors.Is(err, ErrKeysUnavailable) {
				t.Errorf("error %q is not %v alone", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to say %q", err, tc.msg)
			}
			if tc.class != nil && !errors.Is(err, tc.class) {
				t.Errorf("error %q does not wrap %v", err, tc.class)
			}
			if _, tok, _ := strings.Cut(strings.TrimSpace(tc.auth), " "); len(tok) > 0 {
				noToken(t, "error", err.Error(), strings.TrimSpace(tok))
			}
			noToken(t, "error", err.Error(), valid)
		})
	}
}

// headerAlg is token with its header's alg replaced (the signature no
// longer holds, which does not matter: the alg is refused first).
func headerAlg(t *testing.T, token, alg string) string {
	t.Helper()
	seg := strings.Split(token, ".")
	h, err := base64.RawURLEncoding.DecodeString(seg[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(h, &m); err != nil {
		t.Fatal(err)
	}
	m["alg"] = alg
	h, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(h) + "." + seg[1] + "." + seg[2]
}

// TestLeeway: Config.Leeway bounds the skew, 30 s when zero.
func TestLeeway(t *testing.T) {
	k := rsaKey(t)
	jwks := newJWKSServer(t, jwk{kid: "k", alg: "RS256", key: &k.PublicKey})
	for _, tc := range []struct {
		leeway, expiredFor time.Duration
		ok                 bool
	}{
		{0, 20 * time.Second, true},
		{0, 45 * time.Second, false},
		{2 * time.Minute, 90 * time.Second, true},
		{time.Second, 10 * time.Second, false},
	} {
		v, err := New(t.Context(), Config{Issuer: issuer, Audience: audience, JWKSURL: jwks.url(), Leeway: tc.leeway})
		if err != nil {
			t.Fatal(err)
		}
		c := validClaims()
		c["exp"] = time.Now().Add(-tc.expiredFor).Unix()
		_, err = v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "k", k, c, nil))
		if (err == nil) != tc.ok {
			t.Errorf("leeway %v, expired %v ago: error %v, want ok %v", tc.leeway, tc.expiredFor, err, tc.ok)
		}
		v.Close()
	}
}

// TestRotation: a key added to the JWKS after the verifier fetched it
// is found on its first token, by one more fetch; the old key still
// verifies.
func TestRotation(t *testing.T) {
	old, next := rsaKey(t), rsaKey(t)
	jwks := newJWKSServer(t, jwk{kid: "old", alg: "RS256", key: &old.PublicKey})
	v := newVerifier(t, jwks.url(), nil)
	if _, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "old", old, validClaims(), nil)); err != nil {
		t.Fatal(err)
	}
	jwks.set(false, jwk{kid: "old", alg: "RS256", key: &old.PublicKey}, jwk{kid: "next", alg: "RS256", key: &next.PublicKey})
	before := jwks.requests.Load()
	p, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "next", next, validClaims(), nil))
	if err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if p.Subject != subject {
		t.Errorf("subject %q", p.Subject)
	}
	if n := jwks.requests.Load() - before; n != 1 {
		t.Errorf("%d fetches for the new key, want 1", n)
	}
	if _, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "old", old, validClaims(), nil)); err != nil {
		t.Errorf("token of the old key after the rotation: %v", err)
	}
	if n := jwks.requests.Load() - before; n != 1 {
		t.Errorf("%d fetches in all, want 1", n)
	}
}

// TestUnknownKIDRefreshIsRateLimited: the first unknown kid fetches the
// JWKS again, the next ones within 30 s do not, and are refused at once.
func TestUnknownKIDRefreshIsRateLimited(t *testing.T) {
	k, stranger := rsaKey(t), rsaKey(t)
	jwks := newJWKSServer(t, jwk{kid: "k", alg: "RS256", key: &k.PublicKey})
	v := newVerifier(t, jwks.url(), nil)
	if n := jwks.requests.Load(); n != 1 {
		t.Fatalf("%d fetches by New, want 1", n)
	}
	for i, kid := range []string{"made-up-1", "made-up-2", "made-up-3"} {
		start := time.Now()
		_, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", kid, stranger, validClaims(), nil))
		if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "kid") {
			t.Errorf("kid %s: error %v", kid, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("kid %s refused after %v", kid, d)
		}
		if n, want := jwks.requests.Load(), int64(2); n != want {
			t.Errorf("after %d unknown kids: %d fetches, want %d", i+1, n, want)
		}
	}
}

// TestKeysUnavailable: New survives a JWKS that cannot be fetched, and
// Verify refuses with ErrKeysUnavailable (not ErrUnauthenticated) until
// the JWKS is back; the failures are logged without the token.
func TestKeysUnavailable(t *testing.T) {
	defer func(d time.Duration) { unknownKIDEvery = d }(unknownKIDEvery)
	unknownKIDEvery = 100 * time.Millisecond
	k := rsaKey(t)
	jwks := newJWKSServer(t)
	jwks.set(true, jwk{kid: "k", alg: "RS256", key: &k.PublicKey})
	var logs testenv.SyncBuffer
	v := newVerifier(t, jwks.url(), slog.New(slog.NewTextHandler(&logs, nil)))
	token := sign(t, "RS256", "k", k, validClaims(), nil)
	for range 2 {
		_, err := v.Verify(t.Context(), "Bearer "+token)
		if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("JWKS down: error %v, want ErrKeysUnavailable alone", err)
		}
		noToken(t, "error", err.Error(), token)
	}
	if !strings.Contains(logs.String(), "JWKS refresh failed") {
		t.Errorf("log %q does not say the refresh failed", logs.String())
	}
	noToken(t, "log", logs.String(), token)

	jwks.set(false, jwk{kid: "k", alg: "RS256", key: &k.PublicKey})
	time.Sleep(2 * unknownKIDEvery)
	if _, err := v.Verify(t.Context(), "Bearer "+token); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
}

// TestJWKSServerGone: nothing listening is unavailable too.
func TestJWKSServerGone(t *testing.T) {
	k := rsaKey(t)
	jwks := newJWKSServer(t)
	url := jwks.url()
	jwks.Close()
	v := newVerifier(t, url, slog.New(slog.DiscardHandler))
	if _, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "k", k, validClaims(), nil)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("error %v, want ErrKeysUnavailable", err)
	}
}

// TestJWKSTooLarge: a JWKS body past 1 MiB is not read whole, and is no
// key set.
func TestJWKSTooLarge(t *testing.T) {
	k := rsaKey(t)
	keys := []jwk{{kid: "k", alg: "RS256", key: &k.PublicKey}}
	for range maxJWKSBytes / 200 {
		keys = append(keys, jwk{kid: "filler", alg: "RS256", key: &k.PublicKey})
	}
	jwks := newJWKSServer(t, keys...)
	v := newVerifier(t, jwks.url(), slog.New(slog.DiscardHandler))
	if _, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "k", k, validClaims(), nil)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("error %v, want ErrKeysUnavailable", err)
	}
	jwks.set(false, keys[:100]...)
	v = newVerifier(t, jwks.url(), nil)
	if _, err := v.Verify(t.Context(), "Bearer "+sign(t, "RS256", "k", k, validClaims(), nil)); err != nil {
		t.Fatalf("a JWKS of 100 keys: %v", err)
	}
}

// TestBackgroundRefresh: the JWKS is fetched again without a token
// asking, so that a key the IdP revoked stops verifying.
func TestBackgroundRefresh(t *testing.T) {
	defer func(d time.Duration) { refreshEvery = d }(refreshEvery)
	refreshEvery = 50 * time.Millisecond
	k, other := rsaKey(t), rsaKey(t)
	jwks := newJWKSServer(t, jwk{kid: "k", alg: "RS256", key: &k.PublicKey}, jwk{kid: "other", alg: "RS256", key: &other.PublicKey})
	v := newVerifier(t, jwks.url(), nil)
	token := "Bearer " + sign(t, "RS256", "k", k, validClaims(), nil)
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	jwks.set(false, jwk{kid: "other", alg: "RS256", key: &other.PublicKey})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(t.Context(), token)
		if errors.Is(err, ErrUnauthenticated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still verifies after 5 s (%d fetches): %v", jwks.requests.Load(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	v.Close()
	time.Sleep(3 * refreshEvery) // a fetch under way ends
	n := jwks.requests.Load()
	time.Sleep(5 * refreshEvery)
	if m := jwks.requests.Load(); m != n {
		t.Errorf("%d fetches after Close", m-n)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{Issuer: issuer, Audience: audience, JWKSURL: "https://idp.test.example/.well-known/jwks.json"}
	for _, u := range []string{ok.JWKSURL, "http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks"} {
		c := ok
		c.JWKSURL = u
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for name, edit := range map[string]func(*Config){
		"no issuer":              func(c *Config) { c.Issuer = "" },
		"no audience":            func(c *Config) { c.Audience = "" },
		"no JWKS URL":            func(c *Config) { c.JWKSURL = "" },
		"http elsewhere":         func(c *Config) { c.JWKSURL = "http://idp.test.example/jwks" },
		"http on 10.0.0.1":       func(c *Config) { c.JWKSURL = "http://10.0.0.1/jwks" },
		"http on localhost.evil": func(c *Config) { c.JWKSURL = "http://localhost.evil.example/jwks" },
		"ftp":                    func(c *Config) { c.JWKSURL = "ftp://idp.test.example/jwks" },
		"no host":                func(c *Config) { c.JWKSURL = "https:///jwks" },
		"relative":               func(c *Config) { c.JWKSURL = "/jwks" },
		"credentials":            func(c *Config) { c.JWKSURL = "https://u:p@idp.test.example/jwks" },
		"negative leeway":        func(c *Config) { c.Leeway = -time.Second },
		"leeway of an hour":      func(c *Config) { c.Leeway = time.Hour },
	} {
		c := ok
		edit(&c)
		if _, err := New(t.Context(), c); err == nil {
			t.Errorf("%s: New accepts %+v", name, c)
		}
	}
}

func TestPrincipal(t *testing.T) {
	p := Principal{Subject: "u1", OrgIDs: []string{"acme", "beta"}}
	if p.Actor() != "user:u1" {
		t.Errorf("actor %q", p.Actor())
	}
	for org, want := range map[string]bool{"acme": true, "beta": true, "gamma": false, "": false, "ACME": false} {
		if p.Administers(org) != want {
			t.Errorf("administers %q: %v", org, !want)
		}
	}
	if (Principal{Subject: "u2"}).Administers("") {
		t.Error("no orgs administers the empty org")
	}
}
