// Package reliability is the fault-injection suite of "Retries that lose
// nothing": the production wiring (app.New, App.Delivery behind
// exportfn.Handler) delivers org-days to the emulators through
// fault-injecting proxies (internal/localdev/faultproxy) that make S3, STS,
// KMS, DynamoDB and Azure fail the way the cloud does, and every scenario
// ends with exactly one complete file per org-day, a consistent ledger,
// nothing lost, nothing duplicated, nothing partial.
//
// Run it alone (it takes a few minutes):
//
//	AUDITLOG_REQUIRE_EMULATORS=1 go test -count=1 -run TestFaults ./internal/localdev/reliability/
//
// and with AUDITLOG_WRITE_RELIABILITY=1 to rewrite the results table in
// docs/reliability.md.
//
// The suite builds no delivery of its own: it takes the one internal/app
// builds (App.Delivery), as the functions do, and a scenario that needs a
// shorter lease copies it.
package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/localdev/synth"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/registry"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	// partSizeMiB is the S3 part and Azure block size of the suite,
	// AUDITLOG_PART_SIZE_MIB's smallest value.
	partSizeMiB = 5
	// multipartEvents fill a file of about 6 MB, two parts or blocks,
	// with padded events (see padded); smallEvents fit in one part.
	multipartEvents = 1400
	smallEvents     = 1000
	// maxAttempts bounds the invocations of one run, as Lambda's async
	// retries and the retry function do (with far longer delays).
	maxAttempts = 3
	// functionTimeoutSeconds is the timeout of the function that is
	// killed (the Lambda emulator's, AUDITLOG_FUNCTION_TIMEOUT_SECONDS), and
	// leaseSeconds its AUDITLOG_LEASE_SECONDS: how long its org-day stays
	// leased after its death, the least config.FromEnv accepts (more than the
	// timeout plus exportjob.LeaseMargin).
	functionTimeoutSeconds = 90
	leaseSeconds           = functionTimeoutSeconds + 61
	// concurrency is how many scenarios run at once: moto serves one
	// Query at a time, but the SDKs' back-off waits overlap.
	concurrency = 4

	docMarkerBegin = "<!-- fault-suite:begin -->"
	docMarkerEnd   = "<!-- fault-suite:end -->"
)

// suite is the stack, the proxies and the production wiring shared by the
// scenarios, each of which works on an org-day of its own.
type suite struct {
	st                       *localstack.Stack
	motoURL                  string
	s3p, stsp, dbp, kmsp, az *faultproxy.Proxy

	cfg config.Config
	a   *app.App
	d   *delivery.Service // the export function's delivery (App.Delivery)
	h   *exportfn.Handler // the export function's handler, around d
	log *slog.Logger      // d's log, writing to logs
	day audit.Day

	// Direct clients of the emulators, past the proxies, for setting up
	// and checking.
	s3c    *s3.Client
	ledger *ledger.Ledger
	reg    *registry.Registry
	raw    logstore.Writer // raw objects into the lake, as Firehose writes them
	comp   *compaction.Compactor
	blobs  *container.Client
	// compactMu lets one compaction run at a time: scenarios' orgs share
	// buckets, and the daily state machine never runs two compactions of a
	// bucket-day at once.
	compactMu sync.Mutex

	logs *testenv.SyncBuffer // the delivery's log lines

	mu        sync.Mutex
	secrets   []string // SAS signatures handed out, never to be seen in output
	errs      []string // error texts returned by the handler
	azureOrgs []string // the orgs registered on the one container, which share it

	buildOnce sync.Once
	exportBin string
	buildErr  error
}

// row is one scenario's line of the results table.
type row struct {
	Scenario   string
	Fault      string
	Outcome    string
	Attempts   int // invocations of the handler or the function
	Hits       int // times the fault fired
	Objects    int // objects under the org's prefix
	Rows       int // CSV records of the delivered file
	Generated  int
	Lost       int // org-days without a complete delivery
	Duplicated int // objects beyond one, rows beyond the generated, deliveries beyond one
	Partial    int // objects that are not the day's complete file
	Incomplete int // S3 multipart uploads or Azure blobs with uncommitted blocks left
}

type scenario struct {
	name  string
	fault string
	run   func(s *suite, t *testing.T, r *row)
}

