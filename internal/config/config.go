// Package config is the configuration contract of the Lambda functions
// and auditctl: the name of every AUDITLOG_* environment variable, the
// defaults, Config with the one FromEnv that reads and checks it, and, per
// function, the variables it requires and those it may have (Function,
// Validate), against which the stack's environments are checked.
//
// It is a leaf: besides the standard library it imports only the export's
// contract, internal/exportjob, for the timing defaults; never app, a
// store or a sink. Whatever writes the environment (the CDK stack, the
// local stack, the tests) can import it without linking the pipeline.
package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/exportjob"
)

// Prefix begins the name of every variable of the contract.
const Prefix = "AUDITLOG_"

// The variables, named after them. README.md's configuration table lists
// each one (a test holds the two together); Config says what each means.
const (
	EnvLogStore      = "AUDITLOG_LOG_STORE"
	EnvRegistryTable = "AUDITLOG_REGISTRY_TABLE"
	EnvLedgerTable   = "AUDITLOG_LEDGER_TABLE"

	EnvLakeBucket = "AUDITLOG_LAKE_BUCKET"
	EnvLakeStream = "AUDITLOG_LAKE_STREAM"

	EnvKMSKeyUS           = "AUDITLOG_KMS_KEY_US"
	EnvKMSKeyEU           = "AUDITLOG_KMS_KEY_EU"
	EnvAzureEmulatorHosts = "AUDITLOG_AZURE_EMULATOR_HOSTS"
	EnvSigningKeyID       = "AUDITLOG_SIGNING_KEY_ID"

	EnvPartSizeMiB            = "AUDITLOG_PART_SIZE_MIB"
	EnvUploadConcurrency      = "AUDITLOG_UPLOAD_CONCURRENCY"
	EnvLogStoreRetentionDays  = "AUDITLOG_LOG_STORE_RETENTION_DAYS"
	EnvLeaseSeconds           = "AUDITLOG_LEASE_SECONDS"
	EnvFunctionTimeoutSeconds = "AUDITLOG_FUNCTION_TIMEOUT_SECONDS"

	EnvIngestIncludePOST = "AUDITLOG_INGEST_INCLUDE_POST"
	EnvRejectsBucket     = "AUDITLOG_REJECTS_BUCKET"
	EnvRejectsPrefix     = "AUDITLOG_REJECTS_PREFIX"

	EnvExportFunction    = "AUDITLOG_EXPORT_FUNCTION"
	EnvFanOutConcurrency = "AUDITLOG_FANOUT_CONCURRENCY"

	EnvRetryQueueURL          = "AUDITLOG_RETRY_QUEUE_URL"
	EnvRetryDLQURL            = "AUDITLOG_RETRY_DLQ_URL"
	EnvIngestFailuresQueueURL = "AUDITLOG_INGEST_FAILURES_QUEUE_URL"
	EnvAccountID              = "AUDITLOG_ACCOUNT_ID"

	EnvAPIIssuer   = "AUDITLOG_API_ISSUER"
	EnvAPIAudience = "AUDITLOG_API_AUDIENCE"
	EnvAPIJWKSURL  = "AUDITLOG_API_JWKS_URL"

	// Set by the local stack and by the tests' callers, never by a
	// deployment; no function reads them.
	EnvLocalPrincipals  = "AUDITLOG_LOCAL_PRINCIPALS"
	EnvRequireEmulators = "AUDITLOG_REQUIRE_EMULATORS"
)

// The defaults of the settings that have one, and the bounds FromEnv
// checks. The log store's settings (its kind and retention) have none
// here: unset, they stay zero and the store's own defaults apply
// (logstore/factory, lakestore.DefaultRetention), each defined once there.
const (
	DefaultPartSizeMiB       = 8
	MinPartSizeMiB           = 5
	MaxPartSizeMiB           = 512
	DefaultUploadConcurrency = 4
	DefaultFanOutConcurrency = 16
	MinRetentionDays         = 2
	DefaultRejectsPrefix     = "rejects/"

	// DefaultLease outlasts DefaultFunctionTimeout plus
	// exportjob.LeaseMargin; FromEnv refuses a lease that does not
	// outlast the configured timeout so.
	DefaultLease           = exportjob.Lease
	DefaultFunctionTimeout = exportjob.FunctionTimeout // also the most FromEnv accepts: Lambda's maximum
)

