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
	// configuration with FromEnvFor: it has no log store table.
	Compact Function = "compact"
)

// Functions are all of them.
var Functions = []Function{Export, FanOut, Retry, Ingest}

// functionVars is what each function requires (its cold start fails
// without) and what else it reads. A variable outside both does nothing
// there: in a function's environment it is a mistake (Validate).
var functionVars = map[Function]struct{ required, optional []string }{
	Export: {
		required: []string{EnvEventsTable, EnvRegistryTable, EnvLedgerTable},
		optional: deliveryVars,
	},
	// The retry function runs exports in process: the export's settings,
	// and its queue.
	Retry: {
		required: []string{EnvRetryQueueURL, EnvEventsTable, EnvRegistryTable, EnvLedgerTable},
		optional: deliveryVars,
	},
	FanOut: {
		required: []string{EnvEventsTable, EnvRegistryTable, EnvExportFunction},
		optional: []string{EnvLogStore, EnvLedgerTable, EnvFanOutConcurrency}, // the ledger for the catch-up
	},
	Compact: {
		required: []string{EnvLakeBucket},
		optional: []string{EnvLedgerTable}, // to mark org-days stale that late events changed
	},
	Ingest: {
		required: []string{EnvEventsTable, EnvRegistryTable, EnvRejectsBucket},
		optional: []string{EnvLogStore, EnvLakeBucket, EnvLakeStream, EnvLedgerTable, EnvShards, EnvLogStoreRetentionDays, EnvIngestIncludePOST, EnvRejectsPrefix}, // the ledger for late events
	},
}

// deliveryVars are the optional settings of the functions that deliver.
var deliveryVars = []string{EnvLogStore, EnvLakeBucket, EnvKMSKeyUS, EnvKMSKeyEU, EnvAzureEmulatorHosts, EnvShards, EnvPartSizeMiB, EnvUploadConcurrency,
	EnvLogStoreRetentionDays, EnvLeaseSeconds, EnvFunctionTimeoutSeconds}

// Required are the variables f's cold start fails without.
func (f Function) Required() []string { return slices.Clone(functionVars[f].required) }

// Optional are the other variables f reads.
func (f Function) Optional() []string { return slices.Clone(functionVars[f].optional) }

// Require checks that c holds every variable f requires, in their order:
// the error names the first missing one.
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
	for _, k := range vars.required {
		if env[k] == "" {
			errs = append(errs, fmt.Errorf("environment variable %s is not set: the %s function requires it", k, f))
		}
	}
	if _, err := parse(mapLookup(env)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