// TestFaults runs every scenario and prints the results table.
func TestFaults(t *testing.T) {
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob", "aws-lambda-rie")
	start := time.Now()
	s := setup(t)

	scenarios := []scenario{
		// First: its dead lease has to run out while the others run.
		{"killed-mid-stream", fmt.Sprintf("the export function's process (under the Lambda emulator, AUDITLOG_LEASE_SECONDS=%d) killed", leaseSeconds) + " with SIGKILL while its UploadParts are held back; invoked again while its lease runs and after it lapsed", (*suite).killedMidStream},
		// Early too: they wait for short leases to run out.
		{"lease-lapse-commit-held", fmt.Sprintf("two writers: A (lease %s, or %d deliveries' time if longer) held at its commit, the S3 PutObject, until B is done; B invoked while A's lease runs, then once it is free", commitHeldLease, paceFactor), (*suite).leaseLapseCommitHeld},
		{"lease-lapse-record-held", fmt.Sprintf("two writers: A (lease %s, or %d deliveries' time if longer) delivers, its ledger Finish held past its lease; B invoked while the lease runs, then once it ran out; then A's Finish; then the retry", recordHeldLease, paceFactor), (*suite).leaseLapseRecordHeld},
		{"s3-uploadpart-500", "S3 UploadPart of part 1: 500 InternalError, 2 times", func(s *suite, t *testing.T, r *row) {
			s.s3PartFault(t, r, faultproxy.S3Error(500, "InternalError", "We encountered an internal error. Please try again."), 2, 1)
		}},
		{"s3-uploadpart-503", "S3 UploadPart of part 1: 503 ServiceUnavailable, 3 times", func(s *suite, t *testing.T, r *row) {
			s.s3PartFault(t, r, faultproxy.S3Error(503, "ServiceUnavailable", "Service is unable to handle request."), 3, 2)
		}},
		{"s3-uploadpart-slowdown", "S3 UploadPart of part 1: 503 SlowDown, 3 times", func(s *suite, t *testing.T, r *row) {
			s.s3PartFault(t, r, faultproxy.S3Error(503, "SlowDown", "Please reduce your request rate."), 3, 2)
		}},
		{"s3-uploadpart-reset", "S3 UploadPart of part 1: connection reset after 1 MiB of the part, 3 times", func(s *suite, t *testing.T, r *row) {
			s.s3PartFault(t, r, faultproxy.Reset(1<<20), 3, 2)
		}},
		{"s3-complete-500", "S3 CompleteMultipartUpload: 500 InternalError, 3 times", func(s *suite, t *testing.T, r *row) {
			s.s3CompleteFault(t, r, faultproxy.S3Error(500, "InternalError", "We encountered an internal error. Please try again."), 3, 2)
		}},
		{"s3-complete-503", "S3 CompleteMultipartUpload: 503 ServiceUnavailable, 2 times", func(s *suite, t *testing.T, r *row) {
			s.s3CompleteFault(t, r, faultproxy.S3Error(503, "ServiceUnavailable", "Service is unable to handle request."), 2, 1)
		}},
		{"s3-complete-slowdown", "S3 CompleteMultipartUpload: 503 SlowDown, 3 times", func(s *suite, t *testing.T, r *row) {
			s.s3CompleteFault(t, r, faultproxy.S3Error(503, "SlowDown", "Please reduce your request rate."), 3, 2)
		}},
		{"s3-complete-response-lost", "S3 CompleteMultipartUpload applied by S3, its response cut off by a connection reset, once (the SDK's retried Complete succeeds)", (*suite).s3CompleteResponseLost},
		{"azure-block-503", "Azure PUT ?comp=block: 503 ServerBusy, 3 times", func(s *suite, t *testing.T, r *row) {
			s.azureFault(t, r, "block", faultproxy.AzureError(503, "ServerBusy", "The server is currently unable to receive requests. Please retry your request."), 3, 1)
		}},
		{"azure-block-outage", "Azure PUT ?comp=block: 500 InternalError on every block until the first attempt gave up", func(s *suite, t *testing.T, r *row) {
			s.azureFault(t, r, "block", faultproxy.AzureError(500, "InternalError", "Server encountered an internal error. Please try again after some time."), 0, 2)
		}},
		{"azure-commit-500", "Azure PUT ?comp=blocklist: 500 InternalError, 5 times", func(s *suite, t *testing.T, r *row) {
			s.azureFault(t, r, "blocklist", faultproxy.AzureError(500, "InternalError", "Server encountered an internal error. Please try again after some time."), 5, 2)
		}},
		{"sts-accessdenied", "STS AssumeRole: 403 AccessDenied (ledger: failed, permanent, with the reason; not retried; no object) until the customer fixes the role; then the next run", (*suite).stsAccessDenied},
		{"kms-decrypt-500", "KMS Decrypt of the SAS cipher: 500 KMSInternalException, 3 times", (*suite).kmsDecrypt},
		{"lake-get-slowdown", "S3 GetObject of the org-day's file in the lake: 503 SlowDown, 3 times (every try of the SDK)", (*suite).lakeSlowDown},
		{"compaction-killed", "the compaction of the bucket-day dies before its manifest (every try of the manifest's PUT reset); the export; compacted again; the export", (*suite).compactionKilled},
		{"duplicate-raw-object", "every raw record of the org-day written twice (a Firehose retry); compacted; the export", (*suite).duplicateRawObject},
		{"export-before-compaction", "the export invoked before the org's bucket-day is compacted; then compacted; the export", (*suite).exportBeforeCompaction},
		{"duplicate-invocations", "the same org-day invoked twice in a row", (*suite).duplicate},
		{"concurrent-invocations", "the same org-day invoked twice at once (its upload held back 1 s)", (*suite).concurrent},
		{"ledger-finish-fails", fmt.Sprintf("DynamoDB UpdateItem of the ledger's Finish, after the upload: 500 InternalServerError, %d times (every try of the SDK)", dynamoAttempts), (*suite).ledgerFinishFails},
		{"late-raw-object-after-compaction", "after the delivery, one more request of the day reaches the ingest (its code) as a new raw object; the next daily compaction (its lookback); then the next export, without force", (*suite).lateEvent},
		{"malformed-registry-item", "three registry items that are no destination (a kind that does not exist, a bucket name S3 refuses, an Azure destination without its cipher) among three valid ones; the daily fan-out", (*suite).malformedRegistryItem},
		{"retry-through-sqs", "S3 PutObject: 503 SlowDown, 9 times (3 invocations × 3 tries); Lambda's on-failure record into the retry queue (moto's SQS, dead-letter queue after 21 receives); the retry function invoked as its event source mapping does", (*suite).retryThroughSQS},
	}

	rows := make([]*row, len(scenarios))
	t.Run("scenarios", func(t *testing.T) {
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		for i, sc := range scenarios {
			rows[i] = &row{Scenario: sc.name, Fault: sc.fault, Outcome: "did not finish"}
			sem <- struct{}{} // in order: the first scenarios start first
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				// t.Run from several goroutines: the scenarios run side by
				// side, each as a subtest of its own.
				t.Run(sc.name, func(t *testing.T) {
					began := time.Now()
					sc.run(s, t, rows[i])
					t.Logf("%s: %s in %s", sc.name, rows[i].Outcome, time.Since(began).Round(time.Second))
				})
			}()
		}
		wg.Wait()
	})

	s.checkNoSecrets(t)
	elapsed := time.Since(start).Round(time.Second)
	t.Logf("results (%d scenarios, %s):\n%s", len(rows), elapsed, textTable(rows))
	for _, r := range rows {
		if r.Lost+r.Duplicated+r.Partial != 0 {
			t.Errorf("%s: lost %d, duplicated %d, partial %d", r.Scenario, r.Lost, r.Duplicated, r.Partial)
		}
	}
	if os.Getenv("AUDITLOG_WRITE_RELIABILITY") == "1" {
		if t.Failed() {
			t.Error("not rewriting docs/reliability.md: the suite failed")
			return
		}
		if err := writeDoc(markdownTable(rows, elapsed)); err != nil {
			t.Fatal(err)
		}
		t.Log("rewrote the fault-suite section of docs/reliability.md")
	}
}