// Config is read from the environment variables of the comments.
type Config struct {
	LogStore      string   // AUDITLOG_LOG_STORE: the log store's kind, which logstore/factory opens ("" is its default, lake, the only one)
	RegistryTable string   // AUDITLOG_REGISTRY_TABLE: the destinations
	LedgerTable   string   // AUDITLOG_LEDGER_TABLE: the delivery ledger (required by the export and retry functions; the fan-out's catch-up and the ingest's late events use it)
	LakeBucket    string   // AUDITLOG_LAKE_BUCKET: the S3 data lake's bucket (internal/lake), which the compaction function compacts and the log store reads
	LakeStream    string   // AUDITLOG_LAKE_STREAM: the Firehose stream the ingest writes raw records to; unset, raw objects are written to the lake directly (auditctl, the local stack)
	KMSKeyUS      string   // AUDITLOG_KMS_KEY_US: key ID or ARN for residency us
	KMSKeyEU      string   // AUDITLOG_KMS_KEY_EU: key ID or ARN for residency eu
	EmulatorHosts []string // AUDITLOG_AZURE_EMULATOR_HOSTS: host:port list; empty in production
	SigningKeyID  string   // AUDITLOG_SIGNING_KEY_ID: key ID or ARN of the KMS key (RSA_4096, SIGN_VERIFY) that signs delivered files' manifests; required by what signs (app.NewSigner)
	PartSize      int64    // AUDITLOG_PART_SIZE_MIB: S3 part and Azure block size (default 8)
	Concurrency   int      // AUDITLOG_UPLOAD_CONCURRENCY: parts or blocks in flight (default 4)
	// AUDITLOG_LEASE_SECONDS: how long an export holds its org-day's lease
	// in the ledger (default exportjob.Lease). It must exceed
	// FunctionTimeout plus exportjob.LeaseMargin, so that a live export's
	// lease never runs out; tests shorten both to see a dead export's
	// lease run out.
	Lease time.Duration
	// AUDITLOG_FUNCTION_TIMEOUT_SECONDS: the timeout of the function that
	// runs exports (default 900, exportjob.FunctionTimeout; the stack sets
	// it from the same constant as the function's timeout).
	FunctionTimeout time.Duration
	// AUDITLOG_LOG_STORE_RETENTION_DAYS: how long the log store keeps an
	// event (0: the store's default, lakestore.DefaultRetention): the
	// lake's retention of org-day objects (the stack's lifecycle rule on
	// lake/ comes from the same setting), and so the oldest day the
	// export agrees to deliver (an older day may have lost events), which
	// the export asks the store for.
	Retention time.Duration

	// The ingest function's settings; the others ignore them.
	IncludePOST   bool   // AUDITLOG_INGEST_INCLUDE_POST: "true" audits creates (POST) too; default false, as the product doc says
	RejectsBucket string // AUDITLOG_REJECTS_BUCKET: where rejected request-log records go (required by the ingest function)
	RejectsPrefix string // AUDITLOG_REJECTS_PREFIX: key prefix in that bucket (default "rejects/")

	// The fan-out's settings; the export ignores them.
	ExportFunction    string // AUDITLOG_EXPORT_FUNCTION: name or ARN of the export function
	FanOutConcurrency int    // AUDITLOG_FANOUT_CONCURRENCY: export invocations in flight (default 16)

	// The queues (stack outputs) and our account. The retry function
	// requires its queue. auditctl's redrive, `ingest replay` and
	// policies default flags to these variables, which they read (by
	// these names) before anything else, so that without them a command
	// fails with a usage error, whatever else is missing.
	RetryQueueURL          string // AUDITLOG_RETRY_QUEUE_URL: the queue the export's failed invocations reach
	RetryDLQURL            string // AUDITLOG_RETRY_DLQ_URL: the retry queue's terminal dead-letter queue
	IngestFailuresQueueURL string // AUDITLOG_INGEST_FAILURES_QUEUE_URL: the ingest's on-failure queue
	AccountID              string // AUDITLOG_ACCOUNT_ID: our AWS account, trusted by customers' roles

	// The self-service HTTP API's settings (the api function and
	// `auditctl api serve`): the bearer tokens it accepts are the
	// platform IdP's, checked against its published keys.
	APIIssuer   string // AUDITLOG_API_ISSUER: the tokens' iss
	APIAudience string // AUDITLOG_API_AUDIENCE: their aud
	APIJWKSURL  string // AUDITLOG_API_JWKS_URL: the IdP's JWKS, https (plain http on 127.0.0.1 or localhost only, for a local IdP)
}

// LogStoreLake is the log store's kind whose variables the contract
// knows, the only one (logstore/factory's KindLake; a test there checks
// they agree). "" is the factory's default, lake.
const LogStoreLake = "lake"

// StoreVariable is the variable that a log store of kind requires: the
// lake's bucket of kind lake (and of ""); "" for a kind the contract does
// not know (logstore/factory refuses it, naming it).
func StoreVariable(kind string) string {
	switch kind {
	case "", LogStoreLake:
		return EnvLakeBucket
	}
	return ""
}

