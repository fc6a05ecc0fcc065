package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/signing"
)

// KeySet is GET /v1/keys: the public key each residency's SAS URLs are
// encrypted to, and the key delivery manifests are signed with.
type KeySet struct {
	EncryptionKeys []EncryptionKey `json:"encryption_keys"`
	SigningKey     *SigningKey     `json:"signing_key,omitempty"`
}

// EncryptionKey is one residency's public key.
type EncryptionKey struct {
	Residency           sas.Residency `json:"residency"`
	KeyID               string        `json:"key_id"`
	KeySpec             string        `json:"key_spec"`
	EncryptionAlgorithm string        `json:"encryption_algorithm"`
	// SHA256 is the hex SHA-256 of the key's DER (SubjectPublicKeyInfo):
	// `openssl pkey -pubin -outform DER | sha256sum` of the PEM.
	SHA256 string `json:"sha256"`
	PEM    string `json:"pem"`
}

// SigningKey is the public half of the manifests' signing key.
type SigningKey struct {
	KeyID            string `json:"key_id"`
	KeySpec          string `json:"key_spec"`
	SigningAlgorithm string `json:"signing_algorithm"`
	SHA256           string `json:"sha256"`
	PEM              string `json:"pem"`
}

// KeysTTL is how long KMSKeys keeps the keys: they change only when an
// operator rotates them, and the route needs no authentication, so it
// must not reach KMS on every request.
const KeysTTL = 5 * time.Minute

// PublicKeys fetches one residency's public key (sas.PublicKeys).
type PublicKeys interface {
	Get(ctx context.Context, r sas.Residency) (*sas.PublicKey, error)
}

// SigningKeys fetches the signing key's public half (signing.Signer).
type SigningKeys interface {
	PublicKey(ctx context.Context) (signing.PublicKey, error)
}

// KMSKeys is Keys from KMS, cached for KeysTTL.
type KMSKeys struct {
	Encryption  PublicKeys
	Residencies []sas.Residency // those with a key configured
	Signing     SigningKeys     // nil: no signing key
	Now         func() time.Time

	mu      sync.Mutex
	cached  KeySet
	fetched time.Time
}

// KeySet returns the keys, fetched at most once a KeysTTL.
func (k *KMSKeys) KeySet(ctx context.Context) (KeySet, error) {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.fetched.IsZero() && now().Sub(k.fetched) < KeysTTL {
		return k.cached, nil
	}
	ks := KeySet{EncryptionKeys: []EncryptionKey{}}
	for _, r := range k.Residencies {
		pk, err := k.Encryption.Get(ctx, r)
		if err != nil {
			return KeySet{}, err
		}
		ks.EncryptionKeys = append(ks.EncryptionKeys, EncryptionKey{Residency: r, KeyID: pk.KeyID, KeySpec: string(pk.KeySpec),
			EncryptionAlgorithm: string(sas.Algorithm), SHA256: pk.Fingerprint(), PEM: pk.PEM()})
	}
	if k.Signing != nil {
		pk, err := k.Signing.PublicKey(ctx)
		if err != nil {
			return KeySet{}, err
		}
		ks.SigningKey = &SigningKey{KeyID: pk.KeyID, KeySpec: pk.KeySpec, SigningAlgorithm: string(signing.Algorithm), SHA256: pk.Fingerprint, PEM: pk.PEM}
	}
	k.cached, k.fetched = ks, now()
	return ks, nil
}

func (s *Server) getKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.Keys.KeySet(r.Context())
	if err != nil {
		s.log().Error("api: public keys unavailable", "request_id", requestID(r.Context()), "error", err)
		unavailable("keys_unavailable", "the public keys cannot be read just now; retry shortly").write(w, r)
		return
	}
	// Public, and they change rarely: caches may keep them as we do.
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, ks)
}