// setup starts the stack, puts a proxy in front of each emulator, points
// this process at the proxies through the standard variables only and
// builds the production wiring from them.
func setup(t *testing.T) *suite {
	t.Helper()
	ctx := context.Background()
	// localstack.Start sets the process environment, as a shell sourcing
	// .local/env would; restore it afterwards. Nothing may come from the
	// machine's AWS configuration or retry settings.
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
		"AWS_EC2_METADATA_DISABLED", "AUDITLOG_LOG_STORE", "AUDITLOG_LAKE_BUCKET", "AUDITLOG_REGISTRY_TABLE", "AUDITLOG_LEDGER_TABLE", "AUDITLOG_AZURE_EMULATOR_HOSTS",
		"AUDITLOG_KMS_KEY_US", "AUDITLOG_KMS_KEY_EU"} {
		t.Setenv(k, os.Getenv(k))
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
		"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_IAM", "AUDITLOG_UPLOAD_CONCURRENCY", "AUDITLOG_LEASE_SECONDS", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS",
		"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)

	st, err := localstack.Start(ctx)
	t.Cleanup(st.Stop)
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	s := &suite{st: st, motoURL: st.Env["AWS_ENDPOINT_URL"], logs: &testenv.SyncBuffer{}}
	proxy := func(upstream string) *faultproxy.Proxy {
		p, err := faultproxy.Start(upstream)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	s.s3p, s.stsp, s.dbp = proxy(s.motoURL), proxy(s.motoURL), proxy(s.motoURL)
	s.kmsp, s.az = proxy(st.Env["AWS_ENDPOINT_URL_KMS"]), proxy(st.AzuriteURL)

	// moto applies concurrent conditional writes to one item without
	// isolation (two UpdateItems can both pass a condition the other makes
	// false), DynamoDB applies them one at a time: the ledger's lease
	// relies on that, so the ledger's writes pass moto one at a time.
	s.dbp.Add(&faultproxy.Rule{Name: "ledger writes one at a time", Method: http.MethodPost,
		Header:       map[string]string{"X-Amz-Target": "DynamoDB_20120810.UpdateItem"},
		BodyContains: `"TableName":"` + localstack.LedgerTable + `"`, Action: faultproxy.Serial()})

	// The app reaches the emulators only through the proxies, and only
	// through the standard variables; the SAS URLs name the Azurite proxy,
	// the only emulator host the export accepts.
	t.Setenv("AWS_ENDPOINT_URL_S3", s.s3p.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", s.stsp.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", s.dbp.URL)
	t.Setenv("AWS_ENDPOINT_URL_KMS", s.kmsp.URL)
	t.Setenv("AUDITLOG_AZURE_EMULATOR_HOSTS", s.az.Host)
	t.Setenv("AUDITLOG_PART_SIZE_MIB", fmt.Sprint(partSizeMiB))

	if s.cfg, err = config.FromEnv(); err != nil {
		t.Fatal(err)
	}
	if s.cfg.Lease != exportjob.Lease {
		t.Fatalf("default lease %s, want exportjob.Lease %s", s.cfg.Lease, exportjob.Lease)
	}
	// The export function's own identity, as Lambda would run it.
	if s.a, err = app.New(ctx, s.cfg, awsconfig.WithCredentialsProvider(st.Config(grants.Export).Credentials)); err != nil {
		t.Fatal(err)
	}
	if s.a.Ledger == nil {
		t.Fatal("no ledger: AUDITLOG_LEDGER_TABLE is not set")
	}
	s.log = slog.New(slog.NewJSONHandler(s.logs, nil))
	s.d = s.a.Delivery(s.log)
	s.h = &exportfn.Handler{Delivery: s.d}
	// Yesterday: over, and inside the log store's retention.
	s.day = audit.DayOf(time.Now()).AddDays(-1)

	direct := testenv.AWSConfig(t, testenv.Endpoints{Default: s.motoURL})
	direct.Credentials = st.AWS.Credentials // the administrator's: moto authenticates
	s.s3c = s3.NewFromConfig(direct, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	db := dynamodb.NewFromConfig(direct)
	s.ledger = ledger.New(db, localstack.LedgerTable)
	s.reg = registry.New(db, localstack.RegistryTable)
	lakeBucket := s3obj.New(s3.NewFromConfig(direct, s3obj.LakeOptions), localstack.LakeBucket)
	s.raw = &directwriter.Writer{Lake: lakeBucket}
	s.comp = &compaction.Compactor{Lake: lakeBucket, Stale: s.ledger, TempDir: t.TempDir()}
	cred, err := azblob.NewSharedKeyCredential(localstack.DevAccount, localstack.DevKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.blobs, err = container.NewClientWithSharedKeyCredential(st.AzuriteURL+"/"+localstack.DevAccount+"/"+localstack.Container, cred, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is one scenario's org-day: its destination and its events.
type fixture struct {
	name      string
	org       string
	dest      destination.Destination
	key       string
	generated int
	multipart bool
	cipher    string // the Azure destination's SAS cipher

	mu     sync.Mutex
	events []audit.Event // what was stored for the org-day, as stored
}

// expected is the file's records: the stored events in time order, then
// request ID.
func (f *fixture) expected() [][]string {
	f.mu.Lock()
	evs := slices.Clone(f.events)
	f.mu.Unlock()
	slices.SortFunc(evs, func(a, b audit.Event) int {
		if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	recs := make([][]string, len(evs))
	for i, e := range evs {
		recs[i] = record(e)
	}
	return recs
}

// recording keeps a copy of every event written for the fixture.
type recording struct {
	w logstore.Writer
	f *fixture
}

func (r recording) Write(ctx context.Context, events []audit.Event) error {
	if err := r.w.Write(ctx, events); err != nil {
		return err
	}
	r.f.mu.Lock()
	r.f.events = append(r.f.events, events...)
	r.f.mu.Unlock()
	return nil
}

func (f *fixture) azure() bool { return f.dest.Kind == destination.KindAzure }

// path is the request path of the org's objects, for scoping rules.
func (f *fixture) path() string {
	if f.azure() {
		return "/" + localstack.DevAccount + "/" + localstack.Container + "/" + f.dest.Prefix
	}
	return "/" + localstack.Bucket + "/" + f.dest.Prefix
}

// newFixture registers an org with its own prefix in the customer bucket
// (S3, through a role with the org as external ID) or container (Azure,
// through a create+write SAS URL to the Azurite proxy, encrypted to the us
// key), stores its synthetic events of the day as raw objects of the lake
// and compacts its bucket-day, as the daily state machine does before the
// fan-out.
func (s *suite) newFixture(t *testing.T, name string, kind destination.Kind, multipart bool) *fixture {
	t.Helper()
	f := s.newRawFixture(t, name, kind, multipart)
	s.compact(t, f)
	return f
}

// compact compacts the fixture's bucket-day.
func (s *suite) compact(t *testing.T, f *fixture) compaction.Result {
	t.Helper()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	res, err := s.comp.Compact(context.Background(), s.day, lake.BucketOf(f.org))
	if err != nil {
		t.Fatalf("compact the bucket-day of %s: %v", f.org, err)
	}
	return res
}

// newRawFixture is newFixture without the compaction: the org-day's
// events are raw objects only.
func (s *suite) newRawFixture(t *testing.T, name string, kind destination.Kind, multipart bool) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{name: name, org: "rel-" + name, multipart: multipart}
	d := destination.Destination{OrgID: f.org, Kind: kind, Enabled: true, Prefix: "faults/" + name + "/"}
	switch kind {
	case destination.KindS3:
		role, err := s.st.CustomerRole(ctx, f.org)
		if err != nil {
			t.Fatal(err)
		}
		d.S3 = &destination.S3{Bucket: localstack.Bucket, Region: "us-east-1", RoleARN: role}
	case destination.KindAzure:
		direct, err := s.st.ContainerSAS(24 * time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		viaProxy := s.az.URL + strings.TrimPrefix(direct, s.st.AzuriteURL)
		if u, err := url.Parse(viaProxy); err == nil {
			s.addSecret(u.Query().Get("sig"))
		}
		if f.cipher, err = s.st.EncryptSAS("us", viaProxy); err != nil {
			t.Fatal(err)
		}
		// Recorded as `destination put` records it, and shared with the
		// other scenarios' orgs: they all deliver to the one container,
		// which the registry otherwise keeps for the first org.
		d.Azure = &destination.Azure{SASCipher: f.cipher, Residency: destination.ResidencyUS,
			StorageAccount: localstack.DevAccount, Container: localstack.Container}
	}
	saved, err := s.register(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	f.dest = saved
	f.key = saved.Key(s.day)

	n := smallEvents
	var w logstore.Writer = recording{s.raw, f}
	if multipart {
		n, w = multipartEvents, padded{w}
	}
	gen := synth.Config{Orgs: []string{f.org}, Events: n, Day: s.day, Seed: 20261124}
	if _, err := synth.Store(ctx, w, gen, 1000); err != nil {
		t.Fatal(err)
	}
	f.generated = synth.Counts(gen)[f.org]
	if len(f.events) != f.generated {
		t.Fatalf("stored %d events, generated %d", len(f.events), f.generated)
	}
	return f
}

// register stores d; an Azure one names every Azure org registered before
// it as sharing the container (one at a time, so that none is left out).
func (s *suite) register(ctx context.Context, d destination.Destination) (destination.Destination, error) {
	if d.Kind != destination.KindAzure {
		return s.reg.Put(ctx, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	saved, err := s.reg.PutShared(ctx, d, s.azureOrgs)
	if err == nil {
		s.azureOrgs = append(s.azureOrgs, d.OrgID)
	}
	return saved, err
}

// padding makes each event of a multipart scenario about 4.3 KB of CSV,
// so that a file of two 5 MiB parts takes 1,400 events rather than
// 20,000. The query string is a plausible one (a long select).
var padding = "select=" + strings.TrimSuffix(strings.Repeat("fields.title,fields.slug,fields.body,fields.author,fields.tags,", 64), ",")

type padded struct{ w logstore.Writer }

func (p padded) Write(ctx context.Context, events []audit.Event) error {
	for i := range events {
		if events[i].RequestQuery != "" {
			events[i].RequestQuery += "&"
		}
		events[i].RequestQuery += padding
	}
	return p.w.Write(ctx, events)
}

// attempt is one invocation's result.
type attempt struct {
	out delivery.Outcome
	err error
}

func (a attempt) String() string {
	switch {
	case a.err != nil && exportjob.IsPermanent(a.err):
		return "permanent"
	case a.err != nil:
		return "transient"
	case a.out.Skipped != "":
		return "skipped: " + a.out.Skipped
	}
	return "delivered"
}

// invoke calls the handler once, as Lambda would with a request ID.
func (s *suite) invoke(f *fixture, n int) attempt {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("%s-%d", f.name, n)})
	out, err := s.h.Handle(ctx, exportjob.Payload{OrgID: f.org, Day: s.day.String(), Attempt: n})
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
	}
	return attempt{out, err}
}

// drive invokes the handler the way the system does: again after a
// transient failure (Lambda's async retries, then the retry function), not
// after a permanent one, at most maxAttempts times. between runs after a
// failed attempt, before the next.
func (s *suite) drive(t *testing.T, f *fixture, first int, between func(n int)) []attempt {
	t.Helper()
	var as []attempt
	for n := first; n < first+maxAttempts; n++ {
		a := s.invoke(f, n)
		as = append(as, a)
		if a.err == nil || exportjob.IsPermanent(a.err) {
			break
		}
		t.Logf("attempt %d: transient: %s", n, s.redact(t, firstLine(a.err.Error())))
		if between != nil {
			between(n)
		}
	}
	return as
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func outcome(as []attempt) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, " → ")
}

// wantAttempts fails unless the run took n invocations and ended with a
// delivery.
func wantAttempts(t *testing.T, as []attempt, n int) {
	t.Helper()
	last := as[len(as)-1]
	if len(as) != n || last.err != nil || last.out.Skipped != "" {
		t.Errorf("invocations: %s; want %d, the last one delivering", outcome(as), n)
	}
}

// s3PartFault: the fault on UploadPart of part 1 of the org's upload,
// times times; the run must deliver at invocation wantN.
func (s *suite) s3PartFault(t *testing.T, r *row, a faultproxy.Action, times, wantN int) {
	s.s3Fault(t, r, http.MethodPut, map[string]string{"partNumber": "1", "uploadId": ""}, a, times, wantN)
}

// s3CompleteFault: the fault on CompleteMultipartUpload (POST ?uploadId).
func (s *suite) s3CompleteFault(t *testing.T, r *row, a faultproxy.Action, times, wantN int) {
	s.s3Fault(t, r, http.MethodPost, map[string]string{"uploadId": ""}, a, times, wantN)
}

// s3Fault: the fault on the org's S3 requests of method with query,
// times times; the run must deliver at invocation wantN.
func (s *suite) s3Fault(t *testing.T, r *row, method string, query map[string]string, a faultproxy.Action, times, wantN int) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, true)
	rule := &faultproxy.Rule{Name: r.Scenario, Method: method, Path: f.path(), Query: query, Times: times, Action: a}
	s.s3p.Add(rule)
	defer s.s3p.Remove(rule)
	as := s.drive(t, f, 1, nil)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, wantN)
	if rule.Hits() != times {
		t.Errorf("the fault fired %d times, want %d", rule.Hits(), times)
	}
	s.check(t, f, r, as, wantN, 1)
}

// s3CompleteResponseLost: S3 completes the upload but the response never
// arrives. The object is there and complete; the export cannot know it,
// and a retry writes the same object again, under the same key.
func (s *suite) s3CompleteResponseLost(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, true)
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPost, Path: f.path(), Query: map[string]string{"uploadId": ""}, Times: 1, Action: faultproxy.ResetAfterResponse(0)}
	s.s3p.Add(rule)
	defer s.s3p.Remove(rule)
	as := s.drive(t, f, 1, nil)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	if last := as[len(as)-1]; last.err != nil || last.out.Skipped != "" {
		t.Errorf("invocations: %s; want the last one delivering", outcome(as))
	}
	if rule.Hits() != 1 {
		t.Errorf("the fault fired %d times, want 1", rule.Hits())
	}
	s.check(t, f, r, as, len(as), 1)
}

// azureFault: the fault on PUT ?comp=<comp> of the org's blob, times
// times, or (times 0) until the first attempt has failed.
func (s *suite) azureFault(t *testing.T, r *row, comp string, a faultproxy.Action, times, wantN int) {
	f := s.newFixture(t, r.Scenario, destination.KindAzure, true)
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: f.path(), Query: map[string]string{"comp": comp}, Times: times, Action: a}
	s.az.Add(rule)
	defer s.az.Remove(rule)
	var between func(int)
	if times == 0 {
		between = func(int) { s.az.Remove(rule) } // the outage is over
	}
	as := s.drive(t, f, 1, between)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, wantN)
	switch {
	case times > 0 && rule.Hits() != times:
		t.Errorf("the fault fired %d times, want %d", rule.Hits(), times)
	case times == 0 && rule.Hits() < 5:
		t.Errorf("the fault fired %d times, want at least 5 (azcore's tries of one block)", rule.Hits())
	}
	s.check(t, f, r, as, wantN, 1)
}

