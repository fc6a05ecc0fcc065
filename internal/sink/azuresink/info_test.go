package azuresink_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
)

// TestSinkInfo: the sink tells where it writes and until when its SAS
// works, and a SAS that expired after it was parsed is refused with
// sas.ErrExpired, which callers name as such.
func TestSinkInfo(t *testing.T) {
	e := newEnv(t, true)
	expiry := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second)
	raw, sig := e.sasURL(t, createWrite, expiry)
	u, err := sas.Parse(raw, expiry.Add(-time.Hour), e.policy())
	if err != nil {
		t.Fatal(err)
	}
	s, err := azuresink.New(u, azuresink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Account() != devAccount || s.Container() != e.container || !s.Expiry().Equal(expiry) {
		t.Fatalf("Account %q Container %q Expiry %v, want %q %q %v", s.Account(), s.Container(), s.Expiry(), devAccount, e.container, expiry)
	}
	time.Sleep(time.Until(expiry) + 10*time.Millisecond)
	err = s.Upload(testenv.Context(t), "x.csv", strings.NewReader("x"), sink.Object{})
	if !errors.Is(err, sas.ErrExpired) || !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "SAS URL expired at "+expiry.Format(time.RFC3339)) {
		t.Fatalf("Upload after the SAS expired: %v, want sas.ErrExpired", err)
	}
	assertNoSig(t, sig, err.Error())
	assertAbsent(t, e, "x.csv")
}
