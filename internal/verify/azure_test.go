package verify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sas/sastest"
	"github.com/contentful/auditlogs/internal/verify"
)

// Azurite's well-known development account (public, documented by
// Microsoft; not a secret).
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// failingExpiries is a registry that cannot record an expiry, as the
// opener sees it.
type failingExpiries struct{ err error }

func (f failingExpiries) RecordSASExpiry(context.Context, string, string, time.Time) error {
	return f.err
}

type azureFixture struct {
	azurite   *testenv.Server
	container string // created
	admin     *container.Client
	pem       map[string]string // public key PEM file by residency
	secrets   []string          // signatures and SAS queries
}

// sasURL signs a container SAS for name on host (Azurite's host:port,
// or another name for it) and remembers its secrets.
func (f *azureFixture) sasURL(t *testing.T, host, name string, perms azsas.ContainerPermissions, expiry time.Time) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := azsas.BlobSignatureValues{Protocol: azsas.ProtocolHTTPSandHTTP, ExpiryTime: expiry.UTC(), Permissions: perms.String(), ContainerName: name}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, qp.Signature(), url.QueryEscape(qp.Signature()), qp.Encode())
	return "http://" + host + "/" + devAccount + "/" + name + "?" + qp.Encode()
}

func (f *azureFixture) blobs(t *testing.T) []string {
	t.Helper()
	var names []string
	pager := f.admin.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return sorted(names)
}

