package destination

import (
	"github.com/contentful/auditlogs/internal/redact"
)

// Residency is the data residency whose KMS key a SAS cipher was encrypted
// to. Each residency has its own key pair, so a cipher made with the US
// public key can only be decrypted with the US private key.
type Residency string

const (
	ResidencyUS Residency = "us"
	ResidencyEU Residency = "eu"
)

// Residencies lists every valid residency.
var Residencies = []Residency{ResidencyUS, ResidencyEU}

// ParseResidency accepts exactly "us" or "eu". A refusal wraps
// failure.ErrInvalidConfig.
func ParseResidency(s string) (Residency, error) {
	switch r := Residency(s); r {
	case ResidencyUS, ResidencyEU:
		return r, nil
	}
	return "", invalidf("invalid residency %s: must be %q or %q", redact.QuoteShort(s), ResidencyUS, ResidencyEU)
}

// ValidateResidency accepts "us" and "eu".
func ValidateResidency(r string) error {
	_, err := ParseResidency(r)
	return err
}