// stsAccessDenied: the customer's role refuses us. The failure is
// permanent: recorded with its reason, not retried, no object. Once the
// customer fixed the role, the next run delivers once.
func (s *suite) stsAccessDenied(t *testing.T, r *row) {
	ctx := context.Background()
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPost, Form: map[string]string{"Action": "AssumeRole", "ExternalId": f.org},
		Action: faultproxy.STSError(403, "AccessDenied", "User: arn:aws:iam::123456789012:user/auditlogs is not authorized to perform: sts:AssumeRole on resource: "+f.dest.S3.RoleARN)}
	s.stsp.Add(rule)
	as := s.drive(t, f, 1, nil)
	if len(as) != 1 || !exportjob.IsPermanent(as[0].err) {
		t.Fatalf("invocations: %s; want one, failing permanently", outcome(as))
	}
	e, ok, err := s.ledger.Get(ctx, f.org, s.day)
	switch {
	case err != nil || !ok:
		t.Fatalf("ledger: %v, %v", ok, err)
	case e.Status != ledger.Failed || !e.Permanent || !strings.Contains(e.LastError, "AccessDenied") || e.LeaseOwner != "" || e.Attempts != 1:
		t.Errorf("ledger after the refusal: %s permanent=%v attempts %d lease %q error %q; want failed, permanent, AccessDenied, no lease",
			e.Status, e.Permanent, e.Attempts, e.LeaseOwner, e.LastError)
	}
	if keys := s.listS3(t, f); len(keys) != 0 {
		t.Errorf("objects after the refusal: %v", keys)
	}
	t.Logf("ledger: failed, permanent: %s", s.redact(t, firstLine(e.LastError)))

	// The customer fixes the trust policy; the next daily run (the
	// fan-out's catch-up) invokes the day again.
	s.stsp.Remove(rule)
	as = append(as, s.drive(t, f, 1, nil)...)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, 2)
	s.check(t, f, r, as, 2, 1)
}

