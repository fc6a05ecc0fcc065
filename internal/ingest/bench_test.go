package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/synth"
)

// benchRecords returns n realistic request-log records of audited
// requests (synthetic PUT, PATCH and DELETE events on every route, written
// as the platform writes them, times with microseconds).
func benchRecords(tb testing.TB, org string, n int) []Raw {
	tb.Helper()
	day, _ := audit.ParseDay("2026-11-24")
	out := make([]Raw, 0, n)
	err := synth.Generate(context.Background(), synth.Config{Orgs: []string{org}, Events: n, Day: day, Seed: 11}, func(e *audit.Event) error {
		e.RequestTime = e.RequestTime.Add(123 * time.Microsecond)
		out = append(out, Raw{Source: e.RequestID, Data: RecordOf(e)})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkClassify: Parse and Classify of realistic audited records, one
// record an iteration. Run with -cpu 1.
func BenchmarkClassify(b *testing.B) {
	records := benchRecords(b, "bench-org", 10_000)
	var bytes int64
	for _, r := range records {
		bytes += int64(len(r.Data))
	}
	b.SetBytes(bytes / int64(len(records)))
	cfg := Config{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec, err := Parse(records[i].Data, testNow)
		if err != nil {
			b.Fatal(err)
		}
		if _, out := cfg.Classify(&rec); out.Kind != Stored {
			b.Fatalf("%s: %s", records[i].Data, out.Kind)
		}
		if i++; i == len(records) {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIngestMoto: 5,000 records through the Ingester into the lake
// store on moto_server (raw objects written by the lake's direct writer),
// a fresh bucket each iteration.
func BenchmarkIngestMoto(b *testing.B) {
	const n = 5000
	records := benchRecords(b, "bench-org", n)
	for b.Loop() {
		b.StopTimer()
		store := motoStore(b)
		in := &Ingester{Store: store, Now: func() time.Time { return testNow }}
		b.StartTimer()
		c, err := in.Ingest(context.Background(), records)
		if err != nil || c.Stored != n {
			b.Fatalf("%+v, %v", c, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
