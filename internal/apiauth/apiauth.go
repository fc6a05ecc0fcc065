// Package apiauth checks the bearer JWTs of the self-service HTTP API
// against the platform identity provider's keys, in the handler: API
// Gateway's JWT authorizer checks them too in AWS, so this is the second
// check there and the only one on the local stack (auditctl api serve).
//
// A token passes if it is signed (RS256, RS384, RS512, PS256, ES256 or
// ES384; never none, never HMAC) by a key of the issuer's JWKS whose kid
// its header names and whose type, curve and alg fit the token's alg; if
// its iss is Config.Issuer exactly, its aud contains Config.Audience, it
// has an exp, a non-empty sub and org_ids, an array of strings; and if
// exp, nbf and iat hold within Config.Leeway. What it yields is a
// Principal: the subject and the orgs it administers.
//
// The token's parsing and signature checks are github.com/golang-jwt/jwt/v5,
// the JWKS's fetching, caching and refreshing
// github.com/MicahParks/keyfunc/v3 over github.com/MicahParks/jwkset:
// both are maintained and widely used, jwt/v5 restricts the algorithms
// per parser (WithValidMethods) and validates the registered claims with
// a leeway, and keyfunc refreshes the key set in the background and, on
// a kid it does not know, at once but rate-limited, which is what a key
// rotation at the IdP needs and what a flood of made-up kids must not
// turn into a flood of requests to the IdP. The key lookup itself is
// ours (Verifier.key), so that a key's use, type and curve are checked
// against the token's alg, not only its alg parameter.
//
// Refusals are errors for the client: they name the claim or header at
// fault, never a value of the token, nor the token.
//
// It imports nothing of the module: it is a leaf below the API handler.
package apiauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ErrUnauthenticated is wrapped by every refusal of a token (HTTP 401).
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrKeysUnavailable is the refusal of a token when the verifier holds
// no key of the issuer at all: the JWKS has not been fetched yet, or
// not successfully (HTTP 503: the client is not at fault). A kid that is
// not in a key set we hold is ErrUnauthenticated.
var ErrKeysUnavailable = errors.New("the identity provider's signing keys are unavailable")

// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
// Config.Leeway is zero: enough for clocks kept by NTP, small next to a
// token's lifetime.
const DefaultLeeway = 30 * time.Second

// maxLeeway bounds Config.Leeway: more would make exp meaningless.
const maxLeeway = 5 * time.Minute

// defaultTimeout is the JWKS requests' timeout, with the default client
// or another.
const defaultTimeout = 10 * time.Second

// unknownKIDWait bounds what a token with an unknown kid waits for, the
// rate limiter's next refresh and the refresh itself: a refresh that the
// limiter puts off further is refused at once, so that a flood of
// made-up kids holds no request.
const unknownKIDWait = 5 * time.Second

// maxTokenBytes is more than any IdP's access token: a longer header is
// refused before it is decoded.
const maxTokenBytes = 16 << 10

// maxJWKSBytes bounds a JWKS response: a key set is a few KiB, and the
// library reads the body whole.
const maxJWKSBytes = 1 << 20

// The refresh intervals; variables for the package's tests.
var (
	// refreshEvery is the JWKS's background refresh.
	refreshEvery = 15 * time.Minute
	// unknownKIDEvery is the least time between two refreshes for a kid
	// that is not in the key set.
	unknownKIDEvery = 30 * time.Second
)

// Algorithms are the signature algorithms a token may use.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384"}

// Config is where the tokens come from and whom they are for.
type Config struct {
	// Issuer is the tokens' iss, compared exactly.
	Issuer string
	// Audience must be one of the tokens' aud.
	Audience string
	// JWKSURL is the issuer's key set: https, or http on 127.0.0.1,
	// [::1] or localhost (the local IdP).
	JWKSURL string
	// HTTPClient fetches the JWKS; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat; zero is
	// DefaultLeeway, and at most 5 minutes.
	Leeway time.Duration
	// Log receives the JWKS's refresh failures (never a token); nil is
	// slog.Default().
	Log *slog.Logger
}

// Principal is who a valid token speaks for.
type Principal struct {
	// Subject is the token's sub.
	Subject string
	// OrgIDs are the orgs the subject administers (org_ids), maybe none.
	OrgIDs []string
}

// Administers tells whether org is one of p's orgs.
func (p Principal) Administers(org string) bool {
	return org != "" && slices.Contains(p.OrgIDs, org)
}

// Actor names p in the service's records: "user:" and the subject.
func (p Principal) Actor() string { return "user:" + p.Subject }