// FromEnv reads Config from the environment; a malformed value, or a
// variable that every process holding the log store needs (the log
// store's of its kind, StoreVariable, and the registry's table) and is not
// set, is an error naming the variable and its value. A function that
// holds no log store (the fan-out, the compaction) reads its Config with
// FromEnvFor instead.
func FromEnv() (Config, error) { return read(os.LookupEnv) }

// FromEnvFor reads Config from the environment as function f's cold start
// does: every value checked as FromEnv checks it, and the variables that
// f requires (and only those) required.
func FromEnvFor(f Function) (Config, error) { return readFor(os.LookupEnv, f) }

// FromMapFor is FromEnvFor on env instead of the process environment.
func FromMapFor(env map[string]string, f Function) (Config, error) { return readFor(mapLookup(env), f) }

func readFor(env lookup, f Function) (Config, error) {
	c, err := parse(env)
	if err != nil {
		return c, err
	}
	return c, c.Require(f)
}

// FromMap is FromEnv on env instead of the process's environment.
func FromMap(env map[string]string) (Config, error) { return read(mapLookup(env)) }

// KeysFromEnv reads only the keys' settings (AUDITLOG_KMS_KEY_US,
// AUDITLOG_KMS_KEY_EU, AUDITLOG_AZURE_EMULATOR_HOSTS,
// AUDITLOG_SIGNING_KEY_ID), for the commands that hand out public keys and
// encrypt SAS URLs: they touch no table, so they do not need the variables
// FromEnv requires.
func KeysFromEnv() Config {
	var c Config
	readKeys(&c, os.LookupEnv)
	return c
}

// lookup is os.LookupEnv or a map's.
type lookup func(string) (string, bool)

func mapLookup(env map[string]string) lookup {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func (l lookup) get(k string) string { v, _ := l(k); return v }

func read(env lookup) (Config, error) {
	c, err := parse(env)
	if err != nil {
		return c, err
	}
	for _, name := range []string{StoreVariable(c.LogStore), EnvRegistryTable} {
		if name != "" && c.setting(name) == "" {
			return c, notSet(name)
		}
	}
	return c, nil
}

// parse reads every variable and checks the values that are set; it
// requires none.
func parse(env lookup) (Config, error) {
	c := Config{
		LogStore:      env.get(EnvLogStore),
		RegistryTable: env.get(EnvRegistryTable),
		LedgerTable:   env.get(EnvLedgerTable),
		LakeBucket:    env.get(EnvLakeBucket),
		LakeStream:    env.get(EnvLakeStream),
		PartSize:      DefaultPartSizeMiB << 20,
		Concurrency:   DefaultUploadConcurrency,
		Lease:         DefaultLease,

		FunctionTimeout: DefaultFunctionTimeout,

		ExportFunction:    env.get(EnvExportFunction),
		FanOutConcurrency: DefaultFanOutConcurrency,

		RejectsBucket: env.get(EnvRejectsBucket),
		RejectsPrefix: DefaultRejectsPrefix,

		RetryQueueURL:          env.get(EnvRetryQueueURL),
		RetryDLQURL:            env.get(EnvRetryDLQURL),
		IngestFailuresQueueURL: env.get(EnvIngestFailuresQueueURL),
		AccountID:              env.get(EnvAccountID),

		APIIssuer:   env.get(EnvAPIIssuer),
		APIAudience: env.get(EnvAPIAudience),
		APIJWKSURL:  env.get(EnvAPIJWKSURL),
	}
	if v, ok := env(EnvRejectsPrefix); ok {
		c.RejectsPrefix = v
	}
	switch v := env.get(EnvIngestIncludePOST); v {
	case "", "false":
	case "true":
		c.IncludePOST = true
	default:
		return c, fmt.Errorf("environment variable %s=%q: want true or false", EnvIngestIncludePOST, v)
	}
	readKeys(&c, env)
	if err := c.checkAPI(env); err != nil {
		return c, err
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{EnvUploadConcurrency, &c.Concurrency}, {EnvFanOutConcurrency, &c.FanOutConcurrency}} {
		if s := env.get(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return c, fmt.Errorf("environment variable %s=%q: want a positive integer", v.name, s)
			}
			*v.dst = n
		}
	}
	if s := env.get(EnvPartSizeMiB); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < MinPartSizeMiB || n > MaxPartSizeMiB {
			return c, fmt.Errorf("environment variable %s=%q: want %d to %d", EnvPartSizeMiB, s, MinPartSizeMiB, MaxPartSizeMiB)
		}
		c.PartSize = int64(n) << 20
	}
	if s := env.get(EnvLogStoreRetentionDays); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < MinRetentionDays {
			return c, fmt.Errorf("environment variable %s=%q: want a whole number of days, at least %d", EnvLogStoreRetentionDays, s, MinRetentionDays)
		}
		c.Retention = time.Duration(n) * 24 * time.Hour
	}
	if s := env.get(EnvLeaseSeconds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return c, fmt.Errorf("environment variable %s=%q: want a positive number of seconds", EnvLeaseSeconds, s)
		}
		c.Lease = time.Duration(n) * time.Second
	}
	if s := env.get(EnvFunctionTimeoutSeconds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || time.Duration(n)*time.Second > DefaultFunctionTimeout {
			return c, fmt.Errorf("environment variable %s=%q: want 1 to %d seconds (Lambda's maximum)", EnvFunctionTimeoutSeconds, s, int(DefaultFunctionTimeout.Seconds()))
		}
		c.FunctionTimeout = time.Duration(n) * time.Second
	}
	// An export may run for the whole function timeout: its lease must
	// outlast that by the margin the export leaves unused, or another
	// export could take a live one's org-day over.
	if floor := c.FunctionTimeout + exportjob.LeaseMargin; c.Lease <= floor {
		return c, fmt.Errorf("environment variable %s=%q: want more than the function's timeout (%s, %d) plus the lease margin (%d): at least %d",
			EnvLeaseSeconds, strconv.Itoa(int(c.Lease.Seconds())), EnvFunctionTimeoutSeconds, int(c.FunctionTimeout.Seconds()), int(exportjob.LeaseMargin.Seconds()), int(floor.Seconds())+1)
	}
	return c, nil
}