func (f *azureFixture) read(t *testing.T, name string) string {
	t.Helper()
	resp, err := f.admin.NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatalf("read blob %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAzure checks Azure destinations through the production App: the
// cipher is made with the product doc's openssl commands, decrypted by
// local-kms, the SAS URL checked and the probe written to Azurite, which
// enforces SAS signatures, permissions and expiry.
func TestAzure(t *testing.T) {
	moto, kmsSrv, azurite := testenv.Moto(t), testenv.LocalKMS(t), testenv.Azurite(t)
	ctx := testenv.Context(t)
	kc := kms.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL, KMS: kmsSrv.URL}))
	usKey, usPEM := sastest.CreateKey(t, kc)
	euKey, euPEM := sastest.CreateKey(t, kc)

	f := &azureFixture{azurite: azurite, container: testenv.UniqueName("verify"), pem: map[string]string{"us": usPEM, "eu": euPEM}}
	cred, err := container.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	if f.admin, err = container.NewClientWithSharedKeyCredential(azurite.URL+"/"+devAccount+"/"+f.container, cred, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}

	table := testenv.UniqueName("registry")
	if err := registry.CreateTable(ctx, dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})), table); err != nil {
		t.Fatal(err)
	}
	a := productionApp(t, map[string]string{
		"AWS_ENDPOINT_URL":              moto.URL,
		"AWS_ENDPOINT_URL_KMS":          kmsSrv.URL,
		"AWS_ACCESS_KEY_ID":             "test",
		"AWS_SECRET_ACCESS_KEY":         "test",
		"AUDITLOG_REGISTRY_TABLE":       table,
		"AUDITLOG_KMS_KEY_US":           usKey,
		"AUDITLOG_KMS_KEY_EU":           euKey,
		"AUDITLOG_AZURE_EMULATOR_HOSTS": azurite.Host,
	})
	v := &verify.Verifier{Destinations: a.Registry, Sinks: a.Sinks}

	cw := azsas.ContainerPermissions{Create: true, Write: true}
	year := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	// register encrypts raw as the customer does and registers it with
	// the given residency (whose key may not be the one used).
	register := func(org, encryptedFor, residency, raw string) {
		t.Helper()
		cipher := sastest.Encrypt(t, f.pem[encryptedFor], raw)
		if _, err := a.Registry.Put(ctx, destination.Destination{OrgID: org, Kind: destination.KindAzure, Prefix: "audit/", Enabled: true,
			Azure: &destination.Azure{SASCipher: cipher, Residency: destination.Residency(residency)}}); err != nil {
			t.Fatalf("register %s: %v", org, err)
		}
	}
	// registerAt registers raw with the container it writes to, as
	// `destination put` does after decrypting, sharing it with shared.
	registerAt := func(org, residency, raw string, shared ...string) {
		t.Helper()
		cipher := sastest.Encrypt(t, f.pem[residency], raw)
		if _, err := a.Registry.PutShared(ctx, destination.Destination{OrgID: org, Kind: destination.KindAzure, Prefix: "audit/", Enabled: true,
			Azure: &destination.Azure{SASCipher: cipher, Residency: destination.Residency(residency), StorageAccount: devAccount, Container: f.container}}, shared); err != nil {
			t.Fatalf("register %s: %v", org, err)
		}
	}
	registerAt("az-healthy", "us", f.sasURL(t, azurite.Host, f.container, cw, year))
	soon := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	registerAt("az-expiring", "eu", f.sasURL(t, azurite.Host, f.container, cw, soon), "az-healthy")
	// A working SAS of the container that az-healthy holds, registered
	// without its container (as before containers were recorded, or by
	// another org that got hold of the cipher): the check records it,
	// finds it claimed, and writes nothing.
	register("az-claimed", "us", "us", f.sasURL(t, azurite.Host, f.container, cw, year))
	register("az-expired", "us", "us", f.sasURL(t, azurite.Host, f.container, cw, time.Now().Add(-time.Minute)))
	register("az-read-only", "us", "us", f.sasURL(t, azurite.Host, f.container, azsas.ContainerPermissions{Read: true, List: true}, year))
	register("az-too-broad", "us", "us", f.sasURL(t, azurite.Host, f.container, azsas.ContainerPermissions{Read: true, Create: true, Write: true, Delete: true, List: true}, year))
	// A working SAS of the same Azurite, under a host name that is not on
	// the allowed list: the signature must not go there.
	port := azurite.Host[strings.LastIndex(azurite.Host, ":"):]
	register("az-host", "us", "us", f.sasURL(t, "localhost"+port, f.container, cw, year))
	register("az-other-key", "eu", "us", f.sasURL(t, azurite.Host, f.container, cw, year))
	missing := testenv.UniqueName("never-created")
	register("az-no-container", "us", "us", f.sasURL(t, azurite.Host, missing, cw, year))

	for _, tc := range []struct {
		org      string
		want     verify.Cause // "" means OK
		stage    verify.Stage
		warnings []string
		expires  time.Time // the SAS expiry reported and recorded; zero when not decrypted
		mention  []string
	}{
		{org: "az-healthy", expires: year},
		{org: "az-expiring", warnings: []string{verify.WarnSASExpiresSoon}, expires: soon},
		{org: "az-expired", want: verify.CauseSASExpired, stage: verify.StageOpen},
		{org: "az-read-only", want: verify.CauseSASPermissions, stage: verify.StageOpen, mention: []string{"create (c) and write (w)"}},
		{org: "az-too-broad", want: verify.CauseSASScope, stage: verify.StageOpen, mention: []string{"container SAS", "sp=cw"}},
		{org: "az-host", want: verify.CauseSASHostNotAllowed, stage: verify.StageOpen},
		{org: "az-other-key", want: verify.CauseCipherUndecryptable, stage: verify.StageOpen, mention: []string{"our us key", "us public key"}},
		{org: "az-claimed", want: verify.CauseContainerClaimed, stage: verify.StageOpen, mention: []string{"--share-container-with"}},
		{org: "az-no-container", want: verify.CauseContainerMissing, stage: verify.StageUpload, expires: year, mention: []string{missing, devAccount}},
	} {
		t.Run(tc.org, func(t *testing.T) {
			before := f.blobs(t)
			r := v.Verify(ctx, tc.org)
			out := testenv.JSON(t, r)
			t.Logf("report: %s", out)
			assertNoSecret(t, out, f.secrets)
			checkWarnings(t, r, tc.warnings)
			// Recorded by the opener, in the registry.
			d, err := a.Registry.Get(ctx, tc.org)
			if err != nil {
				t.Fatal(err)
			}
			switch got := d.Azure.SASExpiry; {
			case tc.expires.IsZero() && (!got.IsZero() || r.SASExpires != nil):
				t.Errorf("expiry reported %v, recorded %v, want none", r.SASExpires, got)
			case !tc.expires.IsZero() && (r.SASExpires == nil || !r.SASExpires.Equal(tc.expires) || !got.Equal(tc.expires)):
				t.Errorf("expiry reported %v, recorded %v, want %v", r.SASExpires, got, tc.expires)
			}
			after := f.blobs(t)
			if !checkOutcome(t, r, tc.want, tc.stage, tc.mention, "container", before, after) {
				return
			}
			if r.StorageAccount != devAccount || r.Container != f.container || !probeKey("audit/", tc.org).MatchString(r.Key) {
				t.Errorf("account %q container %q key %q", r.StorageAccount, r.Container, r.Key)
			}
			if want := sorted(append(slices.Clone(before), r.Key)); !slices.Equal(after, want) {
				t.Errorf("blobs after the check %v, want %v", after, want)
			}
			if body := f.read(t, r.Key); len(body) != r.Bytes || !strings.Contains(body, "organization: "+tc.org) || !strings.Contains(body, "can be deleted") {
				t.Errorf("probe (%d bytes, report says %d):\n%s", len(body), r.Bytes, body)
			}
		})
	}

	// The checks recorded where each decrypted SAS writes: the container
	// of az-no-container, claimed for it; az-claimed's was refused.
	for org, want := range map[string]string{"az-no-container": missing, "az-claimed": ""} {
		if d, err := a.Registry.Get(ctx, org); err != nil || d.Azure.Container != want {
			t.Errorf("%s: recorded container %q (%v), want %q", org, d.Azure.Container, err, want)
		}
	}

	// Azure's own refusals, which Parse keeps us from meeting: a SAS that
	// lost its write permission after the check (here: the requests carry
	// a read-only SAS of the same container instead of the checked one)
	// gets Azurite's real 403 AuthorizationPermissionMismatch.
	t.Run("azure-refuses-permission", func(t *testing.T) {
		readOnly, err := url.Parse(f.sasURL(t, azurite.Host, f.container, azsas.ContainerPermissions{Read: true}, year))
		if err != nil {
			t.Fatal(err)
		}
		sinks := *a.Sinks
		sinks.Azure.Transport = swapSAS{readOnly.Query()}
		sinks.Azure.Retry.MaxRetries = -1
		before := f.blobs(t)
		r := (&verify.Verifier{Destinations: a.Registry, Sinks: &sinks}).Verify(ctx, "az-healthy")
		out := testenv.JSON(t, r)
		t.Logf("report: %s", out)
		assertNoSecret(t, out, f.secrets)
		if r.OK || r.Failure == nil || r.Failure.Cause != verify.CauseSASPermissions || r.Failure.Stage != verify.StageUpload ||
			!strings.Contains(r.Failure.Detail, string(bloberror.AuthorizationPermissionMismatch)) {
			t.Fatalf("OK %v failure %+v, want sas_permissions at upload from Azure's AuthorizationPermissionMismatch", r.OK, r.Failure)
		}
		if after := f.blobs(t); !slices.Equal(after, before) {
			t.Errorf("blobs changed: before %v, after %v", before, after)
		}
	})

	// A SAS signed with another key (the account key was rotated since):
	// Azurite's real 403 AuthenticationFailed.
	t.Run("azure-refuses-signature", func(t *testing.T) {
		otherKey := base64.StdEncoding.EncodeToString([]byte("an account key that is not azurite's, 64 bytes long, as they are."))
		cred, err := container.NewSharedKeyCredential(devAccount, otherKey)
		if err != nil {
			t.Fatal(err)
		}
		qp, err := azsas.BlobSignatureValues{Protocol: azsas.ProtocolHTTPSandHTTP, ExpiryTime: year, Permissions: cw.String(), ContainerName: f.container}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets = append(f.secrets, qp.Signature(), url.QueryEscape(qp.Signature()))
		sinks := *a.Sinks
		q, err := url.ParseQuery(qp.Encode())
		if err != nil {
			t.Fatal(err)
		}
		sinks.Azure.Transport = swapSAS{q}
		sinks.Azure.Retry.MaxRetries = -1
		r := (&verify.Verifier{Destinations: a.Registry, Sinks: &sinks}).Verify(ctx, "az-healthy")
		out := testenv.JSON(t, r)
		t.Logf("report: %s", out)
		assertNoSecret(t, out, f.secrets)
		if r.OK || r.Failure == nil || r.Failure.Cause != verify.CauseSASRefused || r.Failure.Stage != verify.StageUpload ||
			!strings.Contains(r.Failure.Detail, "status 403") {
			t.Fatalf("OK %v failure %+v, want sas_refused at upload from Azure's 403", r.OK, r.Failure)
		}
	})

	// KMS problems that are ours: no key for the residency, and a key KMS
	// does not have (local-kms's real NotFoundException).
	t.Run("kms", func(t *testing.T) {
		for _, tc := range []struct {
			keys map[sas.Residency]string
			want verify.Cause
		}{
			{map[sas.Residency]string{sas.EU: euKey}, verify.CauseKMSKeyMissing},
			{map[sas.Residency]string{sas.US: "11111111-2222-3333-4444-555555555555"}, verify.CauseKMSUnavailable},
		} {
			sinks := *a.Sinks
			dec := *sinks.SAS
			dec.KeyIDs = tc.keys
			sinks.SAS = &dec
			r := (&verify.Verifier{Destinations: a.Registry, Sinks: &sinks}).Verify(ctx, "az-healthy")
			if r.OK || r.Failure == nil || r.Failure.Cause != tc.want || r.Failure.Stage != verify.StageOpen || !strings.Contains(r.Failure.Fix, "operator") {
				t.Errorf("keys %v: OK %v failure %+v, want %s at open", tc.keys, r.OK, r.Failure, tc.want)
			}
		}
	})

	// An operator registers a newer SAS for the org while a check runs:
	// the check read the old destination, decrypted the old cipher and
	// learnt the old SAS's expiry. That expiry must not overwrite the
	// newer one that `destination put` recorded meanwhile: the only write
	// of an expiry is the opener's, conditional on the cipher it
	// decrypted (registry.RecordSASExpiry).
	t.Run("newer-expiry-recorded-meanwhile", func(t *testing.T) {
		older := time.Now().Add(200 * 24 * time.Hour).UTC().Truncate(time.Second)
		newer := time.Now().Add(400 * 24 * time.Hour).UTC().Truncate(time.Second)
		registerAt("az-race", "us", f.sasURL(t, azurite.Host, f.container, cw, older), "az-healthy", "az-expiring")
		newCipher := sastest.Encrypt(t, f.pem["us"], f.sasURL(t, azurite.Host, f.container, cw, newer))
		racing := &racingRegistry{Registry: a.Registry, meanwhile: func() {
			if _, err := a.Registry.PutShared(ctx, destination.Destination{OrgID: "az-race", Kind: destination.KindAzure, Prefix: "audit/", Enabled: true,
				Azure: &destination.Azure{SASCipher: newCipher, Residency: destination.ResidencyUS, SASExpiry: newer, StorageAccount: devAccount, Container: f.container}},
				[]string{"az-healthy", "az-expiring"}); err != nil {
				t.Errorf("register the newer SAS: %v", err)
			}
		}}
		r := (&verify.Verifier{Destinations: racing, Sinks: a.Sinks, Trust: a.Sinks}).Verify(ctx, "az-race")
		t.Logf("report: %s", testenv.JSON(t, r))
		if !r.OK || r.SASExpires == nil || !r.SASExpires.Equal(older) {
			t.Fatalf("OK %v expiry %v failure %+v, want OK with the checked (older) SAS's expiry %v", r.OK, r.SASExpires, r.Failure, older)
		}
		// The opener's conditional write was refused, and the check says so.
		checkWarnings(t, r, []string{verify.WarnExpiryNotRecorded})
		if len(r.Warnings) == 1 && !strings.Contains(r.Warnings[0].Message, registry.ErrCipherReplaced.Error()) {
			t.Errorf("warning %q, want it to say that the cipher was replaced", r.Warnings[0].Message)
		}
		d, err := a.Registry.Get(ctx, "az-race")
		if err != nil {
			t.Fatal(err)
		}
		if d.Azure.SASCipher != strings.Join(strings.Fields(newCipher), "") || !d.Azure.SASExpiry.Equal(newer) {
			t.Fatalf("registry holds expiry %v (the newer cipher: %v), want the newer SAS's %v, not the checked one's %v",
				d.Azure.SASExpiry, d.Azure.SASCipher == strings.Join(strings.Fields(newCipher), ""), newer, older)
		}
	})

	t.Run("expiry-not-recorded", func(t *testing.T) {
		// An org whose expiry is not recorded yet, on the container the
		// orgs above hold.
		registerAt("az-unrecorded", "us", f.sasURL(t, azurite.Host, f.container, cw, year), "az-healthy", "az-expiring", "az-race")
		sinks := *a.Sinks
		sinks.Expiries = failingExpiries{errors.New("registry unavailable")}
		r := (&verify.Verifier{Destinations: a.Registry, Sinks: &sinks}).Verify(ctx, "az-unrecorded")
		if !r.OK || len(r.Warnings) != 1 || r.Warnings[0].Code != verify.WarnExpiryNotRecorded || !strings.Contains(r.Warnings[0].Message, "registry unavailable") {
			t.Fatalf("OK %v warnings %+v failure %+v, want OK with %s", r.OK, r.Warnings, r.Failure, verify.WarnExpiryNotRecorded)
		}
	})
}

// racingRegistry is the registry as a check reads it while an operator
// replaces the org's destination: Get answers with the destination as it
// was, and meanwhile runs once, after that read and before the check
// opens the sink.
type racingRegistry struct {
	*registry.Registry
	once      sync.Once
	meanwhile func()
}

func (r *racingRegistry) Get(ctx context.Context, org string) (destination.Destination, error) {
	d, err := r.Registry.Get(ctx, org)
	r.once.Do(r.meanwhile)
	return d, err
}

// swapSAS sends every request with the SAS parameters of another SAS of
// the same container (what Azure would see if the customer's SAS changed
// after our check).
type swapSAS struct{ q url.Values }

func (s swapSAS) Do(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	for k, v := range s.q {
		q[k] = v
	}
	req.URL.RawQuery = q.Encode()
	return http.DefaultTransport.RoundTrip(req)
}
