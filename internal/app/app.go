// Package app builds the production object graph (SDK clients, log store,
// registry, sinks, exporter, the ledgered delivery) from the environment,
// once, for the Lambda functions and the CLI alike, from a config.Config. Every setting is an
// environment variable (internal/config), so a deployment and a local
// stack differ only in their environment.
//
// app only wires: the log store is the one the configuration names,
// opened by logstore/factory and held as a logstore.Store (app imports no
// log store provider); the sink opener (internal/sink/opener) is built
// here once and shared by the Exporter, verify and `destination put`. It
// may import any component package, and must not import cmd, functions or
// internal/localdev, which (with tests) are the only ones to import it;
// nor internal/exportfn or internal/retryfn, the adapters that take the
// delivery (Delivery) from it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/s3rejects"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/opener"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// App holds the clients and components, built once (at a Lambda's cold
// start) and shared by every invocation.
type App struct {
	Config   config.Config
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	Store    logstore.Store // the log store of Config.LogStore
	Registry *registry.Registry
	Ledger   *ledger.Ledger // nil without AUDITLOG_LEDGER_TABLE
	Exporter *export.Exporter
	// Sinks is the Exporter's sink opener (built once, here); SAS its
	// decrypter, with which internal/registration checks a cipher before
	// storing it (`auditctl destination put`, the demo).
	Sinks *opener.Opener
	SAS   *sas.Decrypter
}

// Load is what a Lambda function or auditctl starts with: the Config of
// the environment (config.FromEnv), then the App (New).
func Load(ctx context.Context) (*App, error) {
	c, err := config.FromEnv()
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
	sc := factory.Config{Kind: c.LogStore, DynamoDB: factory.DynamoDB{Table: c.EventsTable}}
	sc.DynamoDB.Options.Shards, sc.DynamoDB.Options.ShardsName = c.Shards, config.EnvShards
	sc.DynamoDB.Options.Retention = c.Retention
	store, err := factory.Open(sc, factory.Clients{DynamoDB: db})
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: %w", config.EnvLogStore, c.LogStore, err)
	}
	reg := registry.New(db, c.RegistryTable)
	sinks := &opener.Opener{
		AWS:        awsCfg,
		SAS:        &sas.Decrypter{KMS: kms.NewFromConfig(awsCfg), KeyIDs: KeyIDs(c), Policy: SASPolicy(c)},
		S3:         s3sink.Options{PartSize: c.PartSize, Concurrency: c.Concurrency},
		Azure:      azuresink.Options{BlockSize: c.PartSize, Concurrency: c.Concurrency},
		Expiries:   reg,
		Containers: reg,
	}
	a := &App{
		Config: c, AWS: awsCfg, DynamoDB: db, Store: store, Registry: reg,
		Exporter: &export.Exporter{Destinations: reg, Store: store, Sinks: sinks, Retention: store.Retention()},
		Sinks:    sinks, SAS: sinks.SAS,
	}
	if c.LedgerTable != "" {
		a.Ledger = ledger.New(db, c.LedgerTable)
	}
	return a, nil
}

// Delivery builds the ledgered delivery of one org-day (internal/delivery)
// that the export and retry functions, `auditctl export` and `auditctl
// backfill` run: the Exporter, the ledger when one is configured (without
// it every run delivers), and the configured lease. log receives its
// lines.
func (a *App) Delivery(log *slog.Logger) *delivery.Service {
	d := &delivery.Service{Exporter: a.Exporter, Lease: a.Config.Lease, Log: log}
	if a.Ledger != nil { // not a typed nil in the interface
		d.Ledger = a.Ledger
	}
	return d
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

// Ingester builds the ingester of API request-log records: the log store,
// the classification settings, and the ledger (when configured), which is
// told of events that arrive for days already delivered. The caller sets
// the reject sink: S3 in the ingest function (RejectsSink), a file in the
// CLI.
func (a *App) Ingester() *ingest.Ingester {
	in := &ingest.Ingester{Store: a.Store, Config: ingest.Config{IncludePOST: a.Config.IncludePOST}}
	if a.Ledger != nil {
		in.Late = a.Ledger
	}
	return in
}

// RejectsSink is the ingest function's reject sink: the bucket of
// AUDITLOG_REJECTS_BUCKET in our own account.
func (a *App) RejectsSink(log *slog.Logger) (*s3rejects.Sink, error) {
	if a.Config.RejectsBucket == "" {
		return nil, fmt.Errorf("environment variable %s is not set", config.EnvRejectsBucket)
	}
	client := s3.NewFromConfig(a.AWS, s3sink.PathStyleForEmulators)
	return &s3rejects.Sink{S3: client, Bucket: a.Config.RejectsBucket, Prefix: a.Config.RejectsPrefix, Log: log}, nil
}

// Timeout is a sane upper bound for one delivery outside Lambda (the CLI).
const Timeout = 15 * time.Minute
