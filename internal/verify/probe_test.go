package verify

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
)

// TestProbeNeverCollidesWithDayFiles holds the argument of ProbePrefix:
// for any org and day, a day file's name starts with a different letter
// than a probe's, so under the same destination prefix their keys differ.
// It fails if ObjectName or ProbeName ever changes so that they could
// meet, for orgs chosen to tempt it (named like the prefixes, longest
// allowed) and days and times across years.
func TestProbeNeverCollidesWithDayFiles(t *testing.T) {
	orgs := []string{"a1", "acme", "auditlogs-verify", "contentful-audit-unstable-beta", "auditlogs-verify-acme-20261124T000000Z",
		strings.Repeat("z", 64), "ORG_1", "0"}
	times := []time.Time{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2099, 1, 1, 12, 0, 0, 0, time.UTC)}
	dayPrefix := "contentful-audit-unstable-beta-"
	for _, org := range orgs {
		if audit.ValidateOrgID(org) != nil {
			continue // not an org ID: cannot be registered
		}
		for _, at := range times {
			for d := -3; d <= 3; d++ {
				day := audit.DayOf(at).AddDays(d)
				file := destination.ObjectName(org, day)
				probe := ProbeName(org, at, "0a1b2c3d")
				if !strings.HasPrefix(file, dayPrefix) || !strings.HasSuffix(file, ".csv") {
					t.Fatalf("ObjectName(%q, %s) = %q: day files no longer start with %q and end in .csv; revisit ProbePrefix's argument", org, day, file, dayPrefix)
				}
				if !strings.HasPrefix(probe, ProbePrefix) || !strings.HasSuffix(probe, ".txt") || file[0] == probe[0] {
					t.Fatalf("probe %q and day file %q could collide", probe, file)
				}
				d := destination.Destination{OrgID: org, Prefix: "logs/"}
				if d.Key(day) == d.Prefix+probe {
					t.Fatalf("probe key equals day file key %q", d.Key(day))
				}
			}
		}
	}
}

func TestProbeName(t *testing.T) {
	at := time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.FixedZone("CET", 3600))
	if got, want := ProbeName("acme", at, "0a1b2c3d"), "auditlogs-verify-acme-20261124T124512Z-0a1b2c3d.txt"; got != want {
		t.Errorf("ProbeName = %q, want %q (UTC time)", got, want)
	}
	hex := regexp.MustCompile(`^[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		r, err := randomSuffix()
		if err != nil || !hex.MatchString(r) || seen[r] {
			t.Fatalf("randomSuffix() = %q, %v (seen before: %v)", r, err, seen[r])
		}
		seen[r] = true
	}
}

func TestProbeContent(t *testing.T) {
	at := time.Date(2026, 11, 24, 13, 45, 12, 0, time.UTC)
	c := ProbeContent("acme", at)
	for _, want := range []string{"audit log delivery", "auditctl verify", "organization: acme", "2026-11-24T13:45:12Z", "no audit data", "can be deleted"} {
		if !strings.Contains(c, want) {
			t.Errorf("probe content lacks %q:\n%s", want, c)
		}
	}
}
