package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
	"github.com/contentful/auditlogs/internal/sink"
)

// discardSink reads the stream to the end, as a real upload does, and keeps
// nothing.
type discardSink struct{}

func (discardSink) Upload(_ context.Context, _ string, r io.Reader, _ sink.Object) error {
	buf := make([]byte, 256<<10)
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkDeliverGenerated is benchmark (a): one org-day of 1,000,000
// events from an in-memory generator through the real encoder and SHA-256
// into a discarding sink. Run it with -cpu 1 for the one-core figure.
func BenchmarkDeliverGenerated(b *testing.B) {
	const events = 1_000_000
	src := &genstore.Store{Events: events}
	var res Result
	b.ReportAllocs()
	for b.Loop() {
		var err error
		res, err = Deliver(context.Background(), src, discardSink{}, "org1", day24, "f.csv")
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows != events {
			b.Fatalf("rows = %d", res.Rows)
		}
	}
	b.ReportMetric(float64(events*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(res.Bytes*int64(b.N))/b.Elapsed().Seconds()/(1<<20), "MiB/s")
}

// BenchmarkDeliverFormats: the export of one org-day of 1,000,000
// generated events in each format, from the events (the path of every
// format but the lake's CSV): encoded into the spool on disk, hashed, then
// read back, checked and handed to a discarding sink. Run it with -cpu 1:
// rows/s on one core.
func BenchmarkDeliverFormats(b *testing.B) {
	const events = 1_000_000
	src := &genstore.Store{Events: events}
	for _, f := range fileformat.Formats() {
		b.Run(string(f), func(b *testing.B) {
			var res Result
			for b.Loop() {
				var err error
				res, err = DeliverFile(context.Background(), src, discardSink{}, "org1", day24, File{Name: "f" + f.Extension(), Format: f, TempDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if res.Rows != events {
					b.Fatalf("rows = %d", res.Rows)
				}
			}
			b.ReportMetric(float64(events*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(res.Bytes)/events, "bytes/row")
		})
	}
}

// childEnv asks the test binary, re-executed, to run one whole delivery
// and report; see TestWholeProcessChild.
const childEnv = "AUDITLOG_BENCH_CHILD_EVENTS"

// BenchmarkWholeProcessPeakRSS is benchmark (c): a whole process delivers a
// generated day of 100,000 and of 10,000,000 events into a discarding sink,
// and the kernel's peak resident set size of that process is reported.
// Peak RSS must not grow with the size of the day.
func BenchmarkWholeProcessPeakRSS(b *testing.B) {
	for _, events := range []int{100_000, 10_000_000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			var maxRSS int64
			var rep childReport
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestWholeProcessChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(events))
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				if err := json.Unmarshal(lastLine(out), &rep); err != nil {
					b.Fatalf("child output %q: %v", out, err)
				}
				if rep.Rows != int64(events) {
					b.Fatalf("child delivered %d rows, want %d", rep.Rows, events)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
			}
			b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(rep.Rows)/rep.Seconds, "rows/s")
			b.ReportMetric(float64(rep.Bytes)/(1<<20), "file-MiB")
		})
	}
}

type childReport struct {
	Rows    int64   `json:"rows"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	SHA256  string  `json:"sha256"`
}

func lastLine(b []byte) []byte {
	lines := splitLines(b)
	for i := len(lines) - 1; i >= 0; i-- {
		if len(lines[i]) > 0 && lines[i][0] == '{' {
			return lines[i]
		}
	}
	return nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

// TestWholeProcessChild is the child of BenchmarkWholeProcessPeakRSS; it
// does nothing in a normal test run.
func TestWholeProcessChild(t *testing.T) {
	n, err := strconv.ParseInt(os.Getenv(childEnv), 10, 64)
	if err != nil {
		t.Skip("runs only as the child of BenchmarkWholeProcessPeakRSS")
	}
	res, err := Deliver(context.Background(), &genstore.Store{Events: n}, discardSink{}, "org1", day24, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(childReport{Rows: res.Rows, Bytes: res.Bytes, Seconds: res.Duration.Seconds(), SHA256: res.SHA256})
	fmt.Println(string(out))
}
