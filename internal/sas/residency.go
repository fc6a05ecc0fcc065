package sas

import (
	"github.com/contentful/auditlogs/internal/destination"
)

// Residency is the model's data residency (destination.Residency): the
// KMS key pair a SAS cipher was encrypted to. The names below keep the
// keys' API (Decrypter.KeyIDs, PublicKeys) in this package's terms; the
// values and their validation are destination's.
type Residency = destination.Residency

const (
	US = destination.ResidencyUS
	EU = destination.ResidencyEU
)

// Residencies lists every valid residency (destination.Residencies).
var Residencies = destination.Residencies

// ParseResidency is destination.ParseResidency: exactly "us" or "eu".
func ParseResidency(s string) (Residency, error) { return destination.ParseResidency(s) }
