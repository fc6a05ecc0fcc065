package compaction_test

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/synth"
	"github.com/contentful/auditlogs/internal/objstore"
	"github.com/contentful/auditlogs/internal/objstore/objtest"
)

// The compaction benchmark: a whole process (this test binary, re-executed)
// compacts one generated bucket-day of raw objects held on the local disk
// and reports its own CPU time and peak RSS. The bucket-day is generated
// once per size into a folder that later runs reuse (AUDITLOG_BENCH_DIR, or
// auditlogs-compaction-bench under the system's temporary folder); 10^7
// events are about 5 GB of raw NDJSON, 0.9 GB of gzip.

// benchOrgs is how many orgs share the benchmark's org bucket: about
// 12,800 orgs in the lake's 64 buckets.
const benchOrgs = 200

// rawObjectBytes is the uncompressed size at which a raw object is cut:
// 64 MiB, the smallest buffer Firehose allows with dynamic partitioning
// (it buffers records before compressing them). A busy bucket fills its
// buffer before the buffer interval ends.
const rawObjectBytes = 64 << 20

// repeatEvery: one event in this many reaches the lake twice (a retried
// PutRecordBatch), a few thousand events later, for compaction to drop.
const repeatEvery = 1000

// benchDay is the bucket-day's day.
var benchDay = func() audit.Day {
	d, err := audit.ParseDay("2026-11-24")
	if err != nil {
		panic(err)
	}
	return d
}()

// fsBucket is an objstore.Bucket in a folder of the local disk, so that
// the benchmark's lake is not held in the heap of the process it
// measures. Each object is one file named by its escaped key (keys such
// as "p/a" and "p/a/2" can both exist); Put writes a temporary file in the
// folder's "%tmp" (no escaped key has that name) and renames it into
// place, so an object is visible whole or not at all.
type fsBucket struct{ dir, tmp string }

func newFSBucket(dir string) (*fsBucket, error) {
	b := &fsBucket{dir: dir, tmp: filepath.Join(dir, "%tmp")}
	if err := os.MkdirAll(b.tmp, 0o755); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *fsBucket) path(key string) string { return filepath.Join(b.dir, url.PathEscape(key)) }

func (b *fsBucket) Get(_ context.Context, key string) (io.ReadCloser, error) {
	f, err := os.Open(b.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fs bucket: %s: %w", key, objstore.ErrNotFound)
	}
	return f, err
}

// ctxReader fails the copy once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (b *fsBucket) Put(ctx context.Context, key string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs bucket: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(b.tmp, "put-*")
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(f, ctxReader{ctx, r}, make([]byte, 256<<10))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), b.path(key))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("fs bucket: put %s: %w", key, err)
	}
	return nil
}

