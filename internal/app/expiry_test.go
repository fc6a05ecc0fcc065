package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
)

// sasFor returns a container SAS URL of the local stack valid for
// validity, its cipher (as the customer submits it), its signature and
// its expiry (se) as the registry keeps it, in whole seconds.
func sasFor(t *testing.T, validity time.Duration) (cipher, sig string, expiry time.Time) {
	t.Helper()
	raw, err := stack.ContainerSAS(validity)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if expiry, err = time.Parse(time.RFC3339, u.Query().Get("se")); err != nil {
		t.Fatal(err)
	}
	if cipher, err = stack.EncryptSAS("us", raw); err != nil {
		t.Fatal(err)
	}
	return cipher, u.Query().Get("sig"), expiry.Truncate(time.Second)
}

// TestExportRecordsSASExpiry: the export decrypts the SAS; when the
// registry's expiry differs from the SAS's se (unknown, or left from an
// older SAS), it is updated, and the log names org and date, never the
// SAS. When it is right, nothing is written.
func TestExportRecordsSASExpiry(t *testing.T) {
	ctx := context.Background()
	var logs testenv.SyncBuffer
	prev := apps.Sinks.Log
	apps.Sinks.Log = slog.New(slog.NewTextHandler(&logs, nil))
	t.Cleanup(func() { apps.Sinks.Log = prev })
	org := "expiry-org"
	get := func() time.Time {
		t.Helper()
		d, err := apps.Registry.Get(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		return d.Azure.SASExpiry
	}
	export := func() {
		t.Helper()
		compact(t, org)
		if _, err := apps.Exporter.Export(ctx, org, day); err != nil {
			t.Fatal(err)
		}
	}

	// Registered without an expiry (as before expiries were recorded).
	oldCipher, oldSig, oldExpiry := sasFor(t, 20*24*time.Hour)
	d := destination.Destination{OrgID: org, Kind: destination.KindAzure, Enabled: true,
		Azure: &destination.Azure{SASCipher: oldCipher, Residency: destination.ResidencyUS}}
	putAzure(t, d)
	export()
	if got := get(); !got.Equal(oldExpiry) {
		t.Fatalf("after the first export: registry expiry %v, want the SAS's %v", got, oldExpiry)
	}

	// A newer SAS, registered with the old SAS's expiry still attached
	// (the registry's value is stale): the export learns the new one.
	newCipher, newSig, newExpiry := sasFor(t, 90*24*time.Hour)
	d.Azure = &destination.Azure{SASCipher: newCipher, Residency: destination.ResidencyUS, SASExpiry: oldExpiry}
	putAzure(t, d)
	export()
	if got := get(); !got.Equal(newExpiry) || newExpiry.Equal(oldExpiry) {
		t.Fatalf("after a newer SAS: registry expiry %v, want %v (old %v)", got, newExpiry, oldExpiry)
	}
	out := logs.String()
	if n := strings.Count(out, "recorded the SAS URL's expiry"); n != 2 || !strings.Contains(out, "org_id="+org) || !strings.Contains(out, newExpiry.Format(time.RFC3339)) {
		t.Fatalf("want two log lines naming org and date, got:\n%s", out)
	}

	// Now right: a third export writes nothing.
	export()
	if n := strings.Count(logs.String(), "recorded the SAS URL's expiry"); n != 2 {
		t.Fatalf("an unchanged expiry was written again:\n%s", logs.String())
	}
	for _, secret := range []string{oldSig, newSig, url.QueryEscape(newSig), oldCipher[:64], newCipher[:64]} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds a secret (%.8s...):\n%s", secret, logs.String())
		}
	}
}

// TestExportRefusesClaimedContainer: a destination registered without its
// container (before containers were recorded, or through a caller that
// did not decrypt) whose SAS writes to a container another org holds is
// not delivered: the export decrypts, finds the container claimed and
// fails permanently, naming the holder and not the SAS, and nothing is
// written or recorded.
func TestExportRefusesClaimedContainer(t *testing.T) {
	ctx := context.Background()
	holder := register(t, "claim-holder", destination.KindAzure)
	cipher, sig, _ := sasFor(t, 24*time.Hour)
	if _, err := apps.Registry.Put(ctx, destination.Destination{OrgID: "claim-taker", Kind: destination.KindAzure, Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher, Residency: destination.ResidencyUS}}); err != nil {
		t.Fatal(err)
	}
	_, err := apps.Exporter.Export(ctx, "claim-taker", day)
	if !errors.Is(err, registry.ErrClaimed) || !export.IsPermanent(err) || !strings.Contains(err.Error(), holder.OrgID) {
		t.Fatalf("export of a claimed container: %v, want a permanent refusal naming %s", err, holder.OrgID)
	}
	for _, secret := range []string{sig, url.QueryEscape(sig), cipher[:64]} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error holds a secret: %v", err)
		}
	}
	if _, err := stack.ReadBlob(ctx, destination.ObjectName("claim-taker", day)); err == nil {
		t.Fatal("the claimed container received the file")
	}
	if d, err := apps.Registry.Get(ctx, "claim-taker"); err != nil || d.Azure.Container != "" {
		t.Fatalf("the refused container was recorded: %+v, %v", d.Azure, err)
	}
}
