# The two commands a new user needs are `make demo` and `make test`; every
# other target is a step of those or a tool for developers.

SHELL := /bin/bash
export GOFLAGS := -mod=mod
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(CURDIR)/node_modules/.bin:$(PATH)

# Pinned tools (also used by .ci/run through these targets).
LOCAL_KMS := github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6
LAMBDA_RIE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
# Python's tools, installed into a virtual environment under .tools/ when
# the machine has none of its own (moto_server and cfn-lint on PATH win).
PY_TOOLS := moto[server]==5.2.1 cfn-lint==1.51.0

# The local stack's folder: state, env file, binaries, emulator data, logs.
LOCAL := .local
DEMO_EVENTS ?= 100000

.PHONY: all tools test unit vet bench demo up down local-bin build clean synth deploy

FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))

all: test

## tools: install the emulators the tests use, from this repository's pins
tools: $(TOOLS)/local-kms $(TOOLS)/aws-lambda-rie node_modules/.package-lock.json
	@if ! command -v moto_server >/dev/null || ! command -v cfn-lint >/dev/null; then \
		command -v python3 >/dev/null || { echo "python3 not found: it runs moto_server and cfn-lint"; exit 1; }; \
		echo "installing $(PY_TOOLS) into .tools/venv"; \
		python3 -m venv .tools/venv && .tools/venv/bin/pip install --quiet --disable-pip-version-check $(foreach t,$(PY_TOOLS),'$(t)') || exit 1; \
		mkdir -p $(TOOLS) && ln -sf ../venv/bin/moto_server ../venv/bin/cfn-lint $(TOOLS)/; \
	fi
	@command -v moto_server >/dev/null || { echo "moto_server not found"; exit 1; }
	@command -v openssl >/dev/null || { echo "openssl not found"; exit 1; }

$(TOOLS)/local-kms:
	GOBIN=$(TOOLS) go install $(LOCAL_KMS)

$(TOOLS)/aws-lambda-rie:
	GOBIN=$(TOOLS) go install $(LAMBDA_RIE)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## demo: the daily job end to end on the local stack: up, three customers, $(DEMO_EVENTS) events, fan-out, files read back, down
demo: local-bin
	@$(LOCAL)/bin/auditctl up --dir $(LOCAL) --export-binary $(LOCAL)/bin/export
	@set -a && . $(LOCAL)/env && set +a && $(LOCAL)/bin/auditctl demo --dir $(LOCAL) --events $(DEMO_EVENTS); \
		rc=$$?; $(LOCAL)/bin/auditctl down --dir $(LOCAL); exit $$rc

## up: start the local stack in the background (then: . .local/env; auditctl ...)
up: local-bin
	@$(LOCAL)/bin/auditctl up --dir $(LOCAL) --export-binary $(LOCAL)/bin/export

## down: stop, by PID, what `make up` started
down:
	@if [ -x $(LOCAL)/bin/auditctl ]; then $(LOCAL)/bin/auditctl down --dir $(LOCAL); else go run ./cmd/auditctl down --dir $(LOCAL); fi

# The CLI, and the export function built for this machine (the Lambda
# emulator runs it as Lambda runs build/export/bootstrap).
local-bin: tools
	go build -o $(LOCAL)/bin/auditctl ./cmd/auditctl
	CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -o $(LOCAL)/bin/export ./functions/export

# go test's default limit of 10 minutes a package is a fixed duration, not
# one derived from the work: the fault suite needs about 4 minutes alone and
# more than 10 on a machine loaded by other runs, so the limit is CI's.
TEST_TIMEOUT ?= 60m

## test: vet, synth + cfn-lint of the CDK stack, then every test, integration tests included (emulators required)
# The synth check builds and synthesizes into a folder of its own, so that
# two runs side by side (CI's demo and tests, a second run in the same
# checkout) never read each other's half-written files.
# The HTTP API's token issuer and audience have no defaults (a deploy
# gives the identity provider's own, docs/deploy.md): the check gives it
# placeholders of a reserved domain that names no provider.
TEST_CDK_CONTEXT := -c apiIssuer=https://idp.example.invalid -c apiAudience=auditlogs-placeholder
test: tools vet
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(MAKE) --no-print-directory synth BUILD_DIR="$$tmp/build" CDK_OUT="$$tmp/cdk.out" CDK_CONTEXT="$(TEST_CDK_CONTEXT) $(CDK_CONTEXT)"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -count=1 -timeout $(TEST_TIMEOUT) ./...

