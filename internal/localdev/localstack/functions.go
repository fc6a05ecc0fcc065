package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/app/compactapp"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/lake"
)

// AppAs builds the components with id's credentials, as the function of
// that identity builds them: what it may do is its grants, enforced by
// moto's IAM.
func (s *Stack) AppAs(ctx context.Context, c config.Config, id grants.Identity) (*app.App, error) {
	return app.New(ctx, c, awsconfig.WithCredentialsProvider(s.Identities[id].provider()))
}

// CompactOrgDay compacts the lake bucket that holds org's day, with the
// compaction function's code and identity: what the daily state machine
// runs before the exports, for the one bucket a test wrote to. A day not
// over yet (today) is compacted as if it were, so that a test reads what
// its file would hold; its later events are merged by the next compaction.
func (s *Stack) CompactOrgDay(ctx context.Context, c config.Config, org string, day audit.Day) (compaction.Result, error) {
	h, err := s.compactor(ctx, c)
	if err != nil {
		return compaction.Result{}, err
	}
	h.Now = func() time.Time {
		if over := day.End().Add(time.Second); over.After(time.Now()) {
			return over
		}
		return time.Now()
	}
	return compactBucket(ctx, h, lake.BucketOf(org), day)
}

// compactor is the compaction function's handler (compactapp, what the
// Distributed Map invokes), with the compaction function's identity and
// permissions.
func (s *Stack) compactor(ctx context.Context, c config.Config) (*compactfn.Handler, error) {
	return compactapp.New(ctx, c, slog.New(slog.DiscardHandler), awsconfig.WithCredentialsProvider(s.Identities[grants.Compact].provider()))
}

// compactBucket compacts one bucket-day with h and returns its result.
func compactBucket(ctx context.Context, h *compactfn.Handler, b int, day audit.Day) (compaction.Result, error) {
	out, err := h.Handle(ctx, compactfn.Event{Bucket: &b, Day: day.String()})
	if err != nil {
		return compaction.Result{}, err
	}
	if len(out.Results) != 1 {
		return compaction.Result{}, fmt.Errorf("compaction of bucket %d: %d results, want 1", b, len(out.Results))
	}
	return out.Results[0], nil
}

// Exports is a Lambda client whose Invoke runs the export function's
// handler in this process, as the export identity, one invocation at a
// time as the Lambda emulator runs them, and answers as the emulator
// does (200, with the runtime's error document if the export failed).
// Moto's Lambda runs no code, and the emulator needs a binary: tests of
// what invokes the export (the fan-out, the API's redeliveries) use this.
type Exports struct {
	handler *exportfn.Handler
	mu      sync.Mutex
	n       int
	invoked []exportjob.Payload
}

// InProcessExports builds Exports with the export function's components,
// as the export identity; log receives the deliveries' lines.
func (s *Stack) InProcessExports(ctx context.Context, c config.Config, log *slog.Logger) (*Exports, error) {
	a, err := s.AppAs(ctx, c, grants.Export)
	if err != nil {
		return nil, err
	}
	return &Exports{handler: &exportfn.Handler{Delivery: a.Delivery(log)}}, nil
}

// Invoke runs one export.
func (e *Exports) Invoke(ctx context.Context, in *awslambda.InvokeInput, _ ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error) {
	var p exportjob.Payload
	if err := json.Unmarshal(in.Payload, &p); err != nil {
		return nil, fmt.Errorf("invoke: payload: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	e.invoked = append(e.invoked, p)
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("in-process-%d", e.n)})
	out, err := e.handler.Handle(ctx, p)
	if err != nil {
		doc, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": fmt.Sprintf("%T", err)})
		return &awslambda.InvokeOutput{StatusCode: 200, Payload: doc}, nil
	}
	doc, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &awslambda.InvokeOutput{StatusCode: 200, Payload: doc}, nil
}

// Invoked returns the payloads invoked so far, in order, and forgets them.
func (e *Exports) Invoked() []exportjob.Payload {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.invoked
	e.invoked = nil
	return p
}
