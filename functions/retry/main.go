// Command retry is the retry Lambda function: it consumes the queue that
// the export function's failed invocations reach and runs each export
// again, with backoff (internal/retryfn), through the ledgered delivery
// that internal/app builds (internal/delivery). Clients are built once, at
// cold start.
//
// A thin main: it reads and checks the settings (internal/config), builds
// the App (internal/app) and starts the retryfn handler on the App's
// delivery, with an SQS client of its own; of this module it imports only
// config, app and retryfn. It holds no logic, must not import
// internal/localdev, and nothing imports it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/retryfn"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := build(log)
	if err != nil {
		log.Error("cold start failed", "error", err.Error())
		lambda.Start(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, err
		})
		return
	}
	lambda.Start(h.Handle)
}

func build(log *slog.Logger) (*retryfn.Handler, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	// Its queue, and the ledger, without which a retry could deliver a
	// delivered day again.
	if err := cfg.Require(config.Retry); err != nil {
		return nil, err
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	a.Sinks.Log = log
	return &retryfn.Handler{
		Delivery: a.Delivery(log),
		SQS:      sqs.NewFromConfig(a.AWS),
		QueueURL: cfg.RetryQueueURL,
		Log:      log,
		Metrics:  os.Stdout,
	}, nil
}
