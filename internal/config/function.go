package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Function is one of the Lambda functions, named as its folder under
// functions/ (and the stack's function names) name it.
type Function string

const (
	Export Function = "export"
	FanOut Function = "fanout"
	Retry  Function = "retry"
	Ingest Function = "ingest"
	// Compact is the compaction function (functions/compact), which the
	// compaction state machine runs once per org bucket. It reads its
	// configuration with FromEnvFor: it opens no log store and no registry.
	Compact Function = "compact"
	// API is the self-service HTTP API's function (functions/api),
	// behind API Gateway.
	API Function = "api"
)

// Functions are all of them, as the stack deploys them.
var Functions = []Function{Export, FanOut, Retry, Ingest, Compact, API}

// functionVars is what each function requires (its cold start fails
// without) and what else it reads. A variable outside both does nothing
// there: in a function's environment it is a mistake (Validate). A
// function that holds the log store (store) also requires the variable of
// its kind (StoreVariable), which its optional list therefore holds.
var functionVars = map[Function]struct {
	required, optional []string
	store              bool
}{
	// Every delivered file gets its signed manifest: the signing key is
	// required where files are delivered.
	Export: {
		required: []string{EnvRegistryTable, EnvLedgerTable, EnvSigningKeyID},
		optional: deliveryVars,
		store:    true,
	},
	// The retry function runs exports in process: the export's settings,
	// and its queue.
	Retry: {
		required: []string{EnvRetryQueueURL, EnvRegistryTable, EnvLedgerTable, EnvSigningKeyID},
		optional: deliveryVars,
		store:    true,
	},
	// The fan-out invokes exports: it opens no log store.
	FanOut: {
		required: []string{EnvRegistryTable, EnvExportFunction},
		optional: []string{EnvLedgerTable, EnvFanOutConcurrency}, // the ledger for the catch-up
	},
	Compact: {
		required: []string{EnvLakeBucket},
		optional: []string{EnvLedgerTable}, // to mark org-days stale that late events changed
	},
	Ingest: {
		required: []string{EnvRegistryTable, EnvRejectsBucket},
		optional: append(slices.Clone(storeVars), EnvLakeStream, EnvLedgerTable, EnvIngestIncludePOST, EnvRejectsPrefix), // the ledger for late events
		store:    true,
	},
	// The API reads and changes destinations, reads the ledger, checks
	// ciphers (the SAS keys), hands out the public keys (the signing
	// key's among them: it never signs), queues redeliveries on the
	// export function and writes an audit event of each change it makes
	// to the log store, through the lake's stream as the ingest does. It
	// refuses a redelivery older than the retention.
	API: {
		required: []string{EnvRegistryTable, EnvLedgerTable, EnvExportFunction, EnvSigningKeyID, EnvAPIIssuer, EnvAPIAudience, EnvAPIJWKSURL},
		optional: append(slices.Clone(storeVars), EnvLakeStream, EnvKMSKeyUS, EnvKMSKeyEU, EnvAzureEmulatorHosts, EnvLogStoreRetentionDays),
		store:    true,
	},
}

// storeVars are the log store's settings.
var storeVars = []string{EnvLogStore, EnvLakeBucket}

// deliveryVars are the optional settings of the functions that deliver.
var deliveryVars = append(slices.Clone(storeVars), EnvKMSKeyUS, EnvKMSKeyEU, EnvAzureEmulatorHosts, EnvPartSizeMiB, EnvUploadConcurrency,
	EnvLogStoreRetentionDays, EnvLeaseSeconds, EnvFunctionTimeoutSeconds)

// Required are the variables f's cold start fails without, whatever the
// log store's kind (see HoldsLogStore for the variable of the kind).
func (f Function) Required() []string { return slices.Clone(functionVars[f].required) }

// Optional are the other variables f reads.
func (f Function) Optional() []string { return slices.Clone(functionVars[f].optional) }

// HoldsLogStore reports whether f opens the log store, and so requires
// the variable of its kind (StoreVariable) besides Required.
func (f Function) HoldsLogStore() bool { return functionVars[f].store }

// Require checks that c holds every variable f requires, in their order,
// then the log store's of c's kind if f holds the log store: the error
// names the first missing one.
func (c Config) Require(f Function) error {
	vars, ok := functionVars[f]
	if !ok {
		return fmt.Errorf("config: unknown function %q", f)
	}
	for _, name := range vars.required {
		if c.setting(name) == "" {
			return notSet(name)
		}
	}
	if name := StoreVariable(c.LogStore); vars.store && name != "" && c.setting(name) == "" {
		return notSet(name)
	}
	return nil
}

// Validate checks env as the environment of function f, such as the
// stack gives it: every AUDITLOG_* variable in it must be one f requires
// or reads, every one it requires must be set, and the values must be as
// FromEnv accepts them. Other variables (AWS_*) are not looked at. The
// error lists every problem.
func Validate(env map[string]string, f Function) error {
	vars, ok := functionVars[f]
	if !ok {
		return fmt.Errorf("config: unknown function %q", f)
	}
	var errs []error
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasPrefix(k, Prefix) && !slices.Contains(vars.required, k) && !slices.Contains(vars.optional, k) {
			errs = append(errs, fmt.Errorf("environment variable %s: the %s function does not read it", k, f))
		}
	}
	required := slices.Clone(vars.required)
	if name := StoreVariable(env[EnvLogStore]); vars.store && name != "" {
		required = append(required, name)
	}
	for _, k := range required {
		if env[k] == "" {
			errs = append(errs, fmt.Errorf("environment variable %s is not set: the %s function requires it", k, f))
		}
	}
	if _, err := parse(mapLookup(env)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
