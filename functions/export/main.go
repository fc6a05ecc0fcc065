// Command export is the export Lambda function: one invocation delivers
// one org-day, the Lambda adapter (internal/exportfn) running the ledgered
// delivery that internal/app builds (internal/delivery). Clients are built
// once, at cold start.
//
// A thin main: it reads and checks the settings (internal/config), builds
// the App (internal/app) and starts the exportfn handler on the App's
// delivery; it imports delivery and exportjob only for the signature of the
// handler that fails every invocation after a failed cold start. It holds
// no logic, must not import internal/localdev, and nothing imports it.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/exportjob"
)

func main() {
	log := lambdacontext.NewLogger()
	a, err := build()
	if err != nil {
		// Fail every invocation with the cause, visibly, instead of
		// exiting in a crash loop.
		log.Error("cold start failed", "error", err.Error())
		lambda.Start(func(context.Context, exportjob.Payload) (delivery.Outcome, error) { return delivery.Outcome{}, err })
		return
	}
	a.Sinks.Log = log
	h := &exportfn.Handler{Delivery: a.Delivery(log)}
	lambda.Start(h.Handle)
}

func build() (*app.App, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	// Without the ledger, duplicate invocations would deliver twice.
	if err := cfg.Require(config.Export); err != nil {
		return nil, err
	}
	return app.New(context.Background(), cfg)
}
