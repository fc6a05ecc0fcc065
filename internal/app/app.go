// Package app builds the production object graph (SDK clients, log store,
// registry, sinks, exporter) from the environment, once, for the Lambda
// functions and the CLI alike. Every setting is an environment variable,
// listed in Config, so a deployment and a local stack differ only in their
// environment.
//
// app only wires: the sink opener (internal/sink/opener) is built here
// once and shared by the Exporter, verify and `destination put`. It may
// import any component package, and must not import cmd, functions or
// internal/localdev, which (with tests) are the only ones to import it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/s3rejects"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/opener"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// Config is read from these environment variables.
type Config struct {
	EventsTable   string   // AUDITLOG_EVENTS_TABLE: the log store
	RegistryTable string   // AUDITLOG_REGISTRY_TABLE: the destinations
	LedgerTable   string   // AUDITLOG_LEDGER_TABLE: the delivery ledger (required by the export function; the fan-out's catch-up reads it)
	KMSKeyUS      string   // AUDITLOG_KMS_KEY_US: key ID or ARN for residency us
	KMSKeyEU      string   // AUDITLOG_KMS_KEY_EU: key ID or ARN for residency eu
	EmulatorHosts []string // AUDITLOG_AZURE_EMULATOR_HOSTS: host:port list; empty in production
	Shards        int      // AUDITLOG_SHARDS: partitions per org-day (default 16; a property of the table)
	PartSize      int64    // AUDITLOG_PART_SIZE_MIB: S3 part and Azure block size (default 8)
	Concurrency   int      // AUDITLOG_UPLOAD_CONCURRENCY: parts or blocks in flight (default 4)
	// AUDITLOG_LEASE_SECONDS: how long an export holds its org-day's lease
	// in the ledger (default 1020, 17 minutes). It must exceed
	// FunctionTimeout plus exportjob.LeaseMargin, so that a live export's
	// lease never runs out; tests shorten both to see a dead export's
	// lease run out.
	Lease time.Duration
	// AUDITLOG_FUNCTION_TIMEOUT_SECONDS: the timeout of the function that
	// runs exports (default 900, exportjob.FunctionTimeout; the stack sets
	// it from the same constant as the function's timeout).
	FunctionTimeout time.Duration
	// AUDITLOG_LOG_STORE_RETENTION_DAYS: how long the log store keeps an
	// event (default 35): the TTL the writer sets, and the oldest day the
	// export agrees to deliver (an older day may have lost events to TTL).
	Retention time.Duration

	// The ingest function's settings; the others ignore them.
	IncludePOST   bool   // AUDITLOG_INGEST_INCLUDE_POST: "true" audits creates (POST) too; default false, as the product doc says
	RejectsBucket string // AUDITLOG_REJECTS_BUCKET: where rejected request-log records go (required by the ingest function)
	RejectsPrefix string // AUDITLOG_REJECTS_PREFIX: key prefix in that bucket (default "rejects/")

	// The fan-out's settings; the export ignores them.
	ExportFunction    string // AUDITLOG_EXPORT_FUNCTION: name or ARN of the export function
	FanOutConcurrency int    // AUDITLOG_FANOUT_CONCURRENCY: export invocations in flight (default 16)
}