// Verifier checks tokens; it is safe for concurrent use.
type Verifier struct {
	config Config
	store  jwkset.Storage
	parser *jwt.Parser
	cancel context.CancelFunc
}

// New validates c and starts fetching the issuer's JWKS, refreshing it
// every 15 minutes until Close or until ctx ends. A JWKS that cannot be
// fetched now is no error, so that a cold start survives an IdP's blip:
// each Verify then fetches it again (at most every 30 s) and refuses
// with ErrKeysUnavailable until it has keys.
func New(ctx context.Context, c Config) (*Verifier, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	c.HTTPClient = capped(c.HTTPClient)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	log := c.Log
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURL}, keyfunc.Override{
		Client:      c.HTTPClient,
		HTTPTimeout: defaultTimeout,
		// The first fetch failing is logged, not returned (see New).
		NoErrorReturnFirstHTTPReq: new(true),
		RefreshInterval:           refreshEvery,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(unknownKIDEvery), 1),
		RateLimitWaitMax:          unknownKIDWait,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "JWKS refresh failed", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("JWKS %s: %w", c.JWKSURL, err)
	}
	return &Verifier{
		config: c,
		store:  kf.Storage(),
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms),
			jwt.WithIssuer(c.Issuer),
			jwt.WithAudience(c.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(c.Leeway),
			jwt.WithStrictDecoding(),
		),
		cancel: cancel,
	}, nil
}

// validate refuses a Config that cannot verify anything, or would fetch
// keys over plain HTTP from another host.
func (c Config) validate() error {
	if c.Issuer == "" {
		return errors.New("apiauth: no issuer configured")
	}
	if c.Audience == "" {
		return errors.New("apiauth: no audience configured")
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		return fmt.Errorf("apiauth: leeway %v is not between 0 and %v", c.Leeway, maxLeeway)
	}
	if c.JWKSURL == "" {
		return errors.New("apiauth: no JWKS URL configured")
	}
	u, err := url.Parse(c.JWKSURL)
	if err != nil {
		return fmt.Errorf("apiauth: JWKS URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("apiauth: JWKS URL %q has no host", c.JWKSURL)
	}
	if u.User != nil {
		return errors.New("apiauth: JWKS URL carries credentials")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Errorf("apiauth: JWKS URL %q is http on %s: https is required but on 127.0.0.1, [::1] or localhost", c.JWKSURL, u.Hostname())
		}
	default:
		return fmt.Errorf("apiauth: JWKS URL %q is not https", c.JWKSURL)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// capped is a copy of client whose responses fail past maxJWKSBytes.
func capped(client *http.Client) *http.Client {
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = cappedTransport{base}
	return &c
}

type cappedTransport struct{ base http.RoundTripper }

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxJWKSBytes}
	return resp, nil
}

// cappedBody fails once more than left bytes are read.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("JWKS response is larger than %d bytes", maxJWKSBytes)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("JWKS response is larger than %d bytes", maxJWKSBytes)
	}
	return n, err
}

// Close stops the JWKS's background refresh.
func (v *Verifier) Close() { v.cancel() }

// claims are the claims a token is decoded into; org_ids is checked
// after the signature.
type claims struct {
	jwt.RegisteredClaims
	OrgIDs json.RawMessage `json:"org_ids"`
}

// Verify checks the value of an Authorization header, "Bearer " (the
// scheme in any case) and a JWT, and returns whom the token speaks for.
// Its errors wrap ErrUnauthenticated or ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, authorization string) (Principal, error) {
	raw, err := bearer(authorization)
	if err != nil {
		return Principal{}, err
	}
	var c claims
	token, err := v.parser.ParseWithClaims(raw, &c, v.key(ctx))
	if err != nil {
		return Principal{}, v.refusal(token, &c, err)
	}
	if c.Subject == "" {
		return Principal{}, refuse("token has no sub claim", jwt.ErrTokenRequiredClaimMissing)
	}
	orgs, err := orgIDs(c.OrgIDs)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Subject: c.Subject, OrgIDs: orgs}, nil
}

// bearer is the token of an Authorization header.
func bearer(authorization string) (string, error) {
	h := strings.TrimSpace(authorization)
	if h == "" {
		return "", refuse("no Authorization header", nil)
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", refuse("Authorization scheme is not Bearer", nil)
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", refuse("no bearer token", nil)
	case len(token) > maxTokenBytes:
		return "", refuse(fmt.Sprintf("token is longer than %d bytes", maxTokenBytes), jwt.ErrTokenMalformed)
	}
	return token, nil
}

