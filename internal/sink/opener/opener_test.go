package opener_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/opener"
)

// These tests need no emulator: KMS answers with a SAS URL of Azure's
// form and the registry is a recorder. The S3 path (one call of
// s3sink.Open) and the real registry's conditional writes are tested on
// the emulators by internal/app, internal/verify and cmd/auditctl.

const testSig = "k3Y+q1Xv7s9w/zR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2="

var (
	now    = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	expiry = time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	rawSAS = "https://acct01.blob.core.windows.net/logs?sv=2025-01-05&sr=c&sp=cw&se=" + expiry.Format(time.RFC3339) + "&sig=" + url.QueryEscape(testSig)
)

// fakeKMS decrypts every cipher to rawSAS.
type fakeKMS struct{}

func (fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	return &kms.DecryptOutput{Plaintext: []byte(rawSAS), KeyId: in.KeyId}, nil
}

// recorder is the registry's RecordSASContainer and RecordSASExpiry.
type recorder struct {
	mu                      sync.Mutex
	containers, expiries    []string
	containerErr, expiryErr error
}

func (r *recorder) RecordSASContainer(_ context.Context, org, cipher, account, container string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.containers = append(r.containers, fmt.Sprintf("%s %.8s %s/%s", org, cipher, account, container))
	return r.containerErr
}

func (r *recorder) RecordSASExpiry(_ context.Context, org, cipher string, expires time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expiries = append(r.expiries, fmt.Sprintf("%s %.8s %s", org, cipher, expires.Format(time.RFC3339)))
	return r.expiryErr
}

func cipher(t *testing.T) string {
	t.Helper()
	b := make([]byte, destination.CipherBytes)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func newOpener(rec *recorder, log *bytes.Buffer) *opener.Opener {
	return &opener.Opener{
		SAS:      &sas.Decrypter{KMS: fakeKMS{}, KeyIDs: map[sas.Residency]string{sas.US: "key-us"}, Now: func() time.Time { return now }},
		Expiries: rec, Containers: rec,
		Log: slog.New(slog.NewTextHandler(log, nil)),
	}
}

func azureDest(t *testing.T, org string) destination.Destination {
	return destination.Destination{OrgID: org, Kind: destination.KindAzure, Prefix: "audit/", Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher(t), Residency: destination.ResidencyUS}}
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSig, url.QueryEscape(testSig), rawSAS} {
		if strings.Contains(s, secret) {
			t.Fatalf("%s holds the SAS (%.8s...): %s", what, secret, s)
		}
	}
}

