package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/verify"
)

// TestVerify runs `auditctl verify` against a local stack (moto, local-kms,
// Azurite) with destinations registered through `destination put`: healthy
// S3 and Azure destinations get a probe object, a disabled one is checked
// with a warning, failures exit non-zero with their cause, bad calls are
// usage errors, and no output holds the SAS signature.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	var secrets []string
	noSecret := func(out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output holds the SAS signature or query:\n%s", strings.ReplaceAll(out, s, "<secret>"))
			}
		}
	}
	verifyJSON := func(org string) (verify.Report, string, error) {
		t.Helper()
		out, err := run("verify", "--org", org, "--json")
		noSecret(out)
		var r verify.Report
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			t.Fatalf("verify --json output: %v\n%s", jerr, out)
		}
		return r, out, err
	}
	probe := func(prefix, org string) *regexp.Regexp {
		return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix+"auditlogs-verify-"+org+"-") + `\d{8}T\d{6}Z-[0-9a-f]{8}\.txt$`)
	}

	t.Run("s3", func(t *testing.T) {
		role, err := st.CustomerRole(ctx, "cli-s3")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := run("destination", "put", "--org", "cli-s3", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--prefix", "audit"); err != nil {
			t.Fatalf("destination put: %v\n%s", err, out)
		}
		out, err := run("verify", "--org", "cli-s3")
		t.Logf("auditctl verify --org cli-s3:\n%s", out)
		if err != nil || !strings.HasPrefix(out, "ok: wrote a test object to the s3 destination of org cli-s3") ||
			!strings.Contains(out, "bucket           "+localstack.Bucket) || !strings.Contains(out, "external id      cli-s3") || !strings.Contains(out, "can be deleted") {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		r, _, err := verifyJSON("cli-s3")
		if err != nil || !r.OK || !probe("audit/", "cli-s3").MatchString(r.Key) || r.Bucket != localstack.Bucket || r.RoleARN != role {
			t.Fatalf("verify --json: %v %+v", err, r)
		}
		body, err := st.ReadS3(ctx, r.Key)
		if err != nil || len(body) != r.Bytes || !strings.Contains(string(body), "organization: cli-s3") {
			t.Fatalf("probe object %s: %v\n%s", r.Key, err, body)
		}
	})

	// A role whose trust policy lacks the sts:ExternalId condition: the
	// local stack, like AWS, lets any external ID assume it, put refuses
	// it unless told otherwise, and verify says so before writing.
	t.Run("s3-open-trust", func(t *testing.T) {
		trust, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": st.Principals()}, "Action": "sts:AssumeRole"}}})
		created, err := iam.NewFromConfig(st.AWS).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("AuditLogs-open-trust"), AssumeRolePolicyDocument: aws.String(string(trust))})
		if err != nil {
			t.Fatal(err)
		}
		role := aws.ToString(created.Role.Arn)
		put := []string{"destination", "put", "--org", "cli-open", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role}
		if _, err := run(put...); err == nil || !strings.Contains(err.Error(), "--"+allowNoExternalIDFlag) {
			t.Fatalf("put of a role without the external ID condition: %v, want a refusal naming --%s", err, allowNoExternalIDFlag)
		}
		if out, err := run(append(put, "--"+allowNoExternalIDFlag)...); err != nil {
			t.Fatalf("put with --%s: %v\n%s", allowNoExternalIDFlag, err, out)
		}
		expectExternalIDNotRequired(t, verifyJSON, "cli-open")
	})

	t.Run("s3-missing-bucket", func(t *testing.T) {
		// The role may write to the bucket; the bucket is not there.
		role, err := st.CustomerRoleFor(ctx, "cli-nobucket", "no-such-bucket-here", "")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := run("destination", "put", "--org", "cli-nobucket", "--s3-bucket", "no-such-bucket-here", "--region", "us-east-1", "--role-arn", role); err != nil {
			t.Fatalf("destination put: %v\n%s", err, out)
		}
		out, err := run("verify", "--org", "cli-nobucket")
		t.Logf("auditctl verify --org cli-nobucket:\n%s", out)
		if err == nil || isUsage(err) || !strings.HasPrefix(out, "FAILED: org cli-nobucket: bucket_missing") || !strings.Contains(out, "fix:    create bucket no-such-bucket-here") {
			t.Fatalf("verify: err %v (want a failure, exit 1)\n%s", err, out)
		}
		if r, _, err := verifyJSON("cli-nobucket"); err == nil || r.OK || r.Failure == nil || r.Failure.Cause != verify.CauseBucketMissing {
			t.Fatalf("verify --json: %v %+v", err, r.Failure)
		}
	})

	t.Run("azure", func(t *testing.T) {
		register := func(org string, validity time.Duration, extra ...string) {
			t.Helper()
			raw, err := st.ContainerSAS(validity)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, u.Query().Get("sig"), url.QueryEscape(u.Query().Get("sig")), u.RawQuery)
			cipher, err := st.EncryptSAS("eu", raw)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "sas-token.enc.b64")
			if err := os.WriteFile(file, []byte(cipher), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"destination", "put", "--org", org, "--azure-sas-cipher-file", file, "--residency", "eu", "--prefix", "logs/"}, extra...)
			if out, err := run(args...); err != nil {
				t.Fatalf("destination put: %v\n%s", err, out)
			}
		}
		register("cli-azure", 90*24*time.Hour)
		r, out, err := verifyJSON("cli-azure")
		if err != nil || !r.OK || len(r.Warnings) != 0 || r.Container != localstack.Container || r.SASExpires == nil ||
			r.SASExpires.Before(time.Now().Add(89*24*time.Hour)) || !probe("logs/", "cli-azure").MatchString(r.Key) {
			t.Fatalf("verify --json: %v\n%s", err, out)
		}
		body, err := st.ReadBlob(ctx, r.Key)
		if err != nil || len(body) != r.Bytes || !strings.Contains(string(body), "can be deleted") {
			t.Fatalf("probe blob %s: %v\n%s", r.Key, err, body)
		}

		// Expiring within 30 days, and disabled: written, with warnings.
		register("cli-azure-soon", 10*24*time.Hour, "--disabled", "--share-container-with", "cli-azure") // the local stack's one container
		out, err = run("verify", "--org", "cli-azure-soon")
		noSecret(out)
		t.Logf("auditctl verify --org cli-azure-soon:\n%s", out)
		if err != nil || !strings.HasPrefix(out, "ok: ") || !strings.Contains(out, "warning [sas_expires_soon]: the SAS URL expires at ") ||
			!strings.Contains(out, "warning [delivery_disabled]") || !strings.Contains(out, "sas expires      ") || !strings.Contains(out, "enabled          false") {
			t.Fatalf("verify: %v\n%s", err, out)
		}
	})

	t.Run("not-registered", func(t *testing.T) {
		r, out, err := verifyJSON("cli-nobody")
		if err == nil || isUsage(err) || r.Failure == nil || r.Failure.Cause != verify.CauseNotRegistered || r.Failure.Stage != verify.StageRegistry {
			t.Fatalf("verify --json: %v\n%s", err, out)
		}
	})

	t.Run("usage", func(t *testing.T) {
		if _, err := run("verify"); !isUsage(err) {
			t.Errorf("without --org: %v, want a usage error", err)
		}
		if _, err := run("verify", "--org", "no spaces"); !isUsage(err) || !strings.Contains(err.Error(), `org_id "no spaces"`) {
			t.Errorf("bad org: %v, want a usage error naming the value", err)
		}
	})
}

// expectExternalIDNotRequired checks that `auditctl verify` fails for org
// (exit 1) with external_id_not_required, before writing anything.
func expectExternalIDNotRequired(t *testing.T, verifyJSON func(string) (verify.Report, string, error), org string) {
	t.Helper()
	r, out, err := verifyJSON(org)
	if err == nil || isUsage(err) || r.OK || r.Failure == nil || r.Failure.Cause != verify.CauseExternalIDNotRequired ||
		r.Failure.Stage != verify.StageOpen || !strings.Contains(r.Failure.Fix, `"sts:ExternalId": "`+org+`"`) {
		t.Fatalf("verify --json on a role any external ID assumes: %v\n%s", err, out)
	}
}
