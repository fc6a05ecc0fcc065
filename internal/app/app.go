// Package app builds the production object graph (SDK clients, log store,
// registry, sinks, exporter) from the environment, once, for the Lambda
// functions and the CLI alike, from a config.Config. Every setting is an
// environment variable (internal/config), so a deployment and a local
// stack differ only in their environment. The log store is the one the
// configuration names, opened by logstore/factory and held as a
// logstore.Store: app imports no log store provider.
//
// app is the top of the graph: only the functions' mains, cmd/auditctl and
// the local tooling (internal/localdev) import it, never a package it
// wires together.
package app

import (
	"context"
	"errors"
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
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/s3rejects"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
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
	// Sinks is the Exporter's sink opener; SAS its decrypter, which
	// `auditctl destination put` uses to check a cipher before storing it.
	Sinks *Sinks
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
	sinks := &Sinks{
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

// Sinks opens the production sink for a destination.
type Sinks struct {
	AWS   aws.Config // our own credentials, used to call STS
	SAS   *sas.Decrypter
	S3    s3sink.Options
	Azure azuresink.Options
	// Expiries, when set, learns the expiry of every SAS URL decrypted
	// here whose expiry the registry does not hold yet (or holds wrong),
	// so that `auditctl status` and the daily run warn before it runs out.
	Expiries ExpiryRecorder
	// Containers, when set, records and claims the storage account and
	// container of every SAS URL decrypted here whose destination does not
	// hold them yet (registered before they were recorded), and refuses
	// to open a sink on a container that another org holds: the cipher is
	// safe to show, so another org may have registered it (the confused
	// deputy that the registry's claims close, registry/claims.go).
	Containers ContainerRecorder
	// Log receives a failure to record an expiry (slog.Default if nil).
	Log *slog.Logger
}

// ContainerRecorder is the registry's RecordSASContainer.
type ContainerRecorder interface {
	RecordSASContainer(ctx context.Context, org, cipher, account, container string) error
}

// ExpiryRecorder is the registry's RecordSASExpiry.
type ExpiryRecorder interface {
	RecordSASExpiry(ctx context.Context, org, cipher string, expires time.Time) error
}

// Open assumes the customer's role (S3) or decrypts and checks the SAS URL
// (Azure), and returns a sink that writes under the destination's prefix.
func (o *Sinks) Open(ctx context.Context, d destination.Destination) (sink.Sink, error) {
	switch {
	case d.Kind == destination.KindS3 && d.S3 != nil:
		return s3sink.Open(ctx, o.AWS, s3Destination(d), o.S3)
	case d.Kind == destination.KindAzure && d.Azure != nil:
		u, err := o.SAS.Decrypt(ctx, d.Azure.Residency, d.Azure.SASCipher)
		if err != nil {
			return nil, fmt.Errorf("decrypt SAS URL of org %s: %w", d.OrgID, err)
		}
		if err := o.recordContainer(ctx, d, u.Account(), u.Container()); err != nil {
			return nil, err
		}
		o.recordExpiry(ctx, d, u.Expiry())
		opts := o.Azure
		opts.Prefix = d.Prefix
		return azuresink.New(u, opts)
	}
	return nil, fmt.Errorf("org %s: destination kind %q: %w", d.OrgID, d.Kind, sink.ErrInvalidConfig)
}

// s3Destination is d as the S3 sink takes it.
func s3Destination(d destination.Destination) s3sink.Destination {
	return s3sink.Destination{OrgID: d.OrgID, Bucket: d.S3.Bucket, Region: d.S3.Region, RoleARN: d.S3.RoleARN, Prefix: d.Prefix, BucketOwner: d.S3.Owner()}
}

// CheckExternalID checks that an S3 destination's role requires the org
// ID as external ID (s3sink.CheckExternalID: one more AssumeRole, with a
// random external ID, which must be refused), for `destination put` and
// `auditctl verify`, once Open has assumed the role. Other destinations
// have nothing to check.
func (o *Sinks) CheckExternalID(ctx context.Context, d destination.Destination) error {
	if d.Kind != destination.KindS3 || d.S3 == nil {
		return nil
	}
	return s3sink.CheckExternalID(ctx, o.AWS, s3Destination(d))
}

// recordContainer makes sure that the registry holds the container the
// SAS writes to for d's org. Unlike the expiry, a failure stops the
// delivery: a container claimed by another org is a permanent refusal
// (sink.ErrInvalidConfig, for the operator: register the org again with
// the orgs it shares the container with), anything else is transient (a
// retry reads the destination again).
func (o *Sinks) recordContainer(ctx context.Context, d destination.Destination, account, container string) error {
	if o.Containers == nil || (d.Azure.StorageAccount == account && d.Azure.Container == container) {
		return nil
	}
	err := o.Containers.RecordSASContainer(ctx, d.OrgID, d.Azure.SASCipher, account, container)
	switch {
	case errors.Is(err, registry.ErrClaimed):
		return fmt.Errorf("org %s: %w: %w", d.OrgID, err, sink.ErrInvalidConfig)
	case err != nil:
		return fmt.Errorf("org %s: record the SAS URL's storage account and container: %w", d.OrgID, err)
	}
	o.logger().InfoContext(ctx, "recorded the SAS URL's storage account and container", "org_id", d.OrgID, "storage_account", account, "container", container)
	return nil
}

func (o *Sinks) logger() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}

// recordExpiry stores the SAS's expiry if the registry's differs. A
// failure is logged, not returned: the delivery matters more than the
// warning, and the next decryption tries again.
func (o *Sinks) recordExpiry(ctx context.Context, d destination.Destination, expires time.Time) {
	expires = expires.UTC().Truncate(time.Second) // the registry keeps seconds
	if o.Expiries == nil || d.Azure.SASExpiry.Equal(expires) {
		return
	}
	err := o.Expiries.RecordSASExpiry(ctx, d.OrgID, d.Azure.SASCipher, expires)
	log := o.logger()
	if err != nil {
		log.WarnContext(ctx, "record the SAS URL's expiry failed", "org_id", d.OrgID, "sas_expires", expires.Format(time.RFC3339), "error", err.Error())
		return
	}
	log.InfoContext(ctx, "recorded the SAS URL's expiry", "org_id", d.OrgID, "sas_expires", expires.Format(time.RFC3339))
}

// Timeout is a sane upper bound for one delivery outside Lambda (the CLI).
const Timeout = 15 * time.Minute
