package api_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/localidp"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
)

// BenchmarkAPILatency measures the API's own latency on the local stack
// (docs/benchmarks.md): GET destination and GET deliveries (a page of 31
// delivered days) over HTTP, token checked, as the API serves them, side
// by side with the bare read each makes (the registry's GetItem, the
// ledger's Query) through the SDK on the same moto_server. It reports the
// p50 and p99 of single requests, one at a time.
func BenchmarkAPILatency(b *testing.B) {
	ctx := context.Background()
	const org = "bench-api"
	role, err := env.st.CustomerRole(ctx, org)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := env.ops.Registry.Put(ctx, destination.Destination{OrgID: org, Kind: destination.KindS3, Enabled: true,
		S3: &destination.S3{Bucket: localstack.Bucket, Region: "us-east-1", RoleARN: role}}); err != nil {
		b.Fatal(err)
	}
	to := audit.DayOf(time.Now()).AddDays(-1)
	from := to.AddDays(-30)
	for d := from; !to.Before(d); d = d.AddDays(1) {
		if _, err := env.ops.Ledger.Begin(ctx, org, d, "bench", time.Minute, true); err != nil {
			b.Fatal(err)
		}
		if err := env.ops.Ledger.Finish(ctx, org, d, "bench", ledger.Result{Key: "k/" + d.String() + ".csv", Rows: 1000, Bytes: 123456, SHA256: "0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
	tok, err := env.idp.Mint(localidp.Claims{Subject: "bench", OrgIDs: []string{org}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{}
	get := func(path string) func() error {
		return func() error {
			req, _ := http.NewRequest(http.MethodGet, env.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			return nil
		}
	}
	for _, c := range []struct {
		name string
		op   func() error
	}{
		{"destination/api", get(orgPath(org, "/destination"))},
		{"destination/bare-GetItem", func() error { _, err := env.ops.Registry.Get(ctx, org); return err }},
		{"deliveries/api", get(orgPath(org, "/deliveries?from="+from.String()+"&to="+to.String()))},
		{"deliveries/bare-Query", func() error {
			es, _, err := env.ops.Ledger.Page(ctx, org, from, to, 31)
			if err == nil && len(es) != 31 {
				b.Fatalf("%d days, want 31", len(es))
			}
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			if err := c.op(); err != nil { // warm: connections, the JWKS
				b.Fatal(err)
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))].Microseconds()) / 1000 }
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}
