// Command compact is the compaction Lambda function: the compaction state
// machine's Distributed Map invokes it once per org bucket of the lake, and
// it compacts that bucket's raw objects of the days the event names into
// one object per org-day (internal/compactfn, internal/compaction). Clients
// are built once, at cold start.
//
// A thin main: it reads and checks the settings (internal/config, the
// compaction function's: the lake's bucket, and the ledger for stale
// marks), builds the handler (internal/app/compactapp, which auditctl
// compact builds too) and starts it; it imports compactfn only for the
// signature of the handler that fails every invocation after a failed
// cold start. It holds no logic, must not import internal/localdev, and
// nothing imports it.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/app/compactapp"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/config"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := build(log)
	if err != nil {
		// Fail every invocation with the cause, visibly, instead of
		// exiting in a crash loop; the state machine retries it, then
		// fails the execution (its alarm).
		log.Error("cold start failed", "error", err.Error())
		lambda.Start(func(context.Context, compactfn.Event) (compactfn.Output, error) { return compactfn.Output{}, err })
		return
	}
	lambda.Start(h.Handle)
}

func build(log *slog.Logger) (*compactfn.Handler, error) {
	c, err := config.FromEnvFor(config.Compact)
	if err != nil {
		return nil, err
	}
	return compactapp.New(context.Background(), c, log)
}
