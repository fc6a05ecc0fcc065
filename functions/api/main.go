// Command api is the self-service HTTP API's Lambda function, behind API
// Gateway's HTTP API: each invocation is one request, which the Lambda
// adapter (internal/apifn) hands to the API's net/http handler that
// internal/app builds (internal/api). Clients are built once, at cold
// start.
//
// A thin main: it reads and checks the settings (internal/config, the api
// function's), builds the App (internal/app) and its API handler, and
// starts the apifn handler on it. It holds no logic, must not import
// internal/localdev, and nothing imports it.
package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/apifn"
	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := build(log)
	if err != nil {
		// Fail every invocation with the cause, visibly (API Gateway
		// answers 500 and the 5xx alarm fires), instead of exiting in a
		// crash loop.
		log.Error("cold start failed", "error", err.Error())
		lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, err
		})
		return
	}
	lambda.Start((&apifn.Handler{HTTP: h}).Handle)
}

func build(log *slog.Logger) (http.Handler, error) {
	ctx := context.Background()
	// The api function's requirements (the tokens' issuer, audience and
	// keys, the export it queues redeliveries on), checked before any
	// client is built.
	cfg, err := config.FromEnvFor(config.API)
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return a.APIHandler(ctx, log)
}