// checkAPI checks the HTTP API's settings that are set. An issuer or
// audience of blanks would match no token and say nothing of why; a JWKS
// URL over plain http would let anyone on the path hand the API keys of
// their own, so only a loopback IdP (a local stack's, a test's) may use
// it.
func (c Config) checkAPI(env lookup) error {
	for _, v := range []struct{ name, val string }{{EnvAPIIssuer, c.APIIssuer}, {EnvAPIAudience, c.APIAudience}} {
		if _, set := env(v.name); set && v.val != "" && strings.TrimSpace(v.val) == "" {
			return fmt.Errorf("environment variable %s=%q: want the identity provider's value, not blanks", v.name, v.val)
		}
	}
	if c.APIJWKSURL == "" {
		return nil
	}
	u, err := url.Parse(c.APIJWKSURL)
	if err == nil && u.User != nil {
		// Not echoed: the value holds a password.
		return fmt.Errorf("environment variable %s: want a URL without credentials in it", EnvAPIJWKSURL)
	}
	if err != nil || u.Host == "" {
		return fmt.Errorf("environment variable %s=%q: want an absolute https URL", EnvAPIJWKSURL, c.APIJWKSURL)
	}
	switch host := u.Hostname(); {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "127.0.0.1" || host == "localhost"):
	default:
		return fmt.Errorf("environment variable %s=%q: want https (plain http only on 127.0.0.1 or localhost)", EnvAPIJWKSURL, c.APIJWKSURL)
	}
	return nil
}

// readKeys reads the keys' settings: the residencies' KMS keys, the
// emulator hosts a SAS URL may name, and the signing key.
func readKeys(c *Config, env lookup) {
	c.KMSKeyUS = env.get(EnvKMSKeyUS)
	c.KMSKeyEU = env.get(EnvKMSKeyEU)
	c.SigningKeyID = env.get(EnvSigningKeyID)
	c.EmulatorHosts = nil
	if h := strings.TrimSpace(env.get(EnvAzureEmulatorHosts)); h != "" {
		c.EmulatorHosts = strings.Split(h, ",")
	}
}

// setting is the value of a variable that Config holds as it was set (a
// name, URL or account); "" for the others.
func (c Config) setting(name string) string {
	switch name {
	case EnvLogStore:
		return c.LogStore
	case EnvRegistryTable:
		return c.RegistryTable
	case EnvLedgerTable:
		return c.LedgerTable
	case EnvLakeBucket:
		return c.LakeBucket
	case EnvLakeStream:
		return c.LakeStream
	case EnvKMSKeyUS:
		return c.KMSKeyUS
	case EnvKMSKeyEU:
		return c.KMSKeyEU
	case EnvSigningKeyID:
		return c.SigningKeyID
	case EnvRejectsBucket:
		return c.RejectsBucket
	case EnvExportFunction:
		return c.ExportFunction
	case EnvRetryQueueURL:
		return c.RetryQueueURL
	case EnvRetryDLQURL:
		return c.RetryDLQURL
	case EnvIngestFailuresQueueURL:
		return c.IngestFailuresQueueURL
	case EnvAccountID:
		return c.AccountID
	case EnvAPIIssuer:
		return c.APIIssuer
	case EnvAPIAudience:
		return c.APIAudience
	case EnvAPIJWKSURL:
		return c.APIJWKSURL
	}
	return ""
}

func notSet(name string) error { return fmt.Errorf("environment variable %s is not set", name) }
