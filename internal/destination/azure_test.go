package destination

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"
)

func TestSASExpiresSoon(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	az := func(exp time.Time) Destination {
		return Destination{OrgID: "o", Kind: KindAzure, Azure: &Azure{Residency: ResidencyUS, SASExpiry: exp}}
	}
	day := 24 * time.Hour
	for _, c := range []struct {
		name string
		d    Destination
		want bool
	}{
		{"29 days", az(now.Add(29 * day)), true},
		{"a second short of 30 days", az(now.Add(SASWarnBefore - time.Second)), true},
		{"exactly 30 days", az(now.Add(SASWarnBefore)), false},
		{"31 days", az(now.Add(31 * day)), false},
		{"expired", az(now.Add(-day)), true},
		{"unknown", az(time.Time{}), false},
		{"s3", Destination{OrgID: "o", Kind: KindS3, S3: &S3{}}, false},
	} {
		if got := c.d.SASExpiresSoon(now); got != c.want {
			t.Errorf("%s: SASExpiresSoon = %t, want %t", c.name, got, c.want)
		}
	}
}

func TestCipherFingerprint(t *testing.T) {
	raw := make([]byte, CipherBytes)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	sum := sha256.Sum256(raw)
	want := hex.EncodeToString(sum[:])[:12]
	// As the customer submits it (wrapped lines) and as the registry keeps
	// it (one line): the same fingerprint, that of the decoded bytes.
	for _, c := range []string{EncodeCipher(raw), base64.StdEncoding.EncodeToString(raw)} {
		if got := (&Azure{SASCipher: c}).CipherFingerprint(); got != want {
			t.Errorf("fingerprint %q, want %q", got, want)
		}
	}
	if got := (&Azure{SASCipher: "not base64!"}).CipherFingerprint(); got != "invalid" {
		t.Errorf("fingerprint of garbage = %q", got)
	}
}
