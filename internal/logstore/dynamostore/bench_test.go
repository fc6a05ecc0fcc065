package dynamostore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// The benchmark's org-day.
const (
	benchEvents = 100_000
	benchOrg    = "bench-org"
	benchDayStr = "2026-11-24"
)

// Each benchmark runs against two servers:
//
//   - moto: the emulator. It spends about 4 ms of Python per item read (it
//     scans the whole table for each query and serializes attribute by
//     attribute), so a day takes minutes and both benchmarks measure moto.
//   - replay: an in-process server that answers each query with moto's
//     recorded response. The server is then nearly free, so the figures
//     show the client's own cost: HTTP, the SDK's JSON decoding and, for
//     the pipeline, decoding, merging and CSV encoding. This is where the
//     pipeline's overhead over a bare Query loop can be seen; read
//     cpu-ms/op when other processes share the machine.
//
// The full run (load, recording pass, 3 iterations of each on moto) takes
// about 50 minutes on two cores.
var bench struct {
	once   sync.Once
	table  string
	replay *replayServer
	err    error
}

// benchStores returns stores on moto and on the replay server that hold the
// loaded day. Emulator and configs are set up outside the Once, because
// they end the benchmark with FailNow or SkipNow, which must happen in
// every benchmark that needs them.
func benchStores(b *testing.B) (onMoto, onReplay *Store) {
	b.Helper()
	moto := testenv.Moto(b)
	motoClient := dynamodb.NewFromConfig(testenv.AWSConfig(b, testenv.Endpoints{Default: moto.URL}))
	bench.once.Do(func() {
		start := time.Now()
		bench.table, bench.err = loadBenchDay(motoClient)
		b.Logf("loaded %d events into moto in %s", benchEvents, time.Since(start).Round(time.Millisecond))
		// Lives as long as the process, as the shared moto does.
		bench.replay = newReplayServer(moto.URL)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	onMoto = New(motoClient, bench.table)
	onReplay = New(dynamodb.NewFromConfig(testenv.AWSConfig(b, testenv.Endpoints{Default: bench.replay.URL})), bench.table)
	// The first pass through the replay server records moto's answers.
	bench.replay.warm.Do(func() {
		start := time.Now()
		n, err := bareQuery(context.Background(), onReplay)
		if err == nil && n != benchEvents {
			err = fmt.Errorf("recording pass read %d items, want %d", n, benchEvents)
		}
		bench.replay.warmErr = err
		b.Logf("recorded %d responses from moto in %s", bench.replay.size(), time.Since(start).Round(time.Millisecond))
	})
	if bench.replay.warmErr != nil {
		b.Fatal(bench.replay.warmErr)
	}
	return onMoto, onReplay
}

func loadBenchDay(client *dynamodb.Client) (string, error) {
	table := testenv.UniqueName("logstore-bench")
	if err := CreateTable(context.Background(), client, table); err != nil {
		return "", err
	}
	return loadBenchDayInto(New(client, table))
}

// loadBenchDayInto writes the bench day with s and returns s's table.
func loadBenchDayInto(s *Store) (string, error) {
	ctx := context.Background()
	s.WriteConcurrency = 8
	rng := rand.New(rand.NewPCG(11, 12))
	day, _ := audit.ParseDay(benchDayStr)
	events := make([]audit.Event, benchEvents)
	for i := range events {
		// Realistic sizes: IDs like the platform's, a path of about 70
		// bytes, a query on a third of the requests; about 400 bytes per
		// stored item, so each shard is a few 1 MB pages.
		space := fmt.Sprintf("%012x", rng.Uint64()&0xffffffffffff)
		e := audit.Event{
			OrgID: benchOrg, RequestID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()),
			RequestTime:    day.Start().Add(time.Duration(rng.Int64N(int64(24 * time.Hour)))),
			RequestMethod:  [...]string{"PUT", "PATCH", "DELETE", "POST"}[rng.IntN(4)],
			RequestPath:    fmt.Sprintf("/spaces/%s/environments/master/entries/%022x", space, rng.Uint64()),
			ResponseStatus: [...]int{200, 201, 204, 404, 409, 422}[rng.IntN(6)],
			ContentLength:  rng.Int64N(1 << 16),
			Space:          space, Route: "/spaces/:space_id/environments/:environment_id/entries/:entry_id",
			Referrer: "https://app.contentful.com/spaces/" + space + "/entries",
			ActorID:  fmt.Sprintf("user-%022x", rng.Uint64()),
		}
		if i%3 == 0 {
			e.RequestQuery = "locale=en-US&include=2"
		}
		events[i] = e
	}
	// One Write: its chunks of 25 go out WriteConcurrency at a time.
	if err := s.Write(ctx, events); err != nil {
		return "", fmt.Errorf("load bench day: %w", err)
	}
	return s.table, nil
}

// BenchmarkReadDayPipeline is what the export does with a day: ReadDay
// into the CSV encoder, the bytes hashed and dropped.
func BenchmarkReadDayPipeline(b *testing.B) {
	onMoto, onReplay := benchStores(b)
	b.Run("moto", func(b *testing.B) { benchPipeline(b, onMoto) })
	b.Run("replay", func(b *testing.B) { benchPipeline(b, onReplay) })
}

func benchPipeline(b *testing.B, s *Store) {
	day, _ := audit.ParseDay(benchDayStr)
	ctx := context.Background()
	var rows int64
	cpu0 := cpuTime()
	for b.Loop() {
		enc := csvenc.NewEncoder(sha256.New())
		if err := enc.WriteHeader(); err != nil {
			b.Fatal(err)
		}
		n := 0
		err := s.ReadDay(ctx, benchOrg, day, func(e *audit.Event) error {
			n++
			return enc.Write(e)
		})
		if err == nil {
			err = enc.Flush()
		}
		if err != nil {
			b.Fatal(err)
		}
		if n != benchEvents {
			b.Fatalf("read %d events, want %d", n, benchEvents)
		}
		rows += int64(n)
	}
	reportRates(b, rows, cpu0)
}

// BenchmarkBareQuery is the floor for ReadDayPipeline: the same queries of
// the same shards, equally concurrent, only counting the items.
func BenchmarkBareQuery(b *testing.B) {
	onMoto, onReplay := benchStores(b)
	b.Run("moto", func(b *testing.B) { benchBare(b, onMoto) })
	b.Run("replay", func(b *testing.B) { benchBare(b, onReplay) })
}

func benchBare(b *testing.B, s *Store) {
	ctx := context.Background()
	var rows int64
	cpu0 := cpuTime()
	for b.Loop() {
		n, err := bareQuery(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if n != benchEvents {
			b.Fatalf("queried %d items, want %d", n, benchEvents)
		}
		rows += n
	}
	reportRates(b, rows, cpu0)
}

// reportRates reports rows/s and the process's CPU time per op. On a
// machine whose cores are saturated (the replay runs on two), CPU time
// shows the cost of the work more steadily than wall time does, and it is
// not moved by other processes.
func reportRates(b *testing.B, rows int64, cpu0 time.Duration) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareQuery pages through every shard of the bench day at once, as ReadDay
// does, and counts the items.
func bareQuery(ctx context.Context, s *Store) (int64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, s.Shards)
	for shard := range s.Shards {
		wg.Go(func() {
			p := dynamodb.NewQueryPaginator(s.client, s.queryInput(benchOrg, benchDayStr, shard))
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					errs[shard] = err
					return
				}
				n.Add(int64(len(out.Items)))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return n.Load(), nil
}

// replayServer forwards a request it has not seen to moto and answers a
// repeat from memory. Requests are keyed by operation and canonical JSON
// body, because the SDK writes map keys in random order.
type replayServer struct {
	*httptest.Server
	target string

	mu    sync.Mutex
	cache map[string]*recorded

	warm    sync.Once
	warmErr error
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func newReplayServer(target string) *replayServer {
	r := &replayServer{target: target, cache: map[string]*recorded{}}
	r.Server = httptest.NewServer(r)
	return r
}

func (r *replayServer) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cache)
}

func (r *replayServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	canon, _ := json.Marshal(v) // encoding/json sorts map keys
	key := req.Header.Get("X-Amz-Target") + string(canon)
	r.mu.Lock()
	rec := r.cache[key]
	r.mu.Unlock()
	if rec == nil {
		if rec, err = r.forward(req, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if rec.status == http.StatusOK {
			r.mu.Lock()
			r.cache[key] = rec
			r.mu.Unlock()
		}
	}
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body)
}

func (r *replayServer) forward(req *http.Request, body []byte) (*recorded, error) {
	out, err := http.NewRequestWithContext(req.Context(), req.Method, r.target+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	h := resp.Header.Clone()
	h.Del("Content-Length")
	return &recorded{status: resp.StatusCode, header: h, body: b}, nil
}