// kmsDecrypt: KMS fails to decrypt the SAS cipher: transient.
func (s *suite) kmsDecrypt(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindAzure, false)
	// The cipher's first base64 characters pick this org's Decrypt calls.
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPost, Header: map[string]string{"X-Amz-Target": "TrentService.Decrypt"},
		BodyContains: f.dest.Azure.SASCipher[:48], Times: 3, Action: faultproxy.KMSError(500, "KMSInternalException", "An internal error occurred.")}
	s.kmsp.Add(rule)
	defer s.kmsp.Remove(rule)
	as := s.drive(t, f, 1, nil)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, 2)
	if rule.Hits() != 3 {
		t.Errorf("the fault fired %d times, want 3", rule.Hits())
	}
	s.check(t, f, r, as, 2, 1)
}

// lakeSlowDown: the lake answers every try of the GetObject of the
// org-day's delivered file with SlowDown (503).
func (s *suite) lakeSlowDown(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodGet, Path: "/" + localstack.LakeBucket + "/" + lake.OrgDayFileKey(f.org, s.day),
		Times: s3Attempts, Action: faultproxy.S3Error(503, "SlowDown", "Please reduce your request rate.")}
	s.s3p.Add(rule)
	defer s.s3p.Remove(rule)
	as := s.drive(t, f, 1, nil)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, 2)
	if rule.Hits() != s3Attempts {
		t.Errorf("the fault fired %d times, want %d", rule.Hits(), s3Attempts)
	}
	s.check(t, f, r, as, 2, 1)
}

// s3Attempts is the S3 client's default number of tries of a request;
// dynamoAttempts the DynamoDB client's.
const (
	s3Attempts     = 3
	dynamoAttempts = 4
)

// compactionKilled: the compaction of the fixture's bucket-day dies after
// it wrote the org-days, before the manifest (every try of its PUT reset):
// nothing it wrote is visible, the export fails transiently (not compacted
// yet); compacted again, the day is delivered once, complete.
func (s *suite) compactionKilled(t *testing.T, r *row) {
	ctx := context.Background()
	f := s.newRawFixture(t, r.Scenario, destination.KindS3, false)
	b := lake.BucketOf(f.org)
	proxied := testenv.AWSConfig(t, testenv.Endpoints{Default: s.s3p.URL})
	proxied.Credentials = s.st.AWS.Credentials
	comp := &compaction.Compactor{Lake: s3obj.New(s3.NewFromConfig(proxied, s3obj.LakeOptions), localstack.LakeBucket), Stale: s.ledger, TempDir: t.TempDir()}
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: "/" + localstack.LakeBucket + "/" + lake.ManifestKey(s.day, b),
		Times: s3Attempts, Action: faultproxy.Reset(0)}
	s.s3p.Add(rule)
	s.compactMu.Lock()
	_, err := comp.Compact(ctx, s.day, b)
	s.compactMu.Unlock()
	s.s3p.Remove(rule)
	if err == nil {
		t.Fatal("the compaction succeeded through the fault")
	}
	as := []attempt{s.invoke(f, 1)}
	if as[0].String() != "transient" {
		t.Fatalf("export after the killed compaction: %s, want a transient failure", as[0])
	}
	s.compact(t, f)
	as = append(as, s.drive(t, f, 2, nil)...)
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), "compaction killed → "+outcome(as[:1])+" → compacted again → "+outcome(as[1:])
	wantAttempts(t, as, 2)
	s.check(t, f, r, as, 2, 1)
}

// duplicateRawObject: the org-day's raw records reach the lake twice (a
// Firehose retry of a whole buffer): compaction keeps each request ID
// once.
func (s *suite) duplicateRawObject(t *testing.T, r *row) {
	ctx := context.Background()
	f := s.newRawFixture(t, r.Scenario, destination.KindS3, false)
	f.mu.Lock()
	again := slices.Clone(f.events)
	f.mu.Unlock()
	if err := s.raw.Write(ctx, again); err != nil {
		t.Fatal(err)
	}
	res := s.compact(t, f)
	if res.Duplicates < int64(len(again)) {
		t.Errorf("compaction dropped %d duplicates, want at least the %d records written twice", res.Duplicates, len(again))
	}
	as := s.drive(t, f, 1, nil)
	r.Attempts, r.Outcome = len(as), fmt.Sprintf("raw records written twice, %d duplicates dropped → %s", res.Duplicates, outcome(as))
	wantAttempts(t, as, 1)
	s.check(t, f, r, as, 1, 1)
}

// exportBeforeCompaction: the export of an org-day whose bucket-day is not
// compacted yet fails transiently, delivering nothing; once compacted, it
// delivers.
func (s *suite) exportBeforeCompaction(t *testing.T, r *row) {
	f := s.newRawFixture(t, r.Scenario, destination.KindS3, false)
	as := []attempt{s.invoke(f, 1)}
	if as[0].String() != "transient" || !strings.Contains(as[0].err.Error(), "not compacted") {
		t.Fatalf("export before the compaction: %s (%v), want a transient failure: not compacted", as[0], as[0].err)
	}
	if keys := s.listS3(t, f); len(keys) != 0 {
		t.Fatalf("objects %v after the export of an uncompacted day", keys)
	}
	s.compact(t, f)
	as = append(as, s.drive(t, f, 2, nil)...)
	r.Attempts, r.Outcome = len(as), outcome(as[:1])+" → compacted → "+outcome(as[1:])
	wantAttempts(t, as, 2)
	s.check(t, f, r, as, 2, 1)
}

