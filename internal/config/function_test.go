package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/config"
)

// stackEnvs are the functions' environments as the stack gives them
// (infra/stack: the log store on the lake), with placeholders for the
// resources' names.
var stackEnvs = map[config.Function]map[string]string{
	config.Export: {
		"AUDITLOG_LOG_STORE": "lake", "AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger",
		"AUDITLOG_KMS_KEY_US": "arn:us", "AUDITLOG_KMS_KEY_EU": "arn:eu", "AUDITLOG_SIGNING_KEY_ID": "arn:sign", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
		"AUDITLOG_LEASE_SECONDS": "1020", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "900", "AWS_LAMBDA_LOG_FORMAT": "JSON",
	},
	config.Retry: {
		"AUDITLOG_LOG_STORE": "lake", "AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger",
		"AUDITLOG_KMS_KEY_US": "arn:us", "AUDITLOG_KMS_KEY_EU": "arn:eu", "AUDITLOG_SIGNING_KEY_ID": "arn:sign", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
		"AUDITLOG_LEASE_SECONDS": "1020", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "900", "AUDITLOG_RETRY_QUEUE_URL": "https://sqs/retry",
	},
	config.FanOut: {
		"AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger",
		"AUDITLOG_EXPORT_FUNCTION": "export", "AUDITLOG_FANOUT_CONCURRENCY": "16",
	},
	config.Ingest: {
		"AUDITLOG_LOG_STORE": "lake", "AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_LAKE_STREAM": "raw",
		"AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger",
		"AUDITLOG_REJECTS_BUCKET": "rejects", "AUDITLOG_REJECTS_PREFIX": "rejects/", "AUDITLOG_INGEST_INCLUDE_POST": "false",
	},
	config.Compact: {"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_LEDGER_TABLE": "ledger"},
	config.API: {
		"AUDITLOG_LOG_STORE": "lake", "AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_LAKE_STREAM": "raw",
		"AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger", "AUDITLOG_EXPORT_FUNCTION": "export",
		"AUDITLOG_KMS_KEY_US": "arn:us", "AUDITLOG_KMS_KEY_EU": "arn:eu", "AUDITLOG_SIGNING_KEY_ID": "arn:sign", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
		"AUDITLOG_API_ISSUER": "https://idp.example.com", "AUDITLOG_API_AUDIENCE": "auditlogs",
		"AUDITLOG_API_JWKS_URL": "https://idp.example.com/.well-known/jwks.json",
	},
}

