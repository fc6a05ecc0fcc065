package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/onboard"
)

// policiesOutput is the --json output: the documents, our account and
// where it came from, and the registration command.
type policiesOutput struct {
	Account         string `json:"account"`
	AccountSource   string `json:"account_source"`
	RegisterCommand string `json:"register_command"`
	onboard.Documents
}

func newPolicies() *cobra.Command {
	var in onboard.Input
	var asJSON bool
	var outDir string
	cmd := &cobra.Command{
		Use:   "policies --org ORG --bucket B --region R (--customer-account ID [--role-name N] | --role-arn ARN) [--prefix P]",
		Short: "Print the IAM, trust and bucket policies (and lifecycle rule) an S3 customer sets up",
		Long: `policies fills in the documents of the product doc's AWS set-up for one org
and bucket: the IAM policy of the customer's role (step 2), the role's trust
policy (step 3) and the bucket policy statement (step 5), plus an optional,
recommended S3 lifecycle rule, and lists the values the customer sends back
(step 6) with the command that registers them.

Unlike the product doc's examples, the policies allow exactly what the export's
session policy allows, s3:PutObject and s3:AbortMultipartUpload (without the
latter a failed multipart upload leaves its parts behind, billed), and only on
the objects under the prefix, and only in a bucket that the bucket owner's
account owns (s3:ResourceAccount; --bucket-owner, default the role's account):
every delivery also sends ExpectedBucketOwner, so that a bucket of the same
name that someone else creates after the customer deleted theirs receives
nothing. The trust policy requires sts:ExternalId = the org ID. The lifecycle rule aborts incomplete multipart uploads under the prefix
after 7 days; apply it by merging it into the bucket's lifecycle configuration.

Our AWS account (the one customers' roles trust) is --account, else the
environment variable AUDITLOG_ACCOUNT_ID, else the account of the current AWS
credentials (STS GetCallerIdentity): run it with the deployment's credentials,
or pass the stack's output CustomerTrustAccountId. --principal trusts only the
given roles of that account instead of the whole account.

--out DIR also writes iam-policy.json, trust-policy.json, bucket-policy.json,
lifecycle.json and values.json into DIR, for the AWS CLI's file:// arguments.`,
		Example: `  auditctl policies --org acme --bucket acme-audit --region eu-west-1 --customer-account 210987654321 --prefix contentful/
  auditctl policies --org acme --bucket acme-audit --region eu-west-1 --role-arn arn:aws:iam::210987654321:role/AuditLogs --account 606137763417 --json
  auditctl policies --org acme --bucket acme-audit --region eu-west-1 --customer-account 210987654321 --out ./acme-setup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			account, source, err := ourAccount(cmd.Context(), in)
			if err != nil {
				return err
			}
			in.Account = account
			docs, err := onboard.Generate(in)
			if err != nil {
				return flagError(err, source)
			}
			if docs.Values.CustomerAccount == account {
				// Our export may not assume roles of its own account
				// (infra/stack denies it), so this set-up would never work.
				return usageError{fmt.Errorf("--customer-account %q: is our own AWS account (%s); the role must be in the customer's account", account, source)}
			}
			if outDir != "" {
				if err := writeDocuments(outDir, docs); err != nil {
					return err
				}
			}
			out := policiesOutput{Account: account, AccountSource: source, RegisterCommand: docs.Values.RegisterCommand(), Documents: docs}
			if asJSON {
				b, err := onboard.JSON(out)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return printPolicies(cmd.OutOrStdout(), out, outDir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.OrgID, "org", "", "organization ID (the external ID)")
	f.StringVar(&in.Bucket, "bucket", "", "the customer's S3 bucket")
	f.StringVar(&in.Prefix, "prefix", "", "object name prefix the files go under; a trailing / is added")
	f.StringVar(&in.Region, "region", "", "the bucket's AWS region")
	f.StringVar(&in.CustomerAccount, "customer-account", "", "the customer's 12-digit AWS account ID (where the role is)")
	f.StringVar(&in.RoleName, "role-name", "", "name of the role the customer creates (default "+onboard.DefaultRoleName+")")
	f.StringVar(&in.RoleARN, "role-arn", "", "the customer's role ARN, instead of --customer-account and --role-name")
	f.StringVar(&in.BucketOwner, "bucket-owner", "", "12-digit ID of the AWS account that owns the bucket (default the role's account)")
	f.StringVar(&in.Account, "account", "", "our AWS account ID, trusted by the role (default $"+config.EnvAccountID+", else STS GetCallerIdentity)")
	f.StringSliceVar(&in.Principals, "principal", nil, "trust only this IAM role or user ARN of our account instead of the whole account (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print everything as one JSON object")
	f.StringVar(&outDir, "out", "", "also write each document to a JSON file in this folder")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("bucket")
	_ = cmd.MarkFlagRequired("region")
	return cmd
}

// flagError turns an onboard field error into a usage error that names the
// flag (or, for our account, where its value came from) and the value.
func flagError(err error, accountSource string) error {
	var fe *audit.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := "--" + strings.ReplaceAll(fe.Field, "_", "-")
	if fe.Field == onboard.FieldAccount && accountSource != "" {
		name = accountSource
	}
	return usageError{fmt.Errorf("%s %q: %s", name, fe.Value, fe.Reason)}
}

// callerIdentity is the part of the STS client ourAccount uses.
type callerIdentity interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// ourAccount returns our AWS account ID and where it came from: the flag,
// the environment, or the account of the current credentials. The other
// inputs are checked before STS is asked.
func ourAccount(ctx context.Context, in onboard.Input) (string, string, error) {
	if in.Account != "" {
		return in.Account, "--account", nil
	}
	// Our account is known without the rest of the configuration, which
	// this command does not need.
	if v := os.Getenv(config.EnvAccountID); v != "" {
		return v, config.EnvAccountID, nil
	}
	probe := in
	probe.Account, probe.Principals = "000000000000", nil // checked once the account is known
	if err := probe.Validate(); err != nil {
		return "", "", flagError(err, "")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return "", "", fmt.Errorf("our AWS account: load AWS config: %w", err)
	}
	return accountFromSTS(ctx, sts.NewFromConfig(cfg))
}

func accountFromSTS(ctx context.Context, c callerIdentity) (string, string, error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("our AWS account: give --account or %s, or AWS credentials of the deployment (STS GetCallerIdentity failed: %w)", config.EnvAccountID, err)
	}
	return aws.ToString(out.Account), "STS GetCallerIdentity", nil
}

// writeDocuments writes each document to its file in dir.
func writeDocuments(dir string, docs onboard.Documents) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %q: %w", dir, err)
	}
	for _, f := range onboard.Files {
		b, err := onboard.JSON(f.Doc(docs))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			return fmt.Errorf("--out %q: %w", dir, err)
		}
	}
	return nil
}

// printPolicies writes the documents under headings, in the order of the
// product doc's steps.
func printPolicies(w io.Writer, out policiesOutput, outDir string) error {
	d, v := out.Documents, out.Documents.Values
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	doc := func(heading, file string, x any) {
		b, jerr := onboard.JSON(x)
		if jerr != nil && err == nil {
			err = jerr
		}
		p("\n## %s\n", heading)
		if outDir != "" {
			p("(written to %s)\n", filepath.Join(outDir, file))
		}
		p("\n%s", b)
	}
	prefix := v.Prefix
	if prefix == "" {
		prefix = "(none: the whole bucket)"
	}
	p("# Audit log delivery to S3 for org %s\n\n", v.OrgID)
	p("bucket   %s (%s), owned by account %s\nprefix   %s\nrole     %s\nour AWS account, trusted by the role: %s (from %s)\n", v.Bucket, v.Region, v.BucketOwner, prefix, v.RoleARN, out.Account, out.AccountSource)
	p("\nEvery delivery checks that account %s owns the bucket (ExpectedBucketOwner, and s3:ResourceAccount in\nthe policies): if the bucket is deleted and someone re-creates its name in another account, it receives nothing.\n", v.BucketOwner)
	doc("Step 2: IAM policy (IAM > Policies > Create policy > JSON)", "iam-policy.json", d.IAMPolicy)
	doc(fmt.Sprintf("Step 3: trust policy of the role %s (IAM > Roles > Create role > Custom trust policy; external ID = %s)", v.RoleARN[strings.LastIndex(v.RoleARN, "/")+1:], v.OrgID), "trust-policy.json", d.TrustPolicy)
	p("\nStep 4: attach the step 2 policy to the role.\n")
	doc(fmt.Sprintf("Step 5: bucket policy statement (S3 > %s > Permissions > Bucket policy; add it to any existing statements)", v.Bucket), "bucket-policy.json", d.BucketPolicy)
	doc(fmt.Sprintf("Optional, recommended: lifecycle rule (S3 > %s > Management; merge it with existing rules: the AWS CLI's put-bucket-lifecycle-configuration replaces them all)", v.Bucket), "lifecycle.json", d.Lifecycle)
	p("\n## Step 6: what the customer sends back\n\n")
	p("AWS account ID    %s\nbucket ARN        %s\nbucket owner      %s\nrole ARN          %s\nregion            %s\norg ID            %s\nprefix            %s\n", v.CustomerAccount, v.BucketARN, v.BucketOwner, v.RoleARN, v.Region, v.OrgID, prefix)
	p("\nRegister it with:\n\n  %s\n", out.RegisterCommand)
	return err
}
