package testenv

import (
	"testing"

	"github.com/contentful/auditlogs/internal/localdev/emulator"
)

// StartLocalKMS starts a local-kms of the test's own, stopped when the test
// ends: for packages without a TestMain that would stop the shared one.
func StartLocalKMS(tb testing.TB) *Server { return startFor(tb, emulator.LocalKMS, nil) }
