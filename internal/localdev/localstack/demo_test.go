package localstack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/emulator"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// TestUpDemoDown runs what `make demo` runs, with fewer events: Up starts
// the stack in the background (the export binary built for this machine
// under the Lambda emulator), the demo ingests into the lake and compacts
// each bucket, the demo's fan-out invokes the export once per org,
// and each org's file is read back with the generated row count; a second
// Up leaves the running stack alone; Down stops exactly the recorded
// processes.
func TestUpDemoDown(t *testing.T) {
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob", "aws-lambda-rie", "openssl")
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "export")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./functions/export")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the export function: %v\n%s", err, out)
	}
	// Up changes the process environment, as a shell sourcing .local/env
	// would; restore it for the other tests.
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}

	var out bytes.Buffer
	if err := Up(ctx, dir, bin, &out); err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	st, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.stop(&bytes.Buffer{}) })
	if len(st.Servers) != 4 {
		t.Fatalf("recorded %+v, want moto, local-kms, Azurite and the Lambda emulator", st.Servers)
	}
	env := readEnvFile(t, filepath.Join(dir, EnvFile))
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_LAMBDA", "AUDITLOG_LOG_STORE", "AUDITLOG_LAKE_BUCKET", "AUDITLOG_REGISTRY_TABLE", "AUDITLOG_LEDGER_TABLE",
		"AUDITLOG_KMS_KEY_US", "AUDITLOG_KMS_KEY_EU", "AUDITLOG_SIGNING_KEY_ID", "AUDITLOG_EXPORT_FUNCTION", "AUDITLOG_AZURE_EMULATOR_HOSTS", "AUDITLOG_LOCAL_PRINCIPALS",
		"AWS_ACCESS_KEY_ID", "AUDITLOG_RETRY_QUEUE_URL"} {
		if env[k] == "" {
			t.Errorf(".local/env lacks %s", k)
		}
		t.Setenv(k, env[k])
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	// customer.env acts as the account's administrator, as a customer's
	// script would; the CLI's credentials (env) may not create buckets.
	customer := readEnvFile(t, filepath.Join(dir, CustomerFile))
	createBucket := func(vars map[string]string, bucket string) error {
		cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: vars["AWS_ENDPOINT_URL"]})
		cfg.Credentials = credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")
		_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		return err
	}
	if err := createBucket(customer, "customer-script-bucket"); err != nil {
		t.Errorf("the administrator of %s could not create a bucket: %v", CustomerFile, err)
	}
	if err := createBucket(env, "operator-script-bucket"); err == nil {
		t.Errorf("the CLI's identity of %s created a bucket", EnvFile)
	}

	out.Reset()
	if err := Demo(ctx, dir, &out, 600); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"3 orgs seen, 3 invoked, 0 failed", "s3://" + Bucket, "s3://" + OtherBucket, "azure://" + Container,
		"contentful/audit-logs/contentful-audit-", "request_time,request_method,request_path", "every org's file holds exactly the events generated for it",
		"600 stored", "org-days of 600 rows", "rejected demo:malformed-1: record", "stages of 600 audited events", "end to end", "rejected demo:malformed-2: response_status",
		"IAM refuses what AWS would: org " + DemoIntruderOrg, `assumed the role with external ID "` + DemoIntruderOrg + `": refused, PermanentError`,
		"is not authorized to perform: sts:AssumeRole", "the ledger records a permanent failure for " + DemoIntruderOrg} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(text, "sig=") {
		t.Error("demo output shows a SAS signature")
	}
	// Registered through `destination put`'s check: the roles' trust
	// policies require the external ID, the SAS passes.
	if strings.Contains(text, "warning:") || !strings.Contains(text, "registered 3 destinations") {
		t.Error("the demo's registration warned, or did not register the 3 destinations")
	}
	logs, _ := os.ReadFile(filepath.Join(dir, "lambda-rie.log"))
	if n := bytes.Count(logs, []byte(`"message":"delivered"`)); n != 3 {
		t.Errorf("the export function logged %d deliveries, want 3:\n%s", n, logs)
	}
	if bytes.Contains(logs, []byte("sig=")) {
		t.Error("the export function's log shows a SAS signature")
	}
	if t.Failed() {
		t.Log(text)
	}

	badPayloads(t, dir, env["AWS_ENDPOINT_URL_LAMBDA"])

	out.Reset()
	if err := Up(ctx, dir, bin, &out); err != nil || !strings.Contains(out.String(), "already up") {
		t.Fatalf("second up: %v\n%s", err, out.String())
	}
	if again, _ := readState(dir); again.Servers[0].PID != st.Servers[0].PID {
		t.Fatal("a second up replaced the running stack")
	}

	out.Reset()
	if err := Down(dir, &out); err != nil {
		t.Fatalf("down: %v\n%s", err, out.String())
	}
	for _, p := range st.Servers {
		if emulator.Running(p.PID, p.Tool) {
			t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
		}
		if !strings.Contains(out.String(), "stopped "+p.Name) {
			t.Errorf("down did not report stopping %s:\n%s", p.Name, out.String())
		}
	}
	for _, f := range []string{EnvFile, CustomerFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("down left %s", f)
		}
	}
	out.Reset()
	if err := Down(dir, &out); err != nil || !strings.Contains(out.String(), "no local stack") {
		t.Fatalf("second down: %v\n%s", err, out.String())
	}
}

// readEnvFile reads the export lines of .local/env as a shell would.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	cmd := exec.Command("sh", "-c", ". "+path+" && env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("source %s: %v", path, err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && (strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "AUDITLOG_")) {
			env[k] = v
		}
	}
	return env
}

// badPayloads invokes the export function under the emulator with
// payloads no retry can fix: each gets an error that says what is wrong,
// and no object appears in any customer's storage.
func badPayloads(t *testing.T, dir, lambdaURL string) {
	ctx := context.Background()
	st, err := Attach(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	before := st.objects(t)
	today := audit.DayOf(time.Now())
	for _, tc := range []struct{ payload, want string }{
		{`{"org_id": "nobody-here", "day": "` + today.AddDays(-1).String() + `", "attempt": 1}`, "nobody-here"},
		{`{"org_id": "` + DemoS3Org + `", "day": "2026-13-01", "attempt": 1}`, `day "2026-13-01"`},
		{`{"org_id": "` + DemoS3Org + `", "day": "` + today.String() + `", "attempt": 1}`, "not over"},
		{`{"org_id": "` + DemoAzureOrg + `", "day": "` + today.AddDays(1).String() + `", "attempt": 1}`, "not over"},
	} {
		resp, err := http.Post(lambdaURL+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(tc.payload))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer struct {
			Message string `json:"errorMessage"`
		}
		if json.Unmarshal(body, &answer) != nil || !strings.Contains(answer.Message, tc.want) {
			t.Errorf("payload %s: answer %s, want an error mentioning %q", tc.payload, body, tc.want)
		}
	}
	if after := st.objects(t); !slices.Equal(before, after) {
		t.Errorf("bad payloads changed the customers' storage: before %v, after %v", before, after)
	}
}

// objects lists every object of the customers' buckets and container.
func (s *Stack) objects(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	for _, b := range []string{Bucket, OtherBucket} {
		p := s3.NewListObjectsV2Paginator(s.s3(), &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				names = append(names, b+"/"+aws.ToString(o.Key))
			}
		}
	}
	cc, err := s.containerClient()
	if err != nil {
		t.Fatal(err)
	}
	pager := cc.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, Container+"/"+*b.Name)
		}
	}
	slices.Sort(names)
	return names
}
