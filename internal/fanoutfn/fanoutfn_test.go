package fanoutfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
)

type fakeRegistry []destination.Destination

func (f fakeRegistry) ListParallel(ctx context.Context, _ int, fn func(destination.Destination) error, _ func(registry.InvalidItem)) error {
	for _, d := range f {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

type fakeLambda struct {
	mu       sync.Mutex
	payloads []exportjob.Payload
	fail     map[string]bool
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (f *fakeLambda) Invoke(_ context.Context, in *awslambda.InvokeInput, _ ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	if in.InvocationType != types.InvocationTypeEvent || *in.FunctionName != "export-fn" {
		return nil, fmt.Errorf("unexpected invocation %s of %s", in.InvocationType, *in.FunctionName)
	}
	var p exportjob.Payload
	if err := json.Unmarshal(in.Payload, &p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.payloads = append(f.payloads, p)
	f.mu.Unlock()
	if f.fail[p.OrgID] {
		return nil, errors.New("TooManyRequestsException: Rate Exceeded")
	}
	return &awslambda.InvokeOutput{StatusCode: 202}, nil
}

func orgs(n int, disabled ...string) fakeRegistry {
	off := map[string]bool{}
	for _, o := range disabled {
		off[o] = true
	}
	var r fakeRegistry
	for i := range n {
		org := fmt.Sprintf("org%03d", i)
		r = append(r, destination.Destination{OrgID: org, Enabled: !off[org]})
	}
	return r
}

func run(t *testing.T, reg fakeRegistry, fl *fakeLambda, event string) (Summary, string, error) {
	t.Helper()
	b := testenv.SampleEvent(t, event)
	var logs bytes.Buffer
	h := &Handler{Registry: reg, Lambda: fl, ExportFunction: "export-fn", Concurrency: 3, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), b)
	var sum Summary
	if err == nil {
		if jerr := json.Unmarshal(out, &sum); jerr != nil {
			t.Fatal(jerr)
		}
	}
	return sum, logs.String(), err
}

func TestScheduledEventInvokesEveryEnabledOrgForYesterday(t *testing.T) {
	fl := &fakeLambda{}
	sum, logs, err := run(t, orgs(20, "org003", "org011"), fl, "scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Day != "2026-11-24" || sum.Seen != 20 || sum.Enabled != 18 || sum.Invoked != 18 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	seen := map[string]bool{}
	for _, p := range fl.payloads {
		if p.Day != "2026-11-24" || p.Attempt != 1 || seen[p.OrgID] {
			t.Fatalf("payload %+v (seen before: %v)", p, seen[p.OrgID])
		}
		seen[p.OrgID] = true
	}
	if seen["org003"] || seen["org011"] || len(seen) != 18 {
		t.Fatalf("invoked %v", seen)
	}
	if m := fl.maxSeen.Load(); m > 3 {
		t.Fatalf("%d invocations in flight, concurrency is 3", m)
	}
	if !strings.Contains(logs, `"invoked":18`) {
		t.Fatalf("summary not logged: %s", logs)
	}
}

func TestManualRunUsesDetailDay(t *testing.T) {
	fl := &fakeLambda{}
	sum, _, err := run(t, orgs(2), fl, "manual-run.json")
	if err != nil || sum.Day != "2026-11-20" || fl.payloads[0].Day != "2026-11-20" {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
}

func TestFailedInvocationsNameTheirOrgs(t *testing.T) {
	fl := &fakeLambda{fail: map[string]bool{"org002": true, "org007": true}}
	_, logs, err := run(t, orgs(10), fl, "scheduled.json")
	if err == nil || !strings.Contains(err.Error(), "2 orgs: org002, org007") {
		t.Fatalf("err = %v, want the failed orgs named", err)
	}
	if len(fl.payloads) != 10 {
		t.Fatalf("%d invocations: one failure must not stop the others", len(fl.payloads))
	}
	if !strings.Contains(logs, `"failed":2`) {
		t.Fatalf("summary not logged: %s", logs)
	}
}

func TestBadDetailIsPermanent(t *testing.T) {
	h := &Handler{Registry: orgs(1), Lambda: &fakeLambda{}, ExportFunction: "export-fn", Log: slog.New(slog.DiscardHandler)}
	_, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{"time":"2026-11-25T01:00:00Z","detail":{"day":"yesterday"}}`))
	if !exportjob.IsPermanent(err) || !strings.Contains(err.Error(), `day "yesterday"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestManualRunTargetsItsDay: the event auditctl builds names its day.
func TestManualRunTargetsItsDay(t *testing.T) {
	day, _ := audit.ParseDay("2026-10-03")
	got, err := TargetDay(ManualRun(day))
	if err != nil || got != day {
		t.Fatalf("TargetDay = %v, %v; want %v", got, err, day)
	}
}