// duplicate: the same org-day twice in a row: one delivery, then
// already-delivered.
func (s *suite) duplicate(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	as := []attempt{s.invoke(f, 1), s.invoke(f, 1)}
	r.Attempts, r.Outcome = len(as), outcome(as)
	if as[0].String() != "delivered" || as[1].out.Skipped != exportjob.SkippedDelivered || as[1].err != nil {
		t.Errorf("invocations: %s; want delivered → skipped: already-delivered", outcome(as))
	}
	if as[1].out.SHA256 != as[0].out.SHA256 || as[1].out.Key != as[0].out.Key {
		t.Errorf("the skipped invocation reports %s %s, the delivery %s %s", as[1].out.Key, as[1].out.SHA256, as[0].out.Key, as[0].out.SHA256)
	}
	s.check(t, f, r, as, 1, 1)
}

// concurrent: the same org-day twice at once: one delivers, the other is
// skipped because the first holds the lease. The object's upload is held
// back a second so that the two certainly overlap.
func (s *suite) concurrent(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	hold := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: f.path(), Action: faultproxy.Delay(time.Second)}
	s.s3p.Add(hold)
	defer s.s3p.Remove(hold)
	as := make([]attempt, 2)
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for i := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGun
			as[i] = s.invoke(f, i+1)
		}()
	}
	close(startGun)
	wg.Wait()
	r.Attempts, r.Hits = len(as), hold.Hits()
	parts := []string{as[0].String(), as[1].String()}
	slices.Sort(parts)
	r.Outcome = "at once: " + strings.Join(parts, " + ")
	delivered, leased := 0, 0
	for _, a := range as {
		switch {
		case a.err == nil && a.out.Skipped == "":
			delivered++
		case a.err == nil && a.out.Skipped == exportjob.SkippedLeased:
			leased++
		}
	}
	if delivered != 1 || leased != 1 {
		t.Errorf("invocations: %s; want one delivered and one skipped: leased", outcome(as))
	}
	s.check(t, f, r, as, 1, 1)
}

// killedMidStream runs the export function as Lambda does, a process
// under the Runtime Interface Emulator, kills it while its first part is
// on the wire, and invokes the org-day again in a new one: while the dead
// invocation's lease runs the new one stands back, after it lapsed one
// delivers.
func (s *suite) killedMidStream(t *testing.T, r *row) {
	ctx := context.Background()
	bin := s.buildExport(t)
	f := s.newFixture(t, r.Scenario, destination.KindS3, true)
	hold := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: f.path(), Query: map[string]string{"partNumber": ""}, Action: faultproxy.Delay(5 * time.Minute)}
	s.s3p.Add(hold)
	defer s.s3p.Remove(hold)
	payload := exportjob.Payload{OrgID: f.org, Day: s.day.String(), Attempt: 1}

	rie := s.startRIE(t, bin)
	began := time.Now()
	first := make(chan error, 1)
	go func() { _, err := invokeRIE(rie.URL, payload); first <- err }()
	deadline := time.Now().Add(3 * time.Minute)
	for hold.Matches() == 0 {
		select {
		case err := <-first:
			t.Fatalf("the export ended before its upload began: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no UploadPart reached the proxy within 3 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// SIGKILL to the emulator's process group: the function dies with it,
	// mid-stream, without a chance to abort or record anything.
	fns, err := killRIE(rie, bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 {
		t.Errorf("killed %d function processes (%v), want 1", len(fns), fns)
	}
	rie.Stop()
	if err := <-first; err == nil {
		t.Fatal("the killed invocation answered")
	}
	s.noSurvivors(t, bin)

	e, ok, err := s.ledger.Get(ctx, f.org, s.day)
	if err != nil || !ok || e.Status != ledger.Running || e.LeaseOwner == "" {
		t.Fatalf("ledger after the kill: %+v %v %v; want running under the dead invocation's lease", e, ok, err)
	}
	// AUDITLOG_LEASE_SECONDS reached the function: the lease it took ends
	// leaseSeconds after it was taken.
	if lo, hi := began.Add(leaseSeconds*time.Second-time.Second), time.Now().Add(leaseSeconds*time.Second+time.Second); e.LeaseUntil.Before(lo) || e.LeaseUntil.After(hi) {
		t.Errorf("lease until %s; want about %ds after the invocation began at %s", e.LeaseUntil.Format(time.RFC3339Nano), leaseSeconds, began.Format(time.RFC3339Nano))
	}
	if keys := s.listS3(t, f); len(keys) != 0 {
		t.Errorf("visible objects after the kill: %v", keys)
	}
	if n := s.incompleteS3(t, f); n != 1 {
		t.Errorf("incomplete multipart uploads after the kill: %d, want the dead one's", n)
	}
	s.s3p.Remove(hold)

	as := []attempt{{err: errors.New("killed")}}
	rie = s.startRIE(t, bin)
	defer rie.Stop()
	if time.Until(e.LeaseUntil) > 3*time.Second {
		out, err := invokeRIE(rie.URL, payload)
		as = append(as, attempt{out, err})
		if err != nil || out.Skipped != exportjob.SkippedLeased {
			t.Errorf("invocation while the dead lease runs: %+v, %v; want skipped: leased", out, err)
		}
	} else {
		t.Logf("the dead lease ran out before it could be checked (%s)", e.LeaseUntil.Format(time.RFC3339))
	}
	time.Sleep(time.Until(e.LeaseUntil) + time.Second)
	out, err := invokeRIE(rie.URL, payload)
	as = append(as, attempt{out, err})
	r.Attempts, r.Hits = len(as), hold.Hits()
	parts := []string{"killed"}
	for _, a := range as[1:] {
		parts = append(parts, a.String())
	}
	r.Outcome = strings.Join(parts, " → ")
	if err != nil || out.Skipped != "" {
		t.Fatalf("invocation after the lease lapsed: %+v, %v; want a delivery", out, err)
	}
	if logs, err := os.ReadFile(rie.LogPath()); err == nil && !bytes.Contains(logs, []byte(`"delivered"`)) {
		t.Errorf("the function did not log its delivery:\n%s", logs)
	}
	s.check(t, f, r, as, 2, 1)
}

// buildExport builds ./functions/export for this machine, once.
func (s *suite) buildExport(t *testing.T) string {
	t.Helper()
	s.buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "auditlogs-reliability-")
		if err != nil {
			s.buildErr = err
			return
		}
		s.exportBin = filepath.Join(dir, "export")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", s.exportBin, "./functions/export")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			s.buildErr = fmt.Errorf("build the export function: %v\n%s", err, out)
		}
	})
	if s.buildErr != nil {
		t.Fatal(s.buildErr)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(s.exportBin)) })
	return s.exportBin
}