// TestOpenAzure: the SAS is decrypted with the residency's key, the sink
// writes to its container under the destination's prefix, and the
// container and expiry that the registry does not hold yet are recorded
// for the cipher that was decrypted, in whole seconds, and logged without
// the SAS.
func TestOpenAzure(t *testing.T) {
	var log bytes.Buffer
	rec := &recorder{}
	d := azureDest(t, "az1")
	s, notes, err := newOpener(rec, &log).OpenNoting(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if notes != (opener.Notes{}) {
		t.Errorf("notes %+v, want none", notes)
	}
	az, ok := s.(*azuresink.Sink)
	if !ok {
		t.Fatalf("Open gave a %T, want the Azure sink", s)
	}
	if az.Account() != "acct01" || az.Container() != "logs" || !az.Expiry().Equal(expiry) {
		t.Errorf("sink of %s/%s until %v", az.Account(), az.Container(), az.Expiry())
	}
	c := d.Azure.SASCipher[:8]
	if want := []string{"az1 " + c + " acct01/logs"}; fmt.Sprint(rec.containers) != fmt.Sprint(want) {
		t.Errorf("containers recorded %v, want %v", rec.containers, want)
	}
	if want := []string{"az1 " + c + " " + expiry.Format(time.RFC3339)}; fmt.Sprint(rec.expiries) != fmt.Sprint(want) {
		t.Errorf("expiries recorded %v, want %v", rec.expiries, want)
	}
	out := log.String()
	if !strings.Contains(out, "recorded the SAS URL's storage account and container") || !strings.Contains(out, "recorded the SAS URL's expiry") {
		t.Errorf("log:\n%s", out)
	}
	assertNoSecret(t, "the log", out)
	assertNoSecret(t, "the sink", fmt.Sprintf("%v %+v", s, s))
}

// TestOpenAzureKnown: a destination that holds its container and expiry
// already costs the registry no write.
func TestOpenAzureKnown(t *testing.T) {
	var log bytes.Buffer
	rec := &recorder{}
	d := azureDest(t, "az1")
	d.Azure.StorageAccount, d.Azure.Container, d.Azure.SASExpiry = "acct01", "logs", expiry
	if _, err := newOpener(rec, &log).Open(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(rec.containers)+len(rec.expiries) != 0 || log.Len() != 0 {
		t.Errorf("writes %v %v, log %q, want none", rec.containers, rec.expiries, log.String())
	}
}

// TestOpenAzureClaimed: a container another org holds is a permanent
// refusal, and its expiry is not recorded; any other failure to record
// the container is transient.
func TestOpenAzureClaimed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		want      string
	}{
		{"claimed", fmt.Errorf("container acct01/logs is already registered for org other: %w", registry.ErrClaimed), true, "already registered for org other"},
		{"registry down", errors.New("throttled"), false, "record the SAS URL's storage account and container: throttled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			rec := &recorder{containerErr: tc.err}
			s, err := newOpener(rec, &log).Open(context.Background(), azureDest(t, "az1"))
			if err == nil || s != nil || !errors.Is(err, tc.err) || sink.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, %v; want a refusal (permanent %v) containing %q", s, err, tc.permanent, tc.want)
			}
			if tc.permanent && !errors.Is(err, sink.ErrInvalidConfig) {
				t.Errorf("a claimed container: %v, want sink.ErrInvalidConfig", err)
			}
			if len(rec.expiries) != 0 {
				t.Errorf("the expiry was recorded: %v", rec.expiries)
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
}

// TestOpenAzureExpiryNotRecorded: a failure to record the expiry (here:
// the cipher was replaced since the destination was read) is logged and
// noted, and the sink opens all the same.
func TestOpenAzureExpiryNotRecorded(t *testing.T) {
	var log bytes.Buffer
	rec := &recorder{expiryErr: fmt.Errorf("record SAS expiry for org az1: %w", registry.ErrCipherReplaced)}
	s, notes, err := newOpener(rec, &log).OpenNoting(context.Background(), azureDest(t, "az1"))
	if err != nil || s == nil {
		t.Fatalf("Open = %v, %v; want the sink", s, err)
	}
	if !errors.Is(notes.ExpiryNotRecorded, registry.ErrCipherReplaced) {
		t.Errorf("notes %+v, want the refused expiry", notes)
	}
	if out := log.String(); !strings.Contains(out, "record the SAS URL's expiry failed") || !strings.Contains(out, "org_id=az1") || !strings.Contains(out, "replaced meanwhile") {
		t.Errorf("log:\n%s", out)
	}
}

// TestOpenRefusesMalformed: a kind without its settings, or no kind we
// know, is the destination's fault.
func TestOpenRefusesMalformed(t *testing.T) {
	o := newOpener(&recorder{}, &bytes.Buffer{})
	for _, d := range []destination.Destination{
		{OrgID: "o1", Kind: destination.KindS3},
		{OrgID: "o1", Kind: destination.KindAzure},
		{OrgID: "o1", Kind: "gcs"},
	} {
		if s, err := o.Open(context.Background(), d); s != nil || !errors.Is(err, sink.ErrInvalidConfig) {
			t.Errorf("kind %q: Open = %v, %v; want sink.ErrInvalidConfig", d.Kind, s, err)
		}
	}
	if err := o.CheckExternalID(context.Background(), azureDest(t, "az1")); err != nil {
		t.Errorf("CheckExternalID of an Azure destination: %v, want nil", err)
	}
}