## unit: the tests, skipping those whose emulators are missing
unit:
	go test ./...

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## bench: the delivery benchmarks of docs/benchmarks.md
bench: tools
	@echo "== (a) 1,000,000 generated events -> CSV -> SHA-256 -> discarding sink, one core"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -run '^$$' -bench 'BenchmarkDeliverGenerated' -benchtime 5x -count 3 -cpu 1 ./internal/export/
	@echo "== fan-out: 100,000 enabled destinations through the Lambda client to a local invoke endpoint, without and with the ledger read"
	go test -run '^$$' -bench 'BenchmarkFanOut100k' -benchtime 1x -count 3 ./internal/fanoutfn/
	@echo "== (c) whole process, generated day, peak RSS"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -run '^$$' -bench 'BenchmarkWholeProcessPeakRSS' -benchtime 1x ./internal/export/
	@echo "== ingest: request-log records parsed and classified, one core"
	go test -run '^$$' -bench 'BenchmarkClassify' -count 3 -cpu 1 ./internal/ingest/
	@echo "== ingest: 5,000 records through the Ingester into the log store on moto_server"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -run '^$$' -bench 'BenchmarkIngestMoto' -benchtime 1x -count 3 ./internal/ingest/
	@echo "== compaction: bucket-days of 10^5, 10^6 and 10^7 raw events compacted by a whole process, CPU and peak RSS (10^7: 5 GB of records, 1 GB of gzip, generated once into the temporary folder in about 4 minutes; its compaction takes 6 to 10 minutes and 10 GB of that disk)"
	go test -timeout 60m -run '^$$' -bench 'BenchmarkCompact' -benchtime 1x ./internal/compaction/
	@echo "== lake export: a 10,000,000-event org-day (2.7 GiB of CSV) from the lake on moto_server vs bare GetObject of the same file, the CRC32C and SHA-256 rates, then a whole process's peak RSS"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -timeout 60m -run '^$$' -bench 'BenchmarkExportFromLake' -benchtime 3x -count 2 ./internal/logstore/lakestore/
	@echo "== file formats: 100,000 generated events encoded as csv, csv.gz, jsonl.gz and parquet, one core; the gzip libraries and levels; Parquet's peak heap for a 10,000,000-event day"
	go test -run '^$$' -bench 'BenchmarkEncode' -count 3 -cpu 1 ./internal/fileformat/
	go test -run '^$$' -bench 'BenchmarkDeliverFormats' -benchtime 3x -count 3 -cpu 1 ./internal/export/
	go test -run '^$$' -bench 'BenchmarkGzipChoice' -count 2 -cpu 1 ./internal/fileformat/
	go test -run '^$$' -bench 'BenchmarkParquetPeakHeap' -benchtime 1x ./internal/fileformat/
	@echo "== the self-service API on the local stack: p50 and p99 of GET destination and GET deliveries, side by side with the bare GetItem and Query"
	AUDITLOG_REQUIRE_EMULATORS=1 go test -run '^$$' -bench 'BenchmarkAPILatency' -benchtime 300x -count 3 ./internal/api/

## build: every Lambda function for linux/arm64 (provided.al2023) into build/<function>/bootstrap
BUILD_DIR ?= build
build:
	@for f in $(FUNCTIONS); do \
		echo "$(BUILD_DIR)/$$f/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(BUILD_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# The CDK app (infra/, docs/deploy.md) with the CLI pinned in package.json,
# run from infra/ (cdk.json). Synth needs no AWS credentials (the stack is
# environment-agnostic) and no network: telemetry, notices, version
# reporting and the version check are off, and so is the SDK's EC2
# metadata lookup of a default account. Context goes in CDK_CONTEXT, e.g.
# CDK_CONTEXT="-c stage=prod -c alarmEmail=ops@example.com
# -c apiIssuer=https://idp.example.com -c apiAudience=auditlogs" (the HTTP
# API's issuer and audience are required); deploy options in
# CDK_DEPLOY_FLAGS.
CDK_CONTEXT ?=
CDK_DEPLOY_FLAGS ?=
CDK_OUT := $(CURDIR)/cdk.out
CDK := CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	$(CURDIR)/node_modules/.bin/cdk

## synth: build the functions, synthesize the stack into cdk.out/ and lint the template with cfn-lint
synth: build node_modules/.package-lock.json
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: install Python's cfn-lint (1.51.0 here)"; exit 1; }
	rm -rf $(CDK_OUT)
	cd infra && AWS_EC2_METADATA_DISABLED=true $(CDK) synth --quiet --no-version-reporting --no-notices --output $(CDK_OUT) -c codeDir=$(abspath $(BUILD_DIR)) $(CDK_CONTEXT)
	cfn-lint --config-file infra/.cfnlintrc -- $(CDK_OUT)/*.template.json

## deploy: build, synth and lint, then deploy exactly that cloud assembly with the caller's AWS credentials (docs/deploy.md)
deploy: synth
	cd infra && $(CDK) deploy --app $(CDK_OUT) --no-version-reporting --no-notices $(CDK_DEPLOY_FLAGS)

clean: down
	rm -rf build .local
