package apiauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/apiauth"
	"github.com/contentful/auditlogs/internal/localdev/localidp"
)

// TestLocalIdP: the verifier takes the local IdP's tokens, as the local
// stack does, refuses each forged one, and follows its key rotation.
func TestLocalIdP(t *testing.T) {
	idp, err := localidp.New()
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := idp.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	v, err := apiauth.New(t.Context(), apiauth.Config{
		Issuer: localidp.Issuer(base), Audience: localidp.Audience, JWKSURL: localidp.JWKSURL(base),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	c := localidp.Claims{Subject: "alice", OrgIDs: []string{"acme", "beta"}}
	token, err := idp.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), "Bearer "+token)
	if err != nil {
		t.Fatalf("minted token refused: %v", err)
	}
	if p.Actor() != "user:alice" || !p.Administers("acme") || !p.Administers("beta") || p.Administers("gamma") {
		t.Errorf("principal %+v", p)
	}

	// Rotation: the new kid is fetched on its first token (before the
	// unknown key below takes the next 30 s's refresh); the old key's
	// tokens still verify.
	old := token
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	token, _ = idp.Mint(c)
	if _, err := v.Verify(t.Context(), "Bearer "+token); err != nil {
		t.Errorf("token of the rotated key: %v", err)
	}
	if _, err := v.Verify(t.Context(), "Bearer "+old); err != nil {
		t.Errorf("token of the old key after rotation: %v", err)
	}

	for _, tc := range []struct {
		name string
		mint func(localidp.Claims) (string, error)
		c    localidp.Claims
		msg  string
	}{
		{"alg none", idp.MintUnsigned, c, "alg"},
		{"HS256 keyed with the public key", idp.MintHS256WithPublicKey, c, "alg"},
		{"unknown key", idp.MintWithUnknownKey, c, "kid"},
		{"foreign key under our kid", idp.MintWithForeignKey, c, "signature is invalid"},
		{"expired", idp.Mint, localidp.Claims{Subject: "alice", ExpiresAt: time.Now().Add(-time.Hour)}, "expired"},
		{"negative TTL", idp.Mint, localidp.Claims{Subject: "alice", TTL: -time.Hour}, "expired"},
		{"not yet valid", idp.Mint, localidp.Claims{Subject: "alice", NotBefore: time.Now().Add(time.Hour)}, "not valid yet"},
		{"other audience", idp.Mint, localidp.Claims{Subject: "alice", Audience: "billing"}, "audience"},
		{"other issuer", idp.Mint, localidp.Claims{Subject: "alice", Issuer: base + "/other"}, "issuer"},
		{"no subject", idp.Mint, localidp.Claims{OrgIDs: []string{"acme"}}, "sub"},
	} {
		token, err := tc.mint(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = v.Verify(t.Context(), "Bearer "+token)
		if !errors.Is(err, apiauth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want ErrUnauthenticated saying %q", tc.name, err, tc.msg)
			continue
		}
		for _, part := range append(strings.Split(token, "."), token) {
			if len(part) >= 8 && strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q quotes the token", tc.name, err)
			}
		}
	}

	// An empty org_ids is a valid token administering nothing.
	token, _ = idp.Mint(localidp.Claims{Subject: "bob"})
	if p, err := v.Verify(t.Context(), "Bearer "+token); err != nil || len(p.OrgIDs) != 0 || p.Administers("acme") {
		t.Errorf("token without orgs: %+v, %v", p, err)
	}
}