// orgIDs reads org_ids: an array of strings, none empty.
func orgIDs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, refuse("token has no org_ids claim", jwt.ErrTokenRequiredClaimMissing)
	}
	var values []any
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, refuse("org_ids claim is not an array of strings", jwt.ErrInvalidType)
	}
	orgs := make([]string, 0, len(values))
	for _, x := range values {
		s, ok := x.(string)
		if !ok {
			return nil, refuse("org_ids claim is not an array of strings", jwt.ErrInvalidType)
		}
		if s == "" {
			return nil, refuse("org_ids claim has an empty string", jwt.ErrInvalidType)
		}
		orgs = append(orgs, s)
	}
	return orgs, nil
}

// key is the jwt.Keyfunc: the public key of the JWKS entry that the
// token's kid names, if its use, type and alg fit the token's alg.
func (v *Verifier) key(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, refuse("token has critical header parameters (crit), which are not supported", jwt.ErrTokenUnverifiable)
		}
		kid, _ := t.Header[jwkset.HeaderKID].(string)
		if kid == "" {
			return nil, refuse("token header has no kid", jwt.ErrTokenUnverifiable)
		}
		jwk, err := v.store.KeyRead(ctx, kid)
		if err != nil {
			// Not found, even after a refresh, or the refresh was put
			// off by the rate limiter: unknown, unless we know no key.
			if all, rerr := v.store.KeyReadAll(ctx); rerr != nil || len(all) == 0 {
				return nil, fmt.Errorf("%w: the JWKS could not be fetched", ErrKeysUnavailable)
			}
			return nil, refuse("token's kid is not a signing key of the identity provider", jwt.ErrTokenUnverifiable)
		}
		m := jwk.Marshal()
		alg := t.Method.Alg()
		if m.USE != "" && m.USE != jwkset.UseSig {
			return nil, refuse("token's kid names a key that is not for signatures", jwt.ErrTokenUnverifiable)
		}
		if m.ALG != "" && m.ALG.String() != alg {
			return nil, refuse("token's alg is not its key's alg", jwt.ErrTokenUnverifiable)
		}
		key := jwk.Key()
		if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			key = k.Public()
		}
		if !fits(alg, key) {
			return nil, refuse("token's alg does not fit its key's type", jwt.ErrTokenUnverifiable)
		}
		return key, nil
	}
}

// fits tells whether a public key is of the type (and curve) alg needs.
func fits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256() || alg == "ES384" && k.Curve == elliptic.P384()
	}
	return false
}

// refusal is a refused token: Error is msg alone, for the client, and
// it wraps ErrUnauthenticated and the jwt/v5 error class (never jwt's
// own error, whose text may quote decoded parts of the token).
type refusal struct {
	msg   string
	class error
}

func refuse(msg string, class error) error { return &refusal{msg: msg, class: class} }

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Unwrap() []error {
	if r.class == nil {
		return []error{ErrUnauthenticated}
	}
	return []error{ErrUnauthenticated, r.class}
}

// refusal turns ParseWithClaims's error into ours.
func (v *Verifier) refusal(t *jwt.Token, c *claims, err error) error {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, ErrKeysUnavailable):
		return ErrKeysUnavailable
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("token is malformed", jwt.ErrTokenMalformed)
	case t != nil && t.Method == nil:
		return refuse("token's alg is missing or unknown", jwt.ErrTokenUnverifiable)
	case t != nil && !slices.Contains(Algorithms, t.Method.Alg()):
		return refuse("token's alg is not one of "+strings.Join(Algorithms, ", "), jwt.ErrTokenSignatureInvalid)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("token signature is invalid", jwt.ErrTokenSignatureInvalid)
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return refuse("token is unverifiable", jwt.ErrTokenUnverifiable)
	// The signature holds: which claim is wrong.
	case c.ExpiresAt == nil:
		return refuse("token has no exp claim", jwt.ErrTokenRequiredClaimMissing)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("token expired", jwt.ErrTokenExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse("token is not valid yet (nbf)", jwt.ErrTokenNotValidYet)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse("token is issued in the future (iat)", jwt.ErrTokenUsedBeforeIssued)
	case c.Issuer == "":
		return refuse("token has no iss claim", jwt.ErrTokenRequiredClaimMissing)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(fmt.Sprintf("issuer is not %q", v.config.Issuer), jwt.ErrTokenInvalidIssuer)
	case len(c.Audience) == 0 || errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse("token has no aud claim", jwt.ErrTokenRequiredClaimMissing)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(fmt.Sprintf("audience is not %q", v.config.Audience), jwt.ErrTokenInvalidAudience)
	}
	return refuse("token has invalid claims", jwt.ErrTokenInvalidClaims)
}
