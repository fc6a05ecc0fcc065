package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
)

// trustSetupCalls is what TestPutChecksTrustPolicy sends before moto
// authenticates: 3 for the exporter user (CreateUser, PutUserPolicy,
// CreateAccessKey) and one CreateRole for each of the two roles.
const trustSetupCalls = 3 + 1 + 1

// TestPutChecksTrustPolicy runs `destination put` for S3 against a moto
// that authenticates and evaluates trust policies: a role that requires
// the org ID as external ID is stored; a role whose trust has no
// sts:ExternalId condition is refused, naming the override flag and the
// condition to add, and stored with the flag (with a warning); a role that
// cannot be assumed yet is stored with a warning.
func TestPutChecksTrustPolicy(t *testing.T) {
	const org, openOrg, laterOrg = "trust-ok", "trust-open", "trust-later"
	moto := testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(trustSetupCalls))
	ctx := testenv.Context(t)
	ic := iam.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	key, secret := testenv.IAMUser(ctx, t, ic, "exporter",
		map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
		map[string]any{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
	// moto matches a trust policy's principal by the caller's exact ARN.
	exporter := "arn:aws:iam::123456789012:user/exporter"
	role := func(name string, statement map[string]any) string {
		t.Helper()
		statement["Effect"], statement["Principal"], statement["Action"] = "Allow", map[string]any{"AWS": exporter}, "sts:AssumeRole"
		doc := testenv.JSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{statement}})
		out, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(doc)})
		if err != nil {
			t.Fatalf("create role %s: %v", name, err)
		}
		return aws.ToString(out.Role.Arn)
	}
	good := role("requires-external-id", map[string]any{"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": org}}})
	open := role("no-external-id", map[string]any{})

	// Authenticating from here: the CLI runs as the exporter.
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, key, secret)
	table := testenv.UniqueName("registry")
	if err := registry.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AUDITLOG_REGISTRY_TABLE": table, "AUDITLOG_LAKE_BUCKET": "unused-lake",
		"AWS_ENDPOINT_URL_STS": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_DYNAMODB": "", "AUDITLOG_LEDGER_TABLE": "",
	} {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
	put := func(org, role string, extra ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr syncBuffer
		args := append([]string{"destination", "put", "--org", org, "--s3-bucket", "customer-audit", "--region", "us-east-1", "--role-arn", role}, extra...)
		err := runSplit(context.Background(), &stdout, &stderr, args...)
		t.Logf("auditctl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		return stdout.String(), stderr.String(), err
	}
	registered := func(org string) bool {
		t.Helper()
		_, err := registry.New(dynamodb.NewFromConfig(cfg), table).Get(ctx, org)
		return err == nil
	}

	if _, e, err := put(org, good); err != nil || e != "" || !registered(org) {
		t.Fatalf("put of a role that requires the external ID: %v, stderr %q", err, e)
	}

	_, _, err := put(openOrg, open)
	if err == nil || isUsage(err) || registered(openOrg) {
		t.Fatalf("put of a role that does not require the external ID: %v (stored: %t), want a refusal, exit code 1", err, registered(openOrg))
	}
	for _, want := range []string{open, "can be assumed with any external ID", "--allow-no-external-id", `"sts:ExternalId": "` + openOrg + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if _, e, err := put(openOrg, open, "--allow-no-external-id"); err != nil || !registered(openOrg) || !strings.Contains(e, "stored anyway (--allow-no-external-id)") {
		t.Errorf("put with --allow-no-external-id: %v, stderr %q, want it stored with a warning", err, e)
	}

	// The good role trusts only org's external ID: for another org it
	// cannot be assumed, so the check cannot run, and says so.
	if _, e, err := put(laterOrg, good); err != nil || !registered(laterOrg) || !strings.Contains(e, "cannot be assumed with external ID "+laterOrg+" yet") {
		t.Errorf("put of a role not assumable yet: %v, stderr %q, want it stored with a warning", err, e)
	}
}