// TestValidate: each function's environment as the stack gives it passes;
// a variable the function does not read, a required one missing or empty,
// and a malformed value each fail, named.
func TestValidate(t *testing.T) {
	for _, f := range config.Functions {
		env := stackEnvs[f]
		if err := config.Validate(env, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, name := range f.Required() {
			for _, change := range []func(map[string]string){
				func(e map[string]string) { delete(e, name) },
				func(e map[string]string) { e[name] = "" },
			} {
				e := maps.Clone(env)
				change(e)
				if err := config.Validate(e, f); err == nil || !strings.Contains(err.Error(), name+" is not set") {
					t.Errorf("%s without %s: %v, want an error naming it", f, name, err)
				}
			}
		}
		// The variables that some other function reads and f does not,
		// and a misspelt one.
		strangers := []string{"AUDITLOG_EVENT_TABLE"}
		for _, g := range config.Functions {
			for _, name := range append(g.Required(), g.Optional()...) {
				if !reads(f, name) {
					strangers = append(strangers, name)
				}
			}
		}
		for _, name := range strangers {
			e := maps.Clone(env)
			e[name] = "1"
			if err := config.Validate(e, f); err == nil || !strings.Contains(err.Error(), name+": the "+string(f)+" function does not read it") {
				t.Errorf("%s with %s: %v, want an error naming it", f, name, err)
			}
		}
	}
	// A malformed value, as FromEnv refuses it.
	e := maps.Clone(stackEnvs[config.Export])
	e["AUDITLOG_LEASE_SECONDS"] = "900"
	if err := config.Validate(e, config.Export); err == nil || !strings.Contains(err.Error(), `AUDITLOG_LEASE_SECONDS="900"`) {
		t.Errorf("export with a lease of 900 s: %v, want FromEnv's error", err)
	}
	// Every problem is reported, not only the first.
	e = maps.Clone(stackEnvs[config.FanOut])
	delete(e, "AUDITLOG_EXPORT_FUNCTION")
	e["AUDITLOG_PART_SIZE_MIB"] = "8"
	e["AUDITLOG_FANOUT_CONCURRENCY"] = "0"
	err := config.Validate(e, config.FanOut)
	for _, want := range []string{"AUDITLOG_EXPORT_FUNCTION is not set", "AUDITLOG_PART_SIZE_MIB: the fanout function", `AUDITLOG_FANOUT_CONCURRENCY="0"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fan-out with three problems: %v, want %q among them", err, want)
		}
	}
	if err := config.Validate(stackEnvs[config.Export], "exporter"); err == nil {
		t.Error("an unknown function passed")
	}
}

func reads(f config.Function, name string) bool {
	return slices.Contains(append(f.Required(), f.Optional()...), name)
}

// TestRequire: the functions' cold starts check what they require; the
// error names the first missing variable.
func TestRequire(t *testing.T) {
	for _, f := range config.Functions {
		c, err := config.FromMapFor(stackEnvs[f], f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.Require(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if f.HoldsLogStore() {
			if _, err := config.FromMap(stackEnvs[f]); err != nil {
				t.Errorf("%s: FromMap: %v", f, err)
			}
		}
	}
	c, err := config.FromMap(map[string]string{"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_REGISTRY_TABLE": "registry"})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[config.Function]string{
		config.Export: "environment variable AUDITLOG_LEDGER_TABLE is not set",
		config.Retry:  "environment variable AUDITLOG_RETRY_QUEUE_URL is not set",
		config.FanOut: "environment variable AUDITLOG_EXPORT_FUNCTION is not set",
		config.Ingest: "environment variable AUDITLOG_REJECTS_BUCKET is not set",
		config.API:    "environment variable AUDITLOG_LEDGER_TABLE is not set",
	} {
		if err := c.Require(f); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", f, err, want)
		}
	}
	if err := c.Require(config.Compact); err != nil { // the lake's bucket is all it requires
		t.Errorf("compact: %v", err)
	}
	c.RetryQueueURL = "https://sqs/retry"
	if err := c.Require(config.Retry); err == nil || err.Error() != "environment variable AUDITLOG_LEDGER_TABLE is not set" {
		t.Errorf("retry without the ledger: %v", err)
	}
}

// TestAPIRequires: the API function's cold start fails without each of
// the token's settings, and with a JWKS URL that is not https (but for a
// loopback IdP) or a blank issuer, each named with its value.
func TestAPIRequires(t *testing.T) {
	for _, name := range []string{"AUDITLOG_API_ISSUER", "AUDITLOG_API_AUDIENCE", "AUDITLOG_API_JWKS_URL", "AUDITLOG_EXPORT_FUNCTION", "AUDITLOG_SIGNING_KEY_ID"} {
		env := maps.Clone(stackEnvs[config.API])
		delete(env, name)
		if _, err := config.FromMapFor(env, config.API); err == nil || err.Error() != "environment variable "+name+" is not set" {
			t.Errorf("without %s: %v", name, err)
		}
	}
	c, err := config.FromMapFor(stackEnvs[config.API], config.API)
	if err != nil || c.APIIssuer != "https://idp.example.com" || c.APIAudience != "auditlogs" || c.APIJWKSURL != "https://idp.example.com/.well-known/jwks.json" {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, ok := range []string{"http://127.0.0.1:8443/jwks", "http://localhost/jwks", "https://idp.example.com:8443/keys"} {
		env := maps.Clone(stackEnvs[config.API])
		env["AUDITLOG_API_JWKS_URL"] = ok
		if _, err := config.FromMapFor(env, config.API); err != nil {
			t.Errorf("JWKS URL %s: %v", ok, err)
		}
	}
	for name, bad := range map[string][]string{
		"AUDITLOG_API_JWKS_URL": {"http://idp.example.com/jwks", "http://127.0.0.1.example.com/jwks", "ftp://localhost/jwks", "/jwks", "https://user:pw@idp.example.com/jwks", "idp.example.com"},
		"AUDITLOG_API_ISSUER":   {"  "},
		"AUDITLOG_API_AUDIENCE": {"\t"},
	} {
		for _, v := range bad {
			env := maps.Clone(stackEnvs[config.API])
			env[name] = v
			if _, err := config.FromMapFor(env, config.API); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want an error naming it", name, v, err)
			}
			if err := config.Validate(env, config.API); err == nil {
				t.Errorf("Validate: %s=%q passed", name, v)
			}
		}
	}
}

// TestFromEnvFor: the compaction function requires its lake and nothing
// of the log store or the registry.
func TestFromEnvFor(t *testing.T) {
	c, err := config.FromMapFor(map[string]string{"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_LEDGER_TABLE": "ledger"}, config.Compact)
	if err != nil || c.LakeBucket != "lake" || c.LedgerTable != "ledger" {
		t.Fatalf("FromMapFor(compact) = %+v, %v", c, err)
	}
	if _, err := config.FromMapFor(map[string]string{"AUDITLOG_LEDGER_TABLE": "ledger"}, config.Compact); err == nil || !strings.Contains(err.Error(), "AUDITLOG_LAKE_BUCKET is not set") {
		t.Fatalf("compact without its lake: %v", err)
	}
	if _, err := config.FromMapFor(map[string]string{"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_UPLOAD_CONCURRENCY": "0"}, config.Compact); err == nil || !strings.Contains(err.Error(), "AUDITLOG_UPLOAD_CONCURRENCY") {
		t.Fatalf("a malformed value: %v", err)
	}
}

// TestLogStoreVariable: a function that holds the log store requires the
// variable of the store's kind, the lake's bucket of kind lake (the
// default and the only kind); FromEnv requires it too. Another variable
// does not do in its place. The fan-out and the compaction hold no log
// store.
func TestLogStoreVariable(t *testing.T) {
	for kind, want := range map[string]string{"": "AUDITLOG_LAKE_BUCKET", "lake": "AUDITLOG_LAKE_BUCKET", "dynamodb": "", "s3": ""} {
		if got := config.StoreVariable(kind); got != want {
			t.Errorf("StoreVariable(%q) = %q, want %q", kind, got, want)
		}
	}
	base := map[string]string{"AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_LEDGER_TABLE": "ledger", "AUDITLOG_RETRY_QUEUE_URL": "https://sqs/retry",
		"AUDITLOG_REJECTS_BUCKET": "rejects", "AUDITLOG_SIGNING_KEY_ID": "alias/sign", "AUDITLOG_EXPORT_FUNCTION": "export",
		"AUDITLOG_API_ISSUER": "https://idp.example.com", "AUDITLOG_API_AUDIENCE": "auditlogs", "AUDITLOG_API_JWKS_URL": "https://idp.example.com/jwks"}
	for _, f := range []config.Function{config.Export, config.Retry, config.Ingest, config.API} {
		if !f.HoldsLogStore() {
			t.Errorf("%s does not hold the log store", f)
		}
		for _, c := range []struct{ kind, other, missing string }{
			{"", "AUDITLOG_LAKE_STREAM", "AUDITLOG_LAKE_BUCKET"},
			{"lake", "AUDITLOG_LAKE_STREAM", "AUDITLOG_LAKE_BUCKET"},
		} {
			env := maps.Clone(base)
			if c.kind != "" {
				env["AUDITLOG_LOG_STORE"] = c.kind
			}
			env[c.other] = "x" // another of the lake's variables does not do
			want := "environment variable " + c.missing + " is not set"
			if _, err := config.FromMapFor(env, f); err == nil || err.Error() != want {
				t.Errorf("%s, kind %q: FromMapFor: %v, want %q", f, c.kind, err, want)
			}
			if _, err := config.FromMap(env); err == nil || err.Error() != want {
				t.Errorf("%s, kind %q: FromMap: %v, want %q", f, c.kind, err, want)
			}
			if err := config.Validate(env, f); err == nil || !strings.Contains(err.Error(), c.missing+" is not set") {
				t.Errorf("%s, kind %q: Validate: %v, want an error naming %s", f, c.kind, err, c.missing)
			}
			env[c.missing] = "x"
			if _, err := config.FromMapFor(env, f); err != nil {
				t.Errorf("%s, kind %q, with %s: %v", f, c.kind, c.missing, err)
			}
		}
	}
	for _, f := range []config.Function{config.FanOut, config.Compact} {
		if f.HoldsLogStore() {
			t.Errorf("%s holds the log store", f)
		}
		if _, err := config.FromMapFor(stackEnvs[f], f); err != nil {
			t.Errorf("%s without a log store's variable: %v", f, err)
		}
	}
}
