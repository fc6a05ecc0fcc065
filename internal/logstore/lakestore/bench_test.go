package lakestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/checksum"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/sink"
)

// benchEvents is the size of the benchmarks' org-day: ten million events,
// the largest day the service is sized for (AUDITLOG_BENCH_EVENTS sets
// another, to try the benchmark quickly).
var benchEvents = func() int64 {
	if n, err := strconv.ParseInt(os.Getenv("AUDITLOG_BENCH_EVENTS"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}()

const benchOrg = "org1"

// discard reads the stream to the end, as a real upload does.
type discard struct{ n int64 }

func (d *discard) Upload(_ context.Context, _ string, r io.Reader, _ sink.Object) error {
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 1<<20))
	d.n = n
	return err
}

// seedDayFile puts an org-day of n generated events into the lake as
// compaction leaves it for the export: the delivered file (the encoder's
// CSV, streamed) and the bucket-day's manifest naming it.
func seedDayFile(tb testing.TB, b *s3obj.Bucket, day audit.Day, n int64) lake.File {
	tb.Helper()
	ctx := context.Background()
	key := lake.OrgDayFileKey(benchOrg, day)
	pr, pw := io.Pipe()
	c := checksum.NewWriter(pw)
	go func() {
		enc := csvenc.NewEncoder(c)
		err := enc.WriteHeader()
		if err == nil {
			err = (&genstore.Store{Events: n}).ReadDay(ctx, benchOrg, day, enc.Write)
		}
		if err == nil {
			err = enc.Flush()
		}
		pw.CloseWithError(err)
	}()
	if err := b.Put(ctx, key, pr); err != nil {
		tb.Fatal(err)
	}
	f := lake.File{Key: key, Bytes: c.N(), SHA256: c.SHA256(), CRC32C: c.CRC32C()}
	m := &lake.Manifest{Version: lake.ManifestVersion, Day: day, Bucket: lake.BucketOf(benchOrg),
		Orgs: []lake.OrgDay{{Org: benchOrg, Key: lake.OrgDayKey(benchOrg, day), Rows: n, File: f}}}
	var buf bytes.Buffer
	if err := lake.EncodeManifest(&buf, m); err != nil {
		tb.Fatal(err)
	}
	if err := b.Put(ctx, lake.ManifestKey(day, m.Bucket), &buf); err != nil {
		tb.Fatal(err)
	}
	return f
}

func benchLake(tb testing.TB) (*s3.Client, *s3obj.Bucket, *testenv.Server) {
	tb.Helper()
	moto := testenv.StartMoto(tb)
	client := s3.NewFromConfig(testenv.AWSConfig(tb, testenv.Endpoints{Default: moto.URL}), s3obj.PathStyleForEmulators)
	name := testenv.UniqueName("bench-lake")
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatal(err)
	}
	return client, s3obj.New(client, name), moto
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExportFromLake: the export of a 10,000,000-event org-day from
// the lake on moto's S3 into a discarding sink (manifest, file copied with
// its bytes and SHA-256 checked), side by side with the bare baseline,
// GetObject of the same file read to the end and discarded. Run both in
// one invocation: -bench 'ExportFromLake' -count 3.
//
// Figures that bound the export from below: headers-s/op of the bare side
// (GetObject's return, before the first byte of the body: moto reads the
// whole object first), and crc32c, the file's size checksummed from memory
// on one goroutine, as the export checks its copy; sha256 beside it is
// what the copy cost when it was checked by SHA-256 (a manifest without a
// CRC32C still is).
func BenchmarkExportFromLake(b *testing.B) {
	client, bucket, _ := benchLake(b)
	day, _ := audit.ParseDay("2026-11-24")
	f := seedDayFile(b, bucket, day, benchEvents)
	store := &lakestore.Store{Lake: bucket}
	b.Run("bare-GetObject", func(b *testing.B) {
		cpu := cpuTime()
		var headers time.Duration
		for b.Loop() {
			start := time.Now()
			out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket.Name()), Key: aws.String(f.Key)})
			headers += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, out.Body, make([]byte, 1<<20))
			out.Body.Close()
			if err != nil || n != f.Bytes {
				b.Fatalf("read %d of %d bytes: %v", n, f.Bytes, err)
			}
		}
		b.ReportMetric(float64(f.Bytes)*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		b.ReportMetric(float64(benchEvents*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "client-cpu-s/op")
		b.ReportMetric(headers.Seconds()/float64(b.N), "headers-s/op")
	})
	b.Run("export", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			s := &discard{}
			res, err := export.Deliver(context.Background(), store, s, benchOrg, day, "f.csv")
			if err != nil {
				b.Fatal(err)
			}
			if res.Rows != benchEvents || res.Bytes != f.Bytes || s.n != f.Bytes || res.SHA256 != f.SHA256 {
				b.Fatalf("delivered %d rows %d bytes %s, want %d %d %s", res.Rows, res.Bytes, res.SHA256, benchEvents, f.Bytes, f.SHA256)
			}
		}
		b.ReportMetric(float64(f.Bytes)*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		b.ReportMetric(float64(benchEvents*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "client-cpu-s/op")
	})
	b.Run("crc32c", func(b *testing.B) { hashRate(b, f.Bytes, checksum.NewCRC32C()) })
	b.Run("sha256", func(b *testing.B) { hashRate(b, f.Bytes, sha256.New()) })
}

