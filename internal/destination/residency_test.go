package destination

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/failure"
)

func TestParseResidency(t *testing.T) {
	for _, s := range []string{"us", "eu"} {
		r, err := ParseResidency(s)
		if err != nil || string(r) != s {
			t.Errorf("ParseResidency(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "US", "asia", " eu"} {
		_, err := ParseResidency(s)
		if err == nil {
			t.Errorf("ParseResidency(%q) accepted it", s)
			continue
		}
		if !strings.Contains(err.Error(), "residency") || !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) || !errors.Is(err, failure.ErrInvalidConfig) {
			t.Errorf("ParseResidency(%q) error = %v, want it to name the field and the value", s, err)
		}
	}
}