// FromEnv reads Config; a malformed value is an error naming the variable.
func FromEnv() (Config, error) {
	c := Config{
		EventsTable:   os.Getenv("AUDITLOG_EVENTS_TABLE"),
		RegistryTable: os.Getenv("AUDITLOG_REGISTRY_TABLE"),
		LedgerTable:   os.Getenv("AUDITLOG_LEDGER_TABLE"),
		Shards:        dynamostore.DefaultShards,
		PartSize:      8 << 20,
		Concurrency:   4,
		Lease:         exportjob.Lease,

		FunctionTimeout: exportjob.FunctionTimeout,
		Retention:       dynamostore.DefaultRetention,

		ExportFunction:    os.Getenv("AUDITLOG_EXPORT_FUNCTION"),
		FanOutConcurrency: 16,

		RejectsBucket: os.Getenv("AUDITLOG_REJECTS_BUCKET"),
		RejectsPrefix: "rejects/",
	}
	if v, ok := os.LookupEnv("AUDITLOG_REJECTS_PREFIX"); ok {
		c.RejectsPrefix = v
	}
	switch v := os.Getenv("AUDITLOG_INGEST_INCLUDE_POST"); v {
	case "", "false":
	case "true":
		c.IncludePOST = true
	default:
		return c, fmt.Errorf("environment variable AUDITLOG_INGEST_INCLUDE_POST=%q: want true or false", v)
	}
	readKeyEnv(&c)
	for _, v := range []struct {
		name string
		dst  *int
	}{{EnvShards, &c.Shards}, {"AUDITLOG_UPLOAD_CONCURRENCY", &c.Concurrency}, {"AUDITLOG_FANOUT_CONCURRENCY", &c.FanOutConcurrency}} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return c, fmt.Errorf("environment variable %s=%q: want a positive integer", v.name, s)
			}
			*v.dst = n
		}
	}
	if s := os.Getenv("AUDITLOG_PART_SIZE_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 512 {
			return c, fmt.Errorf("environment variable AUDITLOG_PART_SIZE_MIB=%q: want 5 to 512", s)
		}
		c.PartSize = int64(n) << 20
	}
	if s := os.Getenv("AUDITLOG_LOG_STORE_RETENTION_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			return c, fmt.Errorf("environment variable AUDITLOG_LOG_STORE_RETENTION_DAYS=%q: want a whole number of days, at least 2", s)
		}
		c.Retention = time.Duration(n) * 24 * time.Hour
	}
	if s := os.Getenv("AUDITLOG_LEASE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return c, fmt.Errorf("environment variable AUDITLOG_LEASE_SECONDS=%q: want a positive number of seconds", s)
		}
		c.Lease = time.Duration(n) * time.Second
	}
	if s := os.Getenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || time.Duration(n)*time.Second > exportjob.FunctionTimeout {
			return c, fmt.Errorf("environment variable AUDITLOG_FUNCTION_TIMEOUT_SECONDS=%q: want 1 to %d seconds (Lambda's maximum)", s, int(exportjob.FunctionTimeout.Seconds()))
		}
		c.FunctionTimeout = time.Duration(n) * time.Second
	}
	// An export may run for the whole function timeout: its lease must
	// outlast that by the margin the export leaves unused, or another
	// export could take a live one's org-day over.
	if floor := c.FunctionTimeout + exportjob.LeaseMargin; c.Lease <= floor {
		return c, fmt.Errorf("environment variable AUDITLOG_LEASE_SECONDS=%q: want more than the function's timeout (AUDITLOG_FUNCTION_TIMEOUT_SECONDS, %d) plus the lease margin (%d): at least %d",
			strconv.Itoa(int(c.Lease.Seconds())), int(c.FunctionTimeout.Seconds()), int(exportjob.LeaseMargin.Seconds()), int(floor.Seconds())+1)
	}
	for name, v := range map[string]string{"AUDITLOG_EVENTS_TABLE": c.EventsTable, "AUDITLOG_REGISTRY_TABLE": c.RegistryTable} {
		if v == "" {
			return c, fmt.Errorf("environment variable %s is not set", name)
		}
	}
	return c, nil
}

// App holds the clients and components, built once (at a Lambda's cold
// start) and shared by every invocation.
type App struct {
	Config   Config
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	Store    *dynamostore.Store
	Registry *registry.Registry
	Ledger   *ledger.Ledger // nil without AUDITLOG_LEDGER_TABLE
	Exporter *export.Exporter
	// Sinks is the Exporter's sink opener (built once, here); SAS its
	// decrypter, with which internal/registration checks a cipher before
	// storing it (`auditctl destination put`, the demo).
	Sinks *opener.Opener
	SAS   *sas.Decrypter
}

// EnvShards is the variable of Config.Shards, which the log store names
// when the table's recorded shard count differs from it.
const EnvShards = "AUDITLOG_SHARDS"

// Load is what a Lambda function or auditctl starts with: the Config of
// the environment (FromEnv), then the App (New).
func Load(ctx context.Context) (*App, error) {
	c, err := FromEnv()
	if err != nil {
		return nil, err
	}
	return New(ctx, c)
}

// New loads the AWS configuration the standard way (environment, shared
// config, role), with opts on top (the local stack's demo gives each
// component its own identity's credentials), and builds the App.
func New(ctx context.Context, c Config, opts ...func(*config.LoadOptions) error) (*App, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	store := dynamostore.New(db, c.EventsTable)
	store.Shards, store.ShardsName = c.Shards, EnvShards
	if c.Retention > 0 {
		store.Retention = c.Retention
	}
	reg := registry.New(db, c.RegistryTable)
	sinks := &opener.Opener{
		AWS:        awsCfg,
		SAS:        &sas.Decrypter{KMS: kms.NewFromConfig(awsCfg), KeyIDs: c.KeyIDs(), Policy: c.SASPolicy()},
		S3:         s3sink.Options{PartSize: c.PartSize, Concurrency: c.Concurrency},
		Azure:      azuresink.Options{BlockSize: c.PartSize, Concurrency: c.Concurrency},
		Expiries:   reg,
		Containers: reg,
	}
	a := &App{
		Config: c, AWS: awsCfg, DynamoDB: db, Store: store, Registry: reg,
		Exporter: &export.Exporter{Destinations: reg, Store: store, Sinks: sinks, Retention: c.Retention},
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
		return nil, fmt.Errorf("environment variable AUDITLOG_EXPORT_FUNCTION is not set")
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
		return nil, fmt.Errorf("environment variable AUDITLOG_REJECTS_BUCKET is not set")
	}
	client := s3.NewFromConfig(a.AWS, s3sink.PathStyleForEmulators)
	return &s3rejects.Sink{S3: client, Bucket: a.Config.RejectsBucket, Prefix: a.Config.RejectsPrefix, Log: log}, nil
}

// Timeout is a sane upper bound for one delivery outside Lambda (the CLI).
const Timeout = 15 * time.Minute
