// Package core builds, once, what every function and auditctl share: the
// AWS configuration, the DynamoDB client, the destination registry and the
// delivery ledger, from a config.Config; and the fan-out's handler, which
// needs nothing more.
//
// It must not import the export pipeline (export, delivery, the log store,
// the sinks, sas): the fan-out's binary is built from core rather than from
// internal/app, so that it links none of the code it invokes. internal/app
// builds the rest of the graph on top of a core.App. Only internal/app,
// the functions' mains, cmd/auditctl and internal/localdev import it.
package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registry"
)

// App holds the shared clients and components, built once (at a
// Lambda's cold start) and shared by every invocation.
type App struct {
	Config   config.Config
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	Registry *registry.Registry
	Ledger   *ledger.Ledger // nil without AUDITLOG_LEDGER_TABLE
}

// Load is the fan-out's Config of the environment (config.FromEnvFor:
// what the fan-out requires, and no log store, which it does not open),
// then the App (New): what the fan-out function starts with.
func Load(ctx context.Context) (*App, error) {
	c, err := config.FromEnvFor(config.FanOut)
	if err != nil {
		return nil, err
	}
	return New(ctx, c)
}

// New loads the AWS configuration the standard way (environment, shared
// config, role), with opts on top (the local stack's demo gives each
// component its own identity's credentials), and builds the App.
func New(ctx context.Context, c config.Config, opts ...func(*awsconfig.LoadOptions) error) (*App, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	a := &App{Config: c, AWS: awsCfg, DynamoDB: db, Registry: registry.New(db, c.RegistryTable)}
	if c.LedgerTable != "" {
		a.Ledger = ledger.New(db, c.LedgerTable)
	}
	return a, nil
}

// FanOut builds the fan-out handler: the registry, and a Lambda client
// whose standard retryer has more attempts and a longer backoff than the
// default, so that Invoke throttling (TooManyRequestsException) during a
// burst of thousands of orgs is ridden out. The Lambda endpoint is the
// standard one (AWS_ENDPOINT_URL_LAMBDA points it at an emulator).
func (a *App) FanOut() (*fanoutfn.Handler, error) {
	if a.Config.ExportFunction == "" {
		return nil, fmt.Errorf("environment variable %s is not set", config.EnvExportFunction)
	}
	lc := awslambda.NewFromConfig(a.AWS, func(o *awslambda.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 10
			so.MaxBackoff = 20 * time.Second
		})
	})
	h := &fanoutfn.Handler{Registry: a.Registry, Lambda: lc, ExportFunction: a.Config.ExportFunction,
		Concurrency: a.Config.FanOutConcurrency, Segments: 4, Log: slog.Default()}
	if a.Ledger != nil { // catch-up of undelivered days needs the ledger
		h.Ledger = a.Ledger
	}
	return h, nil
}
