package fanoutfn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
)

// TestSASExpiringSoonMetric: the registry on moto holds a mix of orgs; the
// run counts the enabled Azure destinations whose SAS URL expires within
// 30 days or has expired (not the one 31 days out, not the disabled one,
// not S3, not an unknown expiry), emits that count as the EMF metric
// AuditLogs/SASExpiringSoon, logs one line per counted org naming org and
// date and never the cipher, and invokes no export for the disabled org.
func TestSASExpiringSoonMetric(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("fanout-expiry")
	if err := registry.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, table)
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ciphers := map[string]string{}
	azure := func(org string, enabled bool, expires time.Time) destination.Destination {
		b := make([]byte, 512)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		ciphers[org] = base64.StdEncoding.EncodeToString(b)
		return destination.Destination{OrgID: org, Kind: destination.KindAzure, Enabled: enabled,
			Azure: &destination.Azure{SASCipher: ciphers[org], Residency: destination.ResidencyEU, SASExpiry: expires}}
	}
	dests := []destination.Destination{
		azure("az-29-days", true, now.Add(29*day)),
		azure("az-expired", true, now.Add(-2*day)),
		azure("az-31-days", true, now.Add(31*day)),
		azure("az-unknown", true, time.Time{}),
		azure("az-stopped", false, now.Add(3*day)),
		{OrgID: "s3-org", Kind: destination.KindS3, Enabled: true,
			S3: &destination.S3{Bucket: "bucket-x", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/r"}},
	}
	for _, d := range dests {
		if _, err := reg.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	ep, lc := newEndpoint(t)
	var logs, emf testenv.SyncBuffer
	h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 3, Segments: 2,
		Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &emf, Now: func() time.Time { return now }}
	target, _ := audit.ParseDay("2026-11-24")
	sum, err := h.Handle(ctx, ManualRun(target))
	if err != nil {
		t.Fatal(err)
	}
	if sum.SASExpiringSoon != 2 || sum.Seen != 6 || sum.Enabled != 5 || sum.Invoked != 5 {
		t.Fatalf("summary %+v, want 2 expiring soon, 6 seen, 5 enabled and invoked", sum)
	}
	invoked := map[string]int{}
	for _, p := range ep.payloads {
		invoked[p.OrgID]++
	}
	if invoked["az-stopped"] != 0 || len(invoked) != 5 {
		t.Fatalf("invocations %v: want one per enabled org, none for the disabled az-stopped", invoked)
	}

	// One EMF line with the count.
	lines := strings.Split(strings.TrimSpace(emf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("metric lines: %q", emf.String())
	}
	var m struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace string
				Metrics   []struct{ Name string }
			}
		} `json:"_aws"`
		Count   *float64 `json:"SASExpiringSoon"`
		Invalid *float64 `json:"InvalidRegistryItems"`
	}
	// The run's other metric, InvalidRegistryItems, is 0 here.
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil || m.Count == nil || *m.Count != 2 || m.Invalid == nil || *m.Invalid != 0 ||
		len(m.AWS.CloudWatchMetrics) != 1 || m.AWS.CloudWatchMetrics[0].Namespace != "AuditLogs" ||
		len(m.AWS.CloudWatchMetrics[0].Metrics) != 2 || m.AWS.CloudWatchMetrics[0].Metrics[1].Name != metrics.SASExpiringSoon {
		t.Fatalf("metric line %s (%v), want AuditLogs/SASExpiringSoon = 2 (and InvalidRegistryItems = 0)", lines[0], err)
	}

	// One warning per counted org, naming org and expiry.
	warned := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader([]byte(logs.String())))
	for sc.Scan() {
		var l struct {
			Level, Msg string
			Org        string `json:"org_id"`
			Expires    string `json:"sas_expires"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && strings.HasPrefix(l.Msg, "SAS URL expire") {
			warned[l.Org] = l.Expires
		}
	}
	want := map[string]string{"az-29-days": "2026-12-24T01:00:00Z", "az-expired": "2026-11-23T01:00:00Z"}
	if len(warned) != len(want) || warned["az-29-days"] != want["az-29-days"] || warned["az-expired"] != want["az-expired"] {
		t.Fatalf("warned %v, want %v; log:\n%s", warned, want, logs.String())
	}
	for org, c := range ciphers {
		if strings.Contains(logs.String(), c[:40]) || strings.Contains(emf.String(), c[:40]) {
			t.Fatalf("the cipher of %s appears in the output", org)
		}
	}

	// No metric from a run whose scan failed: a partial count must not
	// clear the alarm.
	var after testenv.SyncBuffer
	h.Registry, h.Metrics = failingLister{}, &after
	if _, err := h.Handle(ctx, ManualRun(target)); err == nil {
		t.Fatal("a failed scan was not an error")
	}
	if after.String() != "" {
		t.Fatalf("metric emitted after a failed scan: %s", after.String())
	}
}

type failingLister struct{}

func (failingLister) ListParallel(context.Context, int, func(destination.Destination) error, func(registry.InvalidItem)) error {
	return context.DeadlineExceeded
}
