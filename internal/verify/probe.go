package verify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// ProbePrefix starts the name of every probe object (after the
// destination's prefix). A day's file is named by
// destination.ObjectName, which always starts with
// "contentful-audit-unstable-beta-" and ends in ".csv"; a probe's name
// starts with ProbePrefix and ends in ".txt". Both are written under the
// same destination prefix, so a probe's key and a day file's key could only
// be equal if the names after the prefix were, and two names that differ
// in their first letter ('a' against 'c') never are: whatever the org or
// the day, a probe cannot overwrite a delivered file, nor a delivery a
// probe. TestProbeNeverCollidesWithDayFiles holds ObjectName to that.
const ProbePrefix = "auditlogs-verify-"

// probeTimeLayout is the probe's UTC time in its name: sortable, and free
// of ':' (awkward in file names on the customer's side).
const probeTimeLayout = "20060102T150405Z"

// ProbeName is the name of the object a check writes for org at time at:
// auditlogs-verify-<org>-<YYYYMMDDTHHMMSSZ>-<random>.txt. The random part
// (8 hex digits) keeps two checks in the same second apart, so each check
// writes an object of its own.
func ProbeName(org string, at time.Time, random string) string {
	return ProbePrefix + org + "-" + at.UTC().Format(probeTimeLayout) + "-" + random + ".txt"
}

// randomSuffix returns 8 random hex digits.
func randomSuffix() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random probe name: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ProbeContent is what a probe object holds: plain text that tells whoever
// finds it what it is and that it may go.
func ProbeContent(org string, at time.Time) string {
	return "This object was written by Contentful's audit log delivery service\n" +
		"(auditctl verify) to check that it can write audit logs here.\n" +
		"organization: " + org + "\n" +
		"written at:   " + at.UTC().Format(time.RFC3339) + "\n" +
		"It holds no audit data. This object can be deleted.\n"
}
