// Package seal writes, beside a delivered file, its manifest and the
// manifest's detached signature: the proof a customer's compliance team
// shows an auditor that the file is the one delivered and that no day is
// missing (internal/manifest says what a manifest holds and how it is
// checked).
//
// The manifest names the previous one delivered to the org (the chain's
// head, which the caller reads from the ledger and must still find there
// when it records the delivery: ledger.ErrChainMoved otherwise, and the
// caller seals again) and, for a day delivered again, the manifests it
// supersedes. The signature is made by the signing key in KMS
// (internal/signing) over the manifest's exact bytes. The signature is
// uploaded before the manifest: a manifest is visible only with its
// signature beside it, as compaction writes its own manifest last.
//
// Of this module seal imports export (the delivery it seals),
// fileformat, ledger (the chain's links), manifest, signing and sink. It
// may not import the delivery (which calls it), a provider or internal/app.
package seal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/signing"
	"github.com/contentful/auditlogs/internal/sink"
)

// Signer signs manifests (signing.Signer).
type Signer interface {
	Sign(ctx context.Context, msg []byte) ([]byte, error)
	PublicKey(ctx context.Context) (signing.PublicKey, error)
}

// Sealer seals deliveries.
type Sealer struct {
	Signer Signer
	Now    func() time.Time // nil: time.Now
}

// Content types of the manifest and its signature.
const (
	ManifestContentType  = "application/json"
	SignatureContentType = "application/octet-stream"
)

// Seal writes the manifest of d, made after head (the org's last manifest,
// nil for its first) and superseding earlier's manifest (the org-day's
// ledger entry before this delivery; nil or without a manifest for a
// first delivery of the day), and its signature into d's sink. It returns
// the manifest's record for the ledger and the day's earlier manifests,
// oldest first.
func (s *Sealer) Seal(ctx context.Context, d export.Delivery, head *ledger.Link, earlier *ledger.Entry) (ledger.ManifestRecord, []ledger.ManifestRecord, error) {
	res := d.Result
	key, err := s.Signer.PublicKey(ctx)
	if err != nil {
		return ledger.ManifestRecord{}, nil, fmt.Errorf("seal org %s day %s: %w", res.OrgID, res.Day, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	m := &manifest.Manifest{
		ManifestVersion:       manifest.Version,
		SchemaVersion:         fileformat.SchemaVersion,
		OrgID:                 res.OrgID,
		Day:                   res.Day.String(),
		File:                  manifest.File{Key: res.Key, Format: string(res.Format), Bytes: res.Bytes, SHA256: res.SHA256, Rows: res.Rows},
		FirstEventTime:        millis(res.First),
		LastEventTime:         millis(res.Last),
		DeliveredAt:           now().UTC().Truncate(time.Millisecond),
		SigningKeyFingerprint: key.Fingerprint,
		SignatureAlgorithm:    signing.Algorithm,
	}
	if head != nil {
		m.Previous = &manifest.Link{Key: head.Key, SHA256: head.SHA256}
	}
	var history []ledger.ManifestRecord
	if earlier != nil && earlier.Manifest != nil {
		history = append(append(history, earlier.ManifestHistory...), *earlier.Manifest)
		sup := &manifest.Supersedes{Key: earlier.Manifest.Key, SHA256: earlier.Manifest.SHA256}
		for _, h := range history {
			v := manifest.Superseded{SHA256: h.SHA256}
			if h.Previous != nil {
				v.Previous = &manifest.Link{Key: h.Previous.Key, SHA256: h.Previous.SHA256}
			}
			sup.History = append(sup.History, v)
		}
		m.Supersedes = sup
	}
	body, err := manifest.Encode(m)
	if err != nil {
		return ledger.ManifestRecord{}, nil, fmt.Errorf("seal org %s day %s: %w", res.OrgID, res.Day, err)
	}
	sig, err := s.Signer.Sign(ctx, body)
	if err != nil {
		return ledger.ManifestRecord{}, nil, fmt.Errorf("seal org %s day %s: sign the manifest: %w", res.OrgID, res.Day, err)
	}
	name := manifest.Name(d.Name)
	if err := d.Sink.Upload(ctx, manifest.SignatureName(name), bytes.NewReader(sig), sink.Object{ContentType: SignatureContentType}); err != nil {
		return ledger.ManifestRecord{}, nil, fmt.Errorf("seal org %s day %s: upload the signature: %w", res.OrgID, res.Day, err)
	}
	if err := d.Sink.Upload(ctx, name, bytes.NewReader(body), sink.Object{ContentType: ManifestContentType}); err != nil {
		return ledger.ManifestRecord{}, nil, fmt.Errorf("seal org %s day %s: upload the manifest: %w", res.OrgID, res.Day, err)
	}
	sum := sha256.Sum256(body)
	rec := ledger.ManifestRecord{Link: ledger.Link{Key: manifest.Name(res.Key), SHA256: hex.EncodeToString(sum[:])}, Previous: head}
	return rec, history, nil
}

// millis is t in UTC to the millisecond, nil when zero (an empty day).
func millis(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}
