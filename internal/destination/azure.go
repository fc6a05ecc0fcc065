package destination

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

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
