package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/onboard"
)

var policiesArgs = []string{"policies", "--org", "acme", "--bucket", "acme-audit", "--region", "eu-west-1", "--customer-account", "210987654321", "--prefix", "contentful"}

func TestPoliciesJSONAndFiles(t *testing.T) {
	t.Setenv(config.EnvAccountID, "")
	dir := filepath.Join(t.TempDir(), "acme")
	out, err := run(append(policiesArgs, "--account", "606137763417", "--json", "--out", dir)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got policiesOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	want, err := onboard.Generate(onboard.Input{OrgID: "acme", Bucket: "acme-audit", Region: "eu-west-1", CustomerAccount: "210987654321", Prefix: "contentful", Account: "606137763417"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != "606137763417" || got.AccountSource != "--account" || got.RegisterCommand != want.Values.RegisterCommand() {
		t.Errorf("account %q from %q, register %q", got.Account, got.AccountSource, got.RegisterCommand)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got.Documents)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("documents\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	// --out: one file per document, each what the library renders.
	for _, f := range onboard.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := onboard.JSON(f.Doc(want))
		if string(b) != string(w) {
			t.Errorf("%s:\n%s\nwant\n%s", f.Name, b, w)
		}
	}
}

func TestPoliciesText(t *testing.T) {
	t.Setenv(config.EnvAccountID, "606137763417")
	out, err := run(policiesArgs...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"## Step 2: IAM policy", `"Resource": "arn:aws:s3:::acme-audit/contentful/*"`, `"s3:AbortMultipartUpload"`, `"s3:ResourceAccount": "210987654321"`,
		"owned by account 210987654321", "checks that account 210987654321 owns the bucket (ExpectedBucketOwner",
		"bucket owner      210987654321",
		"## Step 3: trust policy of the role ContentfulAuditLogs", `"AWS": "arn:aws:iam::606137763417:root"`, `"sts:ExternalId": "acme"`,
		"## Step 5: bucket policy", `"AWS": "arn:aws:iam::210987654321:role/ContentfulAuditLogs"`,
		"lifecycle rule", `"DaysAfterInitiation": 7`,
		"## Step 6", "bucket ARN        arn:aws:s3:::acme-audit",
		"(from AUDITLOG_ACCOUNT_ID)",
		"auditctl destination put --org acme --s3-bucket acme-audit --region eu-west-1 --role-arn arn:aws:iam::210987654321:role/ContentfulAuditLogs --prefix contentful/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestPoliciesBadInput: each bad value is a usage error naming the flag
// (or the variable) and the value.
func TestPoliciesBadInput(t *testing.T) {
	t.Setenv(config.EnvAccountID, "")
	base := append([]string{}, policiesArgs...)
	set := func(flag, value string) []string {
		args := append([]string{}, base...)
		for i, a := range args {
			if a == flag {
				args[i+1] = value
				return args
			}
		}
		return append(args, flag, value)
	}
	for name, c := range map[string]struct {
		args []string
		env  string
		want string
	}{
		"bucket":           {set("--bucket", "Acme_Audit"), "", `--bucket "Acme_Audit"`},
		"org":              {set("--org", "acme corp"), "", `--org "acme corp"`},
		"region":           {set("--region", "europe"), "", `--region "europe"`},
		"prefix":           {set("--prefix", "logs/*"), "", `--prefix "logs/*/"`},
		"customer account": {set("--customer-account", "2109-8765"), "", `--customer-account "2109-8765"`},
		"role name":        {set("--role-name", "my role"), "", `--role-name "my role"`},
		"bucket owner":     {set("--bucket-owner", "2109876543"), "", `--bucket-owner "2109876543": must be a 12-digit AWS account ID`},
		"account flag":     {set("--account", "60613776"), "", `--account "60613776"`},
		"account env":      {base, "6061377634", `AUDITLOG_ACCOUNT_ID "6061377634"`},
		"principal":        {append(set("--account", "606137763417"), "--principal", "arn:aws:iam::999999999999:role/x"), "", `--principal "arn:aws:iam::999999999999:role/x": is not in our account 606137763417`},
		"own account":      {set("--account", "210987654321"), "", `--customer-account "210987654321": is our own AWS account`},
		"role arn and account": {append(set("--account", "606137763417"), "--role-arn", "arn:aws:iam::210987654321:role/x"), "",
			`--customer-account "210987654321": give either the role ARN`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(config.EnvAccountID, c.env)
			out, err := run(c.args...)
			if !isUsage(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a usage error with %q\n%s", err, c.want, out)
			}
		})
	}
	if _, err := run("policies", "--org", "acme", "--bucket", "acme-audit", "--customer-account", "210987654321"); !isUsage(err) || !strings.Contains(err.Error(), "region") {
		t.Fatalf("missing --region: %v", err)
	}
}

// TestPoliciesAccountFromSTS: without --account or the variable, our
// account is the credentials' (STS GetCallerIdentity, here moto's).
func TestPoliciesAccountFromSTS(t *testing.T) {
	moto := testenv.StartMoto(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", config.EnvAccountID: "",
	} {
		t.Setenv(k, v)
	}
	out, err := run(append(policiesArgs, "--json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got policiesOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Account != "123456789012" || got.AccountSource != "STS GetCallerIdentity" ||
		got.TrustPolicy.Statement[0].Principal.AWS[0] != "arn:aws:iam::123456789012:root" {
		t.Fatalf("account %q from %q, trusted %v", got.Account, got.AccountSource, got.TrustPolicy.Statement[0].Principal)
	}

	// No STS to ask: a failure (exit 1), not a usage error, that says how
	// to give the account instead.
	moto.Stop()
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	_, err = run(policiesArgs...)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "give --account or AUDITLOG_ACCOUNT_ID") {
		t.Fatalf("err = %v, want a failure naming --account", err)
	}
}
