// Command fanout is the fan-out Lambda function: on the daily schedule it
// invokes the export function once per enabled org (internal/fanoutfn).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/fanoutfn"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := build()
	if err != nil {
		log.Error("cold start failed", "error", err.Error())
		lambda.Start(func(context.Context, events.EventBridgeEvent) (fanoutfn.Summary, error) {
			return fanoutfn.Summary{}, err
		})
		return
	}
	h.Log = log
	lambda.Start(h.Handle)
}

func build() (*fanoutfn.Handler, error) {
	fn := os.Getenv("AUDITLOG_EXPORT_FUNCTION")
	if fn == "" {
		return nil, fmt.Errorf("environment variable AUDITLOG_EXPORT_FUNCTION is not set")
	}
	cfg, err := app.FromEnv()
	if err != nil {
		return nil, err
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	// Invoke throttling (TooManyRequestsException) is retried by the
	// SDK's standard retryer; more attempts and a longer backoff than the
	// default ride out a burst of thousands of orgs.
	lc := awslambda.NewFromConfig(a.AWS, func(o *awslambda.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 10
			so.MaxBackoff = 20 * time.Second
		})
	})
	return &fanoutfn.Handler{Registry: a.Registry, Lambda: lc, ExportFunction: fn, Concurrency: 16, Segments: 4}, nil
}
