// Command ingest is the ingest Lambda function: triggered by the Kinesis
// stream of the platform's API request logs, it stores the audited
// requests as audit events (internal/ingestfn, internal/ingest). Clients
// are built once, at cold start.
//
// A thin main: it builds the App from the environment (internal/app), takes
// the ingester and the rejects sink from it and starts the ingestfn handler;
// of this module it imports only internal/app and internal/ingestfn. It
// holds no logic, must not import internal/localdev, and nothing imports it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/ingestfn"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := build(log)
	if err != nil {
		log.Error("cold start failed", "error", err.Error())
		// Fail every batch: Kinesis keeps the records until this is
		// fixed (and the iterator age alarm says so).
		lambda.Start(func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			return events.KinesisEventResponse{}, err
		})
		return
	}
	lambda.Start(h.Handle)
}

func build(log *slog.Logger) (*ingestfn.Handler, error) {
	a, err := app.Load(context.Background())
	if err != nil {
		return nil, err
	}
	rejects, err := a.RejectsSink(log)
	if err != nil {
		return nil, err
	}
	in := a.Ingester()
	in.Rejects, in.Log = rejects, log
	return &ingestfn.Handler{Ingester: in, Log: log, Metrics: os.Stdout}, nil
}
