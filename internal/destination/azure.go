package destination

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"time"
)

var (
	accountPattern = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	// One letter or digit, then any run of letters or digits, each
	// optionally preceded by a single hyphen: so no leading, trailing or
	// double hyphen.
	containerPattern = regexp.MustCompile(`^[a-z0-9](?:-?[a-z0-9])*$`)
)

// ValidAccountName reports whether s is a storage account name: 3 to 24
// lowercase letters or digits.
func ValidAccountName(s string) bool { return accountPattern.MatchString(s) }

// ValidContainerName reports whether s is a container name: 3 to 63
// lowercase letters, digits or single hyphens, starting and ending with a
// letter or digit.
func ValidContainerName(s string) bool {
	return len(s) >= 3 && len(s) <= 63 && containerPattern.MatchString(s)
}

// SASWarnBefore is how long before a SAS URL expires the operator
// (`auditctl status`) and the daily run (the SASExpiringSoon metric) start
// warning: time enough for the customer to make a new SAS and send us its
// cipher before deliveries fail.
const SASWarnBefore = 30 * 24 * time.Hour

// SASExpiresSoon reports whether d is an Azure destination whose SAS URL
// is known to expire before now+SASWarnBefore, or has expired. An unknown
// expiry (never decrypted) is not reported: nothing is known to warn of.
func (d *Destination) SASExpiresSoon(now time.Time) bool {
	return d.Kind == KindAzure && d.Azure != nil && !d.Azure.SASExpiry.IsZero() &&
		d.Azure.SASExpiry.Before(now.Add(SASWarnBefore))
}

// CipherFingerprint is a short name for the SAS cipher that is safe to
// show: the first 12 hex digits of the SHA-256 of the decoded cipher
// bytes (`base64 -d sas-token.enc.b64 | sha256sum` gives the same), or
// "invalid" if it does not decode. It tells two ciphers apart without
// printing either: the cipher is safe to send in clear text, but it is
// still the SAS URL to whoever may decrypt with our key, so listings and
// terminals have no reason to spread it.
func (a *Azure) CipherFingerprint() string {
	b, err := DecodeCipher(a.SASCipher)
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
