// Package app builds the production object graph (SDK clients, log store,
// registry, sinks, exporter, the ledgered delivery) from a config.Config,
// once, for the Lambda functions and the CLI alike. Every setting is an
// environment variable (internal/config), so a deployment and a local
// stack differ only in their environment.
//
// app only wires, on top of internal/app/core (the AWS configuration, the
// DynamoDB client, the registry, the ledger and the fan-out, which the
// fan-out function builds from core alone, without the export pipeline).
// The log store is the one the configuration names, opened by
// logstore/factory and held as a logstore.Store (app imports no log store
// provider); the sink opener (internal/sink/opener) and the delivery
// (Delivery) are built here once. It may import any component package,
// and must not import cmd, functions or internal/localdev, which (with
// tests) are the only ones to import it; nor internal/exportfn or
// internal/retryfn, the adapters that take the delivery from it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/app/core"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/s3rejects"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/seal"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/opener"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// App holds the clients and components, built once (at a Lambda's cold
// start) and shared by every invocation.
type App struct {
	// The shared clients: Config, AWS, DynamoDB, Registry, Ledger, and
	// the fan-out's handler (FanOut).
	*core.App
	Store    logstore.Store // the log store of Config.LogStore
	Exporter *export.Exporter
	// Sinks is the Exporter's sink opener (built once, here); SAS its
	// decrypter, with which internal/registration checks a cipher before
	// storing it (`auditctl destination put`, the demo).
	Sinks *opener.Opener
	SAS   *sas.Decrypter
	// Sealer writes each delivered file's signed manifest: built once
	// (its signer caches the public key) when AUDITLOG_SIGNING_KEY_ID is
	// set, which the delivering functions require; nil without it.
	Sealer *seal.Sealer
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
	base, err := core.New(ctx, c, opts...)
	if err != nil {
		return nil, err
	}
	awsCfg, reg := base.AWS, base.Registry
	sc := factory.Config{Kind: c.LogStore, Lake: factory.Lake{Bucket: c.LakeBucket, Stream: c.LakeStream, Retention: c.Retention}}
	store, err := factory.Open(sc, factory.Clients{S3: s3.NewFromConfig(awsCfg, s3obj.LakeOptions), Firehose: firehose.NewFromConfig(awsCfg)})
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: %w", config.EnvLogStore, c.LogStore, err)
	}
	sinks := &opener.Opener{
		AWS:        awsCfg,
		SAS:        &sas.Decrypter{KMS: kms.NewFromConfig(awsCfg), KeyIDs: KeyIDs(c), Policy: SASPolicy(c)},
		S3:         s3sink.Options{PartSize: c.PartSize, Concurrency: c.Concurrency},
		Azure:      azuresink.Options{BlockSize: c.PartSize, Concurrency: c.Concurrency},
		Expiries:   reg,
		Containers: reg,
	}
	a := &App{
		App: base, Store: store,
		Exporter: &export.Exporter{Destinations: reg, Store: store, Sinks: sinks, Retention: store.Retention()},
		Sinks:    sinks, SAS: sinks.SAS,
	}
	if c.SigningKeyID != "" {
		signer, err := a.Signer()
		if err != nil {
			return nil, err
		}
		a.Sealer = &seal.Sealer{Signer: signer}
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
	if a.Sealer != nil {
		d.Sealer = a.Sealer
	} else {
		// Only outside the functions (which require the key): an
		// operator's auditctl without the stack's environment.
		if log == nil {
			log = slog.Default()
		}
		log.Warn("files are delivered without manifests: " + config.EnvSigningKeyID + " is not set")
	}
	return d
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