// hashRate reports the rate of h over size bytes from memory.
func hashRate(b *testing.B, size int64, h hash.Hash) {
	buf := make([]byte, 1<<20)
	for b.Loop() {
		h.Reset()
		for left := size; left > 0; left -= int64(len(buf)) {
			h.Write(buf[:min(left, int64(len(buf)))])
		}
		h.Sum(nil)
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
}

// The child of BenchmarkExportFromLakePeakRSS: the lake's endpoint and
// bucket come through these variables.
const (
	childURL    = "AUDITLOG_BENCH_LAKE_URL"
	childBucket = "AUDITLOG_BENCH_LAKE_BUCKET"
)

type childReport struct {
	Rows    int64   `json:"rows"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// What the Go runtime took from the system, and the largest heap.
	SysMiB, HeapMiB float64
	// HWMMiB is the child's own peak RSS (VmHWM of /proc/self/status),
	// counted from its exec: ru_maxrss of a child also counts the pages it
	// shared with the parent between fork and exec, which here holds the
	// seeding's buffers.
	HWMMiB float64
}

// BenchmarkExportFromLakePeakRSS: a whole process (this test binary,
// re-executed) delivers the 10,000,000-event org-day from the lake on moto
// into a discarding sink and reports its own peak RSS (VmHWM).
func BenchmarkExportFromLakePeakRSS(b *testing.B) {
	_, bucket, moto := benchLake(b)
	day, _ := audit.ParseDay("2026-11-24")
	f := seedDayFile(b, bucket, day, benchEvents)
	var maxRSS float64
	var rep childReport
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExportFromLakeChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childURL+"="+moto.URL, childBucket+"="+bucket.Name(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		// The report is the child's one JSON line; go test prints PASS
		// after it.
		err = fmt.Errorf("no report")
		for _, line := range bytes.Split(out, []byte("\n")) {
			if len(line) > 0 && line[0] == '{' {
				err = json.Unmarshal(line, &rep)
			}
		}
		if err != nil {
			b.Fatalf("child output %q: %v", out, err)
		}
		if rep.Rows != benchEvents || rep.Bytes != f.Bytes {
			b.Fatalf("child delivered %d rows, %d bytes", rep.Rows, rep.Bytes)
		}
		maxRSS = max(maxRSS, rep.HWMMiB)
	}
	b.ReportMetric(maxRSS, "peak-RSS-MiB")
	b.ReportMetric(float64(rep.Rows)/rep.Seconds, "rows/s")
	b.ReportMetric(float64(rep.Bytes)/(1<<20), "file-MiB")
	b.ReportMetric(rep.SysMiB, "go-sys-MiB")
}

// TestExportFromLakeChild does nothing in a normal test run.
func TestExportFromLakeChild(t *testing.T) {
	url, name := os.Getenv(childURL), os.Getenv(childBucket)
	if url == "" || name == "" {
		t.Skip("runs only as the child of BenchmarkExportFromLakePeakRSS")
	}
	client := s3.New(s3.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, nil
		})})
	day, _ := audit.ParseDay("2026-11-24")
	start := time.Now()
	res, err := export.Deliver(context.Background(), &lakestore.Store{Lake: s3obj.New(client, name)}, &discard{}, benchOrg, day, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out, _ := json.Marshal(childReport{Rows: res.Rows, Bytes: res.Bytes, Seconds: time.Since(start).Seconds(),
		SysMiB: float64(ms.Sys) / (1 << 20), HeapMiB: float64(ms.HeapSys) / (1 << 20), HWMMiB: testenv.PeakRSSMiB()})
	fmt.Println(string(out))
}