func (b *fsBucket) List(_ context.Context, prefix string, fn func(objstore.Object) error) error {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	var objs []objstore.Object
	for _, d := range entries {
		key, err := url.PathUnescape(d.Name())
		if err != nil || d.IsDir() || !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		objs = append(objs, objstore.Object{Key: key, Size: info.Size(),
			ETag: fmt.Sprintf("%x-%x", info.Size(), info.ModTime().UnixNano())})
	}
	slices.SortFunc(objs, func(a, b objstore.Object) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (b *fsBucket) Delete(_ context.Context, key string) error {
	if err := os.Remove(b.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// TestFSBucketAcceptance: the benchmark's bucket keeps the promises of
// objstore.Bucket that compaction relies on.
func TestFSBucketAcceptance(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := newFSBucket(filepath.Join(t.TempDir(), "lake"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// splitLake reads raw/ from one bucket (the generated bucket-day, shared
// by every run) and keeps everything else (org-days, delivered files,
// manifests) in another, the run's own.
type splitLake struct{ raw, out objstore.Bucket }

func (s splitLake) of(key string) objstore.Bucket {
	if strings.HasPrefix(key, lake.RawPrefix) {
		return s.raw
	}
	return s.out
}

func (s splitLake) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.of(key).Get(ctx, key)
}

func (s splitLake) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, lake.RawPrefix) {
		return fmt.Errorf("split lake: %s: the raw objects are read-only here", key)
	}
	return s.out.Put(ctx, key, r)
}

func (s splitLake) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	if !strings.HasPrefix(prefix, lake.RawPrefix) && strings.HasPrefix(lake.RawPrefix, prefix) {
		return fmt.Errorf("split lake: list %q spans both halves", prefix)
	}
	return s.of(prefix).List(ctx, prefix, fn)
}

func (s splitLake) Delete(ctx context.Context, key string) error { return s.of(key).Delete(ctx, key) }

// rawStats describes a generated bucket-day; written last into its folder,
// it also marks the folder complete.
type rawStats struct {
	Events   int64 `json:"events"`  // distinct events (request IDs)
	Records  int64 `json:"records"` // raw records, repeats included
	Repeats  int64 `json:"repeats"`
	Orgs     int   `json:"orgs"`
	Bucket   int   `json:"bucket"`
	Objects  int   `json:"objects"`
	RawBytes int64 `json:"raw_bytes"` // uncompressed NDJSON
	GzBytes  int64 `json:"gz_bytes"`
}

const rawStatsFile = "bucket-day.json"

// benchDir is where generated bucket-days are kept between runs, in a
// folder named after the raw records' format (the hash of one record), so
// that a change of lake.AppendRaw generates them again.
func benchDir() string {
	if d := os.Getenv("AUDITLOG_BENCH_DIR"); d != "" {
		return d
	}
	sample := audit.Event{OrgID: "format-probe", RequestID: "r", RequestTime: time.Unix(0, 0).UTC(), RequestMethod: "PUT", RequestPath: "/p", ResponseStatus: 200}
	sum := sha256.Sum256(lake.AppendRaw(nil, &sample))
	return filepath.Join(os.TempDir(), "auditlogs-compaction-bench", hex.EncodeToString(sum[:4]))
}

// benchOrgIDs returns n org IDs of one org bucket, shaped like the
// platform's (22 base62 characters), and the bucket.
func benchOrgIDs(n int) ([]string, int) {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	byBucket := map[int][]string{}
	x := uint64(0x9e3779b97f4a7c15)
	for {
		id := make([]byte, 22)
		for i := range id {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			id[i] = digits[x%62]
		}
		org := string(id)
		b := lake.BucketOf(org)
		byBucket[b] = append(byBucket[b], org)
		if len(byBucket[b]) == n {
			return byBucket[b], b
		}
	}
}

// rawBucketDay returns the folder of a generated bucket-day of n events
// and its description, generating it first if no earlier run left it.
func rawBucketDay(tb testing.TB, n int) (string, rawStats) {
	tb.Helper()
	dir := filepath.Join(benchDir(), fmt.Sprintf("raw-v1-%d", n))
	var st rawStats
	if b, err := os.ReadFile(filepath.Join(dir, rawStatsFile)); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			tb.Fatalf("%s: %v", dir, err)
		}
		return dir, st
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.gen-%d", dir, os.Getpid())
	os.RemoveAll(tmp)
	st, err := generateBucketDay(tmp, n)
	if err == nil {
		var b []byte
		b, err = json.Marshal(st)
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, rawStatsFile), b, 0o644)
		}
	}
	if err == nil {
		os.RemoveAll(dir)
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		tb.Fatalf("generate a bucket-day of %d events: %v", n, err)
	}
	tb.Logf("generated %d events (%d raw records, %.0f MiB, %.0f MiB gzip, %d objects) into %s in %s",
		st.Events, st.Records, float64(st.RawBytes)/(1<<20), float64(st.GzBytes)/(1<<20), st.Objects, dir, time.Since(start).Round(time.Second))
	return dir, st
}

// orgStream is one org's generated events, in time order, in batches.
type orgStream struct {
	ch    chan []audit.Event
	batch []audit.Event
	i     int
}

func (s *orgStream) cur() *audit.Event { return &s.batch[s.i] }

// next moves to the next event; false at the end of the org's events.
func (s *orgStream) next() bool {
	s.i++
	if s.i < len(s.batch) {
		return true
	}
	b, ok := <-s.ch
	s.batch, s.i = b, 0
	return ok
}

type streamHeap []*orgStream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	a, b := h[i].cur(), h[j].cur()
	if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
		return c < 0
	}
	return cmp.Less(a.OrgID, b.OrgID)
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*orgStream)) }
func (h *streamHeap) Pop() any {
	s := (*h)[len(*h)-1]
	*h = (*h)[:len(*h)-1]
	return s
}