// startRIE runs the function under the Lambda emulator, which hands it
// its environment: this process's (the proxies) and the function's
// settings, as Lambda would.
func (s *suite) startRIE(t *testing.T, bin string) *testenv.Server {
	t.Helper()
	port, err := emulatorFreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{"AWS_LAMBDA_FUNCTION_NAME=auditlogs-export", "AWS_LAMBDA_LOG_FORMAT=JSON",
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", functionTimeoutSeconds), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
		fmt.Sprintf("AUDITLOG_FUNCTION_TIMEOUT_SECONDS=%d", functionTimeoutSeconds), fmt.Sprintf("AUDITLOG_LEASE_SECONDS=%d", leaseSeconds)},
		s.st.Identities[grants.Export].Environ()...)
	rie, err := startRIE(bin, port, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rie.Stop)
	return rie
}

// invokeRIE invokes the function synchronously through the emulator's
// invoke API and decodes its answer: the outcome, or its error.
func invokeRIE(base string, p exportjob.Payload) (delivery.Outcome, error) {
	body, _ := json.Marshal(p)
	c := &http.Client{Timeout: 10 * time.Minute}
	resp, err := c.Post(base+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		return delivery.Outcome{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return delivery.Outcome{}, err
	}
	var fnErr struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	if json.Unmarshal(b, &fnErr) == nil && fnErr.Type != "" {
		return delivery.Outcome{}, fmt.Errorf("function error %s: %s", fnErr.Type, fnErr.Message)
	}
	if resp.StatusCode != http.StatusOK {
		return delivery.Outcome{}, fmt.Errorf("invoke: status %d: %s", resp.StatusCode, b)
	}
	var out delivery.Outcome
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("invoke: %w: %s", err, b)
	}
	return out, nil
}

// check reads back what the customer's storage holds for the org-day and
// the ledger's entry, fills the row's counts and fails the scenario unless
// there are exactly the complete file (its rows, row by row, those of the
// events generated for the org-day, in the file's order) and its manifest,
// naming it, and signature,
// recorded as delivered by the ledger after ledgerAttempts attempts, with
// no lease left and not stale. deliveries is how many invocations may
// deliver: more than one where the day is rightly delivered again (late
// events, a lost lease), to the same key.
func (s *suite) check(t *testing.T, f *fixture, r *row, as []attempt, ledgerAttempts, deliveries int) {
	t.Helper()
	ctx := context.Background()
	r.Generated = f.generated
	var keys []string
	if f.azure() {
		keys = s.listBlobs(t, f)
		r.Incomplete = s.uncommittedBlobs(t, f, keys)
	} else {
		keys = s.listS3(t, f)
		r.Incomplete = s.incompleteS3(t, f)
	}
	r.Objects = len(keys)
	e, ok, err := s.ledger.Get(ctx, f.org, s.day)
	if err != nil {
		t.Fatal(err)
	}
	var body, man []byte
	found, signed := false, false
	mk := manifest.Name(f.key)
	for _, k := range keys {
		switch k {
		case f.key:
			found = true
			if body, err = s.read(ctx, f); err != nil {
				t.Fatalf("read %s: %v", k, err)
			}
		case mk:
			if man, err = s.readKey(ctx, f, k); err != nil {
				t.Fatalf("read %s: %v", k, err)
			}
		case manifest.SignatureName(mk):
			signed = true
		default:
			r.Partial++
			t.Errorf("object %s under the prefix is neither the day's file %s nor its manifest or signature", k, f.key)
		}
	}
	// The file, its manifest and the signature: three objects.
	r.Objects = len(keys)
	if found && r.Objects > 3 {
		r.Duplicated += r.Objects - 3
	}
	delivered := 0
	for _, a := range as {
		if a.err == nil && a.out.Skipped == "" {
			delivered++
		}
	}
	if delivered > deliveries {
		r.Duplicated += delivered - deliveries
		t.Errorf("%d invocations delivered the org-day, want %d", delivered, deliveries)
	}
	if !found {
		r.Lost = 1
		t.Errorf("no object %s", f.key)
		return
	}
	rows, missing, extra, misplaced, err := compareRows(body, f.expected())
	if err != nil {
		r.Partial++
		t.Errorf("object %s is not a complete CSV: %v", f.key, err)
	}
	r.Rows = rows
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	if missing > 0 {
		r.Partial++
		r.Lost = 1
		t.Errorf("object %s lacks %d of the %d rows generated", f.key, missing, f.generated)
	}
	if extra > 0 {
		r.Duplicated += extra
		t.Errorf("object %s holds %d rows that are not among those generated (or repeat one)", f.key, extra)
	}
	if misplaced != "" {
		r.Partial++
		t.Errorf("object %s: %s", f.key, misplaced)
	}
	t.Logf("%s: %d rows, %d bytes", f.key, rows, len(body))
	// The file's manifest says what the file is; without it (or its
	// signature) the delivery is not complete.
	if m, err := manifest.Decode(man); err != nil || !signed || m.File.SHA256 != sha || m.File.Rows != int64(rows) || m.File.Key != f.key {
		r.Partial++
		if err != nil {
			t.Errorf("manifest %s: %v (signature there: %v)", mk, err, signed)
		} else {
			t.Errorf("manifest %s says %s, %d rows, sha256 %s (signature there: %v); the file is %d rows, sha256 %s", mk, m.File.Key, m.File.Rows, m.File.SHA256, signed, rows, sha)
		}
	}
	if f.multipart && len(body) <= partSizeMiB<<20 {
		t.Errorf("object %s is %d bytes, not more than one %d MiB part: the scenario did not test a multipart upload", f.key, len(body), partSizeMiB)
	}
	switch {
	case !ok:
		r.Lost = 1
		t.Errorf("no ledger entry")
	case e.Status != ledger.Delivered:
		r.Lost = 1
		t.Errorf("ledger status %s, want delivered (last error %q)", e.Status, e.LastError)
	case e.Key != f.key || e.Rows != int64(rows) || e.Bytes != int64(len(body)) || e.SHA256 != sha:
		r.Partial++
		t.Errorf("ledger says %s, %d rows, %d bytes, sha256 %s; the object is %d rows, %d bytes, sha256 %s", e.Key, e.Rows, e.Bytes, e.SHA256, rows, len(body), sha)
	}
	if ok && (e.LeaseOwner != "" || !e.LeaseUntil.IsZero() || e.LastError != "" || e.Permanent || e.Attempts != ledgerAttempts) {
		t.Errorf("ledger: attempts %d (want %d), lease %q until %v, last error %q, permanent %v; want no lease and no error",
			e.Attempts, ledgerAttempts, e.LeaseOwner, e.LeaseUntil, e.LastError, e.Permanent)
	}
	if ok && e.Stale() {
		r.Lost = 1
		t.Errorf("ledger: the delivery is stale (late events or a lost lease at %s after it began at %s): the file may lack events", e.LateAt, e.BegunAt)
	}
	if r.Incomplete != 0 && r.Scenario != "killed-mid-stream" {
		t.Errorf("%d incomplete uploads left", r.Incomplete)
	}
}

