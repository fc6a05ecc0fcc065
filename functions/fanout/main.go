// Command fanout is the fan-out Lambda function: on the daily schedule it
// invokes the export function once per enabled org (internal/fanoutfn).
//
// A thin main: it builds the handler from internal/app/core (the registry,
// the ledger and a Lambda client; internal/config for the settings) and
// starts it. It must not import internal/app, which links the export
// pipeline that this function only invokes, nor internal/localdev.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/app/core"
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
	h.Metrics = os.Stdout // embedded-metric-format lines (SASExpiringSoon)
	lambda.Start(h.Handle)
}

func build() (*fanoutfn.Handler, error) {
	a, err := core.Load(context.Background())
	if err != nil {
		return nil, err
	}
	return a.FanOut()
}
