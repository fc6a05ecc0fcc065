package exportfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sink"
)

type fakeExporter struct {
	err  error
	org  string
	day  audit.Day
	rows int64
}

func (f *fakeExporter) Export(_ context.Context, org string, day audit.Day) (export.Delivery, error) {
	f.org, f.day = org, day
	if f.err != nil {
		return export.Delivery{}, f.err
	}
	return export.Delivery{Result: export.Result{OrgID: org, Day: day, Key: "p/" + org + ".csv", Rows: f.rows, Bytes: 99, SHA256: "abc", Duration: 5 * time.Millisecond}}, nil
}

func invoke(t *testing.T, f *fakeExporter, payload []byte) (map[string]any, []byte, error) {
	t.Helper()
	var logs bytes.Buffer
	h := &Handler{Delivery: &delivery.Service{Exporter: f, Log: slog.New(slog.NewJSONHandler(&logs, nil))}}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	var res map[string]any
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("response %s: %v", out, jerr)
		}
	}
	return res, logs.Bytes(), err
}

// TestSampleEvent drives the JSON contract with events/export.json.
func TestSampleEvent(t *testing.T) {
	payload := testenv.SampleEvent(t, "export.json")
	f := &fakeExporter{rows: 7}
	res, logs, err := invoke(t, f, payload)
	if err != nil {
		t.Fatal(err)
	}
	if f.org != "acme-s3" || f.day.String() != "2026-11-24" {
		t.Fatalf("exported %s %s", f.org, f.day)
	}
	if res["key"] != "p/acme-s3.csv" || res["rows"] != float64(7) || res["day"] != "2026-11-24" {
		t.Fatalf("response %v", res)
	}
	var line map[string]any
	if err := json.Unmarshal(logs, &line); err != nil {
		t.Fatalf("log is not one JSON line: %s", logs)
	}
	for _, k := range []string{"org_id", "day", "key", "rows", "bytes", "sha256", "duration_ms"} {
		if _, ok := line[k]; !ok {
			t.Errorf("delivery log line lacks %s: %s", k, logs)
		}
	}
}

func TestPermanentAndTransient(t *testing.T) {
	cases := []struct {
		name, payload string
		err           error
		permanent     bool
		mention       string
	}{
		{"unknown key", `{"org": "acme", "day": "2026-11-24"}`, nil, true, `unknown field "org"`},
		{"bad org", `{"org_id": "a#b", "day": "2026-11-24"}`, nil, true, "org_id"},
		{"bad day", `{"org_id": "acme", "day": "24.11.2026"}`, nil, true, `day "24.11.2026"`},
		{"negative attempt", `{"org_id": "acme", "day": "2026-11-24", "attempt": -1}`, nil, true, "attempt"},
		{"refused", `{"org_id": "acme", "day": "2026-11-24"}`, errors.Join(sink.ErrAccessDenied, errors.New("AccessDenied")), true, "access denied"},
		{"disabled", `{"org_id": "acme", "day": "2026-11-24"}`, export.ErrDisabled, true, "disabled"},
		{"throttled", `{"org_id": "acme", "day": "2026-11-24"}`, errors.New("ProvisionedThroughputExceeded"), false, "Throughput"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, logs, err := invoke(t, &fakeExporter{err: tc.err}, []byte(tc.payload))
			if err == nil {
				t.Fatal("no error")
			}
			if exportjob.IsPermanent(err) != tc.permanent {
				t.Fatalf("exportjob.IsPermanent(%v) = %v, want %v", err, exportjob.IsPermanent(err), tc.permanent)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if tc.err != nil && !bytes.Contains(logs, []byte(`"permanent":`)) {
				t.Fatalf("failure not logged: %s", logs)
			}
		})
	}
}

// recordingDelivery records the jobs it is given.
type recordingDelivery struct{ jobs []delivery.Job }

func (r *recordingDelivery) RunJob(_ context.Context, j delivery.Job) (delivery.Outcome, error) {
	r.jobs = append(r.jobs, j)
	return delivery.Outcome{Skipped: exportjob.SkippedLeased}, nil
}

// TestJobOfInvocation: the payload becomes the delivery's job, the
// invocation's request ID its lease owner, and the outcome the response.
func TestJobOfInvocation(t *testing.T) {
	r := &recordingDelivery{}
	h := &Handler{Delivery: r}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, []byte(`{"org_id": "acme", "day": "2026-11-24", "attempt": 3, "force": true}`))
	if err != nil || !strings.Contains(string(out), `"skipped":"leased"`) {
		t.Fatalf("response %s, %v", out, err)
	}
	if len(r.jobs) != 1 {
		t.Fatalf("%d jobs", len(r.jobs))
	}
	if j := r.jobs[0]; j.OrgID != "acme" || j.Day.String() != "2026-11-24" || j.Attempt != 3 || !j.Force || j.Owner != "req-7" {
		t.Fatalf("job %+v", j)
	}
	// Outside Lambda there is no request ID: the delivery names an owner.
	if _, err := h.Handle(context.Background(), exportjob.Payload{OrgID: "acme", Day: "2026-11-24"}); err != nil || r.jobs[1].Owner != "" {
		t.Fatalf("outside Lambda: %+v, %v", r.jobs[1], err)
	}
}