// compareRows reads a delivered file with a CSV reader and compares it,
// row by row, with the records want (in the file's order). It returns the
// rows read, how many of want are not in the file, how many rows of the
// file are not in want (or repeat one), and, when every row is there but
// not in place, the first misplaced one.
func compareRows(b []byte, want [][]string) (rows, missing, extra int, misplaced string, err error) {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = 10
	header, err := cr.Read()
	if err != nil {
		return 0, len(want), 0, "", fmt.Errorf("header: %w", err)
	}
	if !slices.Equal(header, strings.Split(csvenc.Header, ",")) {
		return 0, len(want), 0, "", fmt.Errorf("header %q", header)
	}
	left := map[string]int{} // wanted rows not yet seen
	for _, w := range want {
		left[strings.Join(w, "\x00")]++
	}
	for {
		rec, rerr := cr.Read()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		k := strings.Join(rec, "\x00")
		if left[k] > 0 {
			left[k]--
		} else {
			extra++
		}
		if misplaced == "" && (rows >= len(want) || !slices.Equal(rec, want[rows])) {
			misplaced = fmt.Sprintf("row %d is %s, want %s", rows+1, short(rec), short(at(want, rows)))
		}
		rows++
	}
	for _, n := range left {
		missing += n
	}
	if rows < len(want) && misplaced == "" {
		misplaced = fmt.Sprintf("the file ends after row %d, want %d rows", rows, len(want))
	}
	return rows, missing, extra, misplaced, err
}

func at(recs [][]string, i int) []string {
	if i < len(recs) {
		return recs[i]
	}
	return nil
}

// short is a record for an error message: long fields (the padded
// queries) cut.
func short(rec []string) string {
	out := make([]string, len(rec))
	for i, v := range rec {
		if len(v) > 60 {
			v = v[:60] + "…"
		}
		out[i] = v
	}
	return fmt.Sprintf("%q", out)
}

// record is the CSV record the file must hold for e, written here from
// the event format (docs/event-format.md), not with the encoder under test.
func record(e audit.Event) []string {
	return []string{e.RequestTime.UTC().Format("2006-01-02T15:04:05.000Z"), e.RequestMethod, e.RequestPath, e.RequestQuery,
		strconv.Itoa(e.ResponseStatus), strconv.FormatInt(e.ContentLength, 10), e.Space, e.Route, e.Referrer, e.ActorID}
}

func (s *suite) read(ctx context.Context, f *fixture) ([]byte, error) {
	return s.readKey(ctx, f, f.key)
}

func (s *suite) readKey(ctx context.Context, f *fixture, key string) ([]byte, error) {
	if f.azure() {
		return s.st.ReadBlob(ctx, key)
	}
	out, err := s.s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(localstack.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// listS3 lists every object under the org's prefix.
func (s *suite) listS3(t *testing.T, f *fixture) []string {
	t.Helper()
	var keys []string
	// The whole bucket, filtered here: moto's authentication miscalculates
	// the signature of a query value holding '/', such as the prefix.
	p := s3.NewListObjectsV2Paginator(s.s3c, &s3.ListObjectsV2Input{Bucket: aws.String(localstack.Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); strings.HasPrefix(k, f.dest.Prefix) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// incompleteS3 counts the multipart uploads under the org's prefix that
// were neither completed nor aborted.
func (s *suite) incompleteS3(t *testing.T, f *fixture) int {
	t.Helper()
	out, err := s.s3c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(localstack.Bucket)}) // no Prefix: see listS3
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range out.Uploads {
		if strings.HasPrefix(aws.ToString(u.Key), f.dest.Prefix) {
			n++
		}
	}
	return n
}

// listBlobs lists every committed blob under the org's prefix.
func (s *suite) listBlobs(t *testing.T, f *fixture) []string {
	t.Helper()
	var names []string
	p := s.blobs.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: aws.String(f.dest.Prefix)})
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, aws.ToString(b.Name))
		}
	}
	return names
}

// uncommittedBlobs counts the blobs under the org's prefix that hold
// uncommitted blocks (staged by an upload that never committed them).
func (s *suite) uncommittedBlobs(t *testing.T, f *fixture, committed []string) int {
	t.Helper()
	names := map[string]bool{f.key: true}
	for _, n := range committed {
		names[n] = true
	}
	n := 0
	for name := range names {
		bl, err := s.blobs.NewBlockBlobClient(name).GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
		if err != nil {
			continue // no such blob, committed or not
		}
		if len(bl.UncommittedBlocks) > 0 {
			n++
		}
	}
	return n
}

func (s *suite) addSecret(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, v, url.QueryEscape(v))
}

// redact returns text for the test log, failing the test (and hiding the
// secret) if it holds a SAS signature.
func (s *suite) redact(t *testing.T, text string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range s.secrets {
		if strings.Contains(text, sec) {
			t.Error("an error text holds a SAS signature")
			text = strings.ReplaceAll(text, sec, "REDACTED")
		}
	}
	return text
}

// checkNoSecrets: no SAS signature in the handler's logs, its errors or
// the ledger's recorded errors.
func (s *suite) checkNoSecrets(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	texts := append([]string{s.logs.String()}, s.errs...)
	if len(s.secrets) == 0 {
		t.Error("no SAS URL was handed out: the Azure scenarios did not run")
	}
	for _, text := range texts {
		for _, sec := range s.secrets {
			if strings.Contains(text, sec) {
				t.Error("a SAS signature appears in the handler's output or errors") // the text itself is not printed
				return
			}
		}
		if strings.Contains(text, "sig=") {
			t.Error("a SAS query (sig=) appears in the handler's output or errors")
			return
		}
	}
}

// textTable is the results table for the test log.
func textTable(rows []*row) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\toutcome\tattempts\tfault hits\tobjects\trows\tlost\tduplicated\tpartial\tincomplete uploads left")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d/%d\t%d\t%d\t%d\t%d\n", r.Scenario, r.Outcome, r.Attempts, r.Hits, r.Objects, r.Rows, r.Generated, r.Lost, r.Duplicated, r.Partial, r.Incomplete)
	}
	tw.Flush()
	return b.String()
}

// markdownTable is the results table for docs/reliability.md.
func markdownTable(rows []*row, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Last run: %d scenarios in %s (`go test`, %d at a time; moto serves the log store at about 2 ms an event).\n\n", len(rows), took.Round(10*time.Second), concurrency)
	b.WriteString("| scenario | fault | outcome (invocations in order) | attempts | fault hits | objects | rows / generated | lost | duplicated | partial | incomplete uploads left |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %d | %d | %d / %d | %d | %d | %d | %d |\n",
			r.Scenario, r.Fault, r.Outcome, r.Attempts, r.Hits, r.Objects, r.Rows, r.Generated, r.Lost, r.Duplicated, r.Partial, r.Incomplete)
	}
	return b.String()
}

// writeDoc replaces what lies between the markers in docs/reliability.md.
func writeDoc(section string) error {
	path := filepath.Join(testenv.RepoRoot(), "docs", "reliability.md")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	i, j := strings.Index(doc, docMarkerBegin), strings.Index(doc, docMarkerEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the markers %s and %s", path, docMarkerBegin, docMarkerEnd)
	}
	doc = doc[:i+len(docMarkerBegin)] + "\n" + section + doc[j:]
	return os.WriteFile(path, []byte(doc), 0o644)
}