// generateBucketDay writes a bucket-day of n synthetic events of
// benchOrgs orgs (internal/localdev/synth: realistic routes, IDs and
// sizes, log-normal shares between the orgs) into dir as Firehose writes
// them: the orgs' events interleaved in arrival (request time) order, cut
// into gzip objects of rawObjectBytes of raw records, named in its layout,
// with one event in repeatEvery written again a little later.
func generateBucketDay(dir string, n int) (rawStats, error) {
	orgs, bucket := benchOrgIDs(benchOrgs)
	st := rawStats{Orgs: len(orgs), Bucket: bucket}
	b, err := newFSBucket(dir)
	if err != nil {
		return st, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := synth.Config{Orgs: orgs, Events: n, Day: benchDay, Seed: 20261124}
	counts := synth.Counts(cfg)
	var h streamHeap
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, org := range orgs {
		if counts[org] == 0 {
			continue
		}
		s := &orgStream{ch: make(chan []audit.Event, 1)}
		one := synth.Config{Orgs: []string{org}, Events: counts[org], Day: benchDay, Seed: cfg.Seed}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.ch)
			batch := make([]audit.Event, 0, 512)
			send := func() bool {
				select {
				case s.ch <- batch:
					batch = make([]audit.Event, 0, 512)
					return true
				case <-ctx.Done():
					return false
				}
			}
			err := synth.Generate(ctx, one, func(e *audit.Event) error {
				batch = append(batch, *e)
				if len(batch) == cap(batch) && !send() {
					return ctx.Err()
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				send()
			}
		}()
		s.i = -1
		if s.next() {
			h = append(h, s)
		}
	}
	heap.Init(&h)

	// One raw object: a gzip stream into a Put, cut at rawObjectBytes.
	var (
		zw      *gzip.Writer
		bw      *bufio.Writer
		pw      *io.PipeWriter
		putErr  chan error
		inObj   int64
		line    []byte
		repeats []audit.Event
	)
	open := func(first time.Time) {
		pr, w := io.Pipe()
		pw, putErr = w, make(chan error, 1)
		st.Objects++
		key := fmt.Sprintf("%sauditlogs-raw-1-%s-%012d-%016x.gz", lake.RawBucketPrefix(benchDay, bucket),
			first.UTC().Format("2006-01-02-15-04-05"), st.Objects, uint64(st.Objects)*0x9e3779b97f4a7c15)
		go func() {
			err := b.Put(ctx, key, pr)
			pr.CloseWithError(err)
			putErr <- err
		}()
		zw = gzip.NewWriter(pw)
		bw = bufio.NewWriterSize(zw, 256<<10)
		inObj = 0
	}
	closeObj := func() error {
		err := bw.Flush()
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
		if perr := <-putErr; err == nil {
			err = perr
		}
		zw = nil
		return err
	}
	write := func(e *audit.Event) error {
		if zw == nil {
			open(e.RequestTime)
		}
		line = lake.AppendRaw(line[:0], e)
		if _, err := bw.Write(line); err != nil {
			return err
		}
		st.Records++
		st.RawBytes += int64(len(line))
		inObj += int64(len(line))
		if inObj >= rawObjectBytes {
			return closeObj()
		}
		return nil
	}
	for h.Len() > 0 {
		s := h[0]
		e := s.cur()
		st.Events++
		if err := write(e); err != nil {
			return st, err
		}
		if st.Events%repeatEvery == 0 {
			repeats = append(repeats, *e)
		}
		if len(repeats) == 5 { // written again some thousands of events later
			for i := range repeats {
				if err := write(&repeats[i]); err != nil {
					return st, err
				}
				st.Repeats++
			}
			repeats = repeats[:0]
		}
		if s.next() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	for i := range repeats {
		if err := write(&repeats[i]); err != nil {
			return st, err
		}
		st.Repeats++
	}
	if zw != nil {
		if err := closeObj(); err != nil {
			return st, err
		}
	}
	if st.Events != int64(n) {
		return st, fmt.Errorf("generated %d events, want %d", st.Events, n)
	}
	err = b.List(ctx, lake.RawPrefix, func(o objstore.Object) error { st.GzBytes += o.Size; return nil })
	return st, err
}

// The child of BenchmarkCompact gets its folders through these variables.
const (
	childRawEnv  = "AUDITLOG_BENCH_COMPACT_RAW"
	childOutEnv  = "AUDITLOG_BENCH_COMPACT_OUT"
	childTempEnv = "AUDITLOG_BENCH_COMPACT_TEMP"
)

// compactReport is the child's one JSON line.
type compactReport struct {
	Result compaction.Result `json:"result"`
	// Seconds and CPUSeconds span Compact alone: wall time, and the
	// process's user plus system CPU time (getrusage RUSAGE_SELF).
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// HWMMiB is the process's peak RSS (VmHWM of /proc/self/status);
	// SysMiB what the Go runtime took from the system.
	HWMMiB float64 `json:"hwm_mib"`
	SysMiB float64 `json:"sys_mib"`
	// TempMiB is the largest size of the sorted runs on disk seen (the
	// folder sampled every 100 ms).
	TempMiB float64 `json:"temp_mib"`
	// What the compaction wrote: org-day objects and delivered files.
	OrgDayBytes int64 `json:"orgday_bytes"`
	FileBytes   int64 `json:"file_bytes"`
}

// BenchmarkCompact: a whole process (this test binary, re-executed)
// compacts a generated bucket-day of 10^5, 10^6 and 10^7 events of 200
// orgs (raw gzip objects of 64 MiB of records on the local disk, 0.1% of
// events twice) with the Compactor's defaults (two sorts of
// DefaultRunBytes, runs on the local disk), and reports its rate per CPU
// second (raw input bytes over the child's user+sys CPU time during
// Compact), events per second and its own peak RSS (VmHWM). Peak RSS must
// not grow with the bucket-day. Generating 10^7 events the first time
// takes some minutes; -bench 'BenchmarkCompact/events=100000$' runs one
// size.
func BenchmarkCompact(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			rawDir, st := rawBucketDay(b, n)
			var rep compactReport
			var cpu, wall, hwm, tmp float64
			for b.Loop() {
				out := b.TempDir()
				temp := filepath.Join(out, "tmp")
				if err := os.Mkdir(temp, 0o755); err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestCompactChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), childRawEnv+"="+rawDir, childOutEnv+"="+filepath.Join(out, "lake"), childTempEnv+"="+temp)
				stdout, err := cmd.Output()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, stdout)
				}
				rep = compactReport{}
				err = errors.New("no report")
				for _, line := range bytes.Split(stdout, []byte("\n")) {
					if len(line) > 0 && line[0] == '{' {
						err = json.Unmarshal(line, &rep)
					}
				}
				if err != nil {
					b.Fatalf("child output %q: %v", stdout, err)
				}
				r := rep.Result
				if r.Records != st.Records || r.Rows != st.Events || r.Duplicates != st.Repeats || r.Orgs != st.Orgs || r.Inputs != st.Objects {
					b.Fatalf("child compacted %+v, want %d records, %d rows, %d duplicates, %d orgs, %d inputs",
						r, st.Records, st.Events, st.Repeats, st.Orgs, st.Objects)
				}
				cpu += rep.CPUSeconds
				wall += rep.Seconds
				hwm = max(hwm, rep.HWMMiB)
				tmp = max(tmp, rep.TempMiB)
				os.RemoveAll(out) // the org-days and files of this run: GBs at 10^7
			}
			runs := float64(b.N)
			b.ReportMetric(float64(st.RawBytes)/(1<<20)/(cpu/runs), "raw-MiB/cpu-s")
			b.ReportMetric(float64(st.RawBytes)/(1<<20)/(wall/runs), "raw-MiB/s")
			b.ReportMetric(float64(st.Records)/(wall/runs), "events/s")
			b.ReportMetric(cpu/runs, "cpu-s/op")
			b.ReportMetric(hwm, "peak-RSS-MiB")
			b.ReportMetric(tmp, "runs-disk-MiB")
			b.ReportMetric(float64(st.RawBytes)/(1<<20), "raw-MiB")
			b.ReportMetric(float64(st.GzBytes)/(1<<20), "raw-gz-MiB")
			b.ReportMetric(float64(rep.OrgDayBytes)/(1<<20), "orgday-gz-MiB")
			b.ReportMetric(float64(rep.FileBytes)/(1<<20), "csv-MiB")
		})
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dirBytes is the size of the files below dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestCompactChild is the child of BenchmarkCompact; it does nothing in a
// normal test run.
func TestCompactChild(t *testing.T) {
	rawDir, outDir, temp := os.Getenv(childRawEnv), os.Getenv(childOutEnv), os.Getenv(childTempEnv)
	if rawDir == "" || outDir == "" || temp == "" {
		t.Skip("runs only as the child of BenchmarkCompact")
	}
	var st rawStats
	if b, err := os.ReadFile(filepath.Join(rawDir, rawStatsFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	raw, err := newFSBucket(rawDir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := newFSBucket(outDir)
	if err != nil {
		t.Fatal(err)
	}
	var peakTemp int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peakTemp = max(peakTemp, dirBytes(temp))
			}
		}
	}()
	c := &compaction.Compactor{Lake: splitLake{raw: raw, out: out}, TempDir: temp}
	start, cpu := time.Now(), cpuTime()
	res, err := c.Compact(context.Background(), benchDay, st.Bucket)
	wall, cpuUsed := time.Since(start), cpuTime()-cpu
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	rep := compactReport{Result: res, Seconds: wall.Seconds(), CPUSeconds: cpuUsed.Seconds(), HWMMiB: testenv.PeakRSSMiB(),
		TempMiB: float64(peakTemp) / (1 << 20)}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.SysMiB = float64(ms.Sys) / (1 << 20)
	m, err := out.Get(context.Background(), lake.ManifestKey(benchDay, st.Bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	man, err := lake.DecodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range man.Orgs {
		rep.OrgDayBytes += o.Bytes
		rep.FileBytes += o.File.Bytes
	}
	rep.Result.Changed = nil
	line, _ := json.Marshal(rep)
	fmt.Println(string(line))
}
