package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/api"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/registry"
)

func newDestination() *cobra.Command {
	cmd := &cobra.Command{Use: "destination", Short: "Manage where organizations' audit logs are delivered", Args: cobra.NoArgs}
	cmd.AddCommand(newDestinationPut(), newDestinationGet(), newDestinationList(),
		newDestinationSetEnabled(false), newDestinationSetEnabled(true), newDestinationDelete())
	return cmd
}

func newDestinationPut() *cobra.Command {
	var d destination.Destination
	var s3d destination.S3
	var cipherFile, residency, format, layout string
	var disabled, allowNoExternalID bool
	var shareWith []string
	put := &cobra.Command{
		Use:   "put --org ORG (--s3-bucket B --region R --role-arn ARN [--bucket-owner ID] | --azure-sas-cipher-file F --residency us|eu [--share-container-with ORG,...]) [--prefix P] [--format csv|csv.gz|jsonl.gz|parquet] [--layout flat|daily]",
		Short: "Create or replace an org's destination",
		Long: `put validates and stores the destination of one org. The external ID used to
assume an S3 role is always the org ID and cannot be set. The bucket owner
(--bucket-owner, default the role's account) is the AWS account that must own
the bucket: every delivery sends it as ExpectedBucketOwner and the session
policy allows no other account's bucket, so that a bucket re-created under the
same name in another account receives nothing.

For S3, put assumes the role with the org ID as external ID, then once more
with a random external ID: if STS accepts that too, the role's trust policy
does not require the external ID, so any org could register it, and put
refuses it unless --allow-no-external-id is given. A role that cannot be
assumed yet (the customer has not finished) is stored with a warning:
check it with auditctl verify once it is set up. An Azure SAS URL is
given only as the cipher the customer made with our public key (the base64
file, line breaks and all). put decrypts it with the residency's KMS key
(AUDITLOG_KMS_KEY_US / _EU) to check it before storing it: a SAS URL that is
expired, lacks the create or write permission, grants more than create, write
and add (read, list, delete, ...), is an account SAS or is not a container SAS
URL is refused, naming the problem (never the URL). The SAS's expiry is recorded,
so that status and the daily run warn 30 days before it runs out.

The storage account and container the SAS writes to are recorded too, and
belong to one org: the cipher is safe to send in clear text, so anyone who
has another customer's could register it. A container that another org's
destination uses is refused, naming that org, unless --share-container-with
names every org that uses it (orgs of one customer that share a container on
purpose). delete, and a put with another container or an S3 bucket, release
it.

--format chooses the delivered files' format: csv (the default, the product
doc's file), csv.gz (the same CSV, gzipped), jsonl.gz (gzipped JSON Lines,
one object a line with the CSV's column names) or parquet (zstd-compressed
columns, request_time a UTC timestamp). The file's extension follows it.
--layout daily puts each day's file and its manifest under
<prefix>date=YYYY-MM-DD/, a Hive-style partition that Athena and DuckDB read
as a column; flat (the default) puts them right under the prefix.`,
		Example: `  auditctl destination put --org acme --s3-bucket acme-audit --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/AuditLogs --prefix contentful/
  auditctl destination put --org globex --azure-sas-cipher-file sas-token.enc.b64 --residency eu
  auditctl destination put --org initech --s3-bucket initech-audit --region us-east-1 --role-arn arn:aws:iam::123456789012:role/AuditLogs --format parquet --layout daily`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d.Enabled = !disabled
			var err error
			if d.Format, err = fileformat.Parse(format); err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			if d.Layout, err = destination.ParseLayout(layout); err != nil {
				return usageError{fmt.Errorf("--layout: %w", err)}
			}
			switch {
			case s3d.Bucket != "" && cipherFile == "":
				d.Kind, d.S3 = destination.KindS3, &s3d
			case cipherFile != "" && s3d.Bucket == "":
				b, err := os.ReadFile(cipherFile)
				if err != nil {
					return usageError{err}
				}
				d.Kind, d.Azure = destination.KindAzure, &destination.Azure{SASCipher: string(b), Residency: destination.Residency(residency)}
			default:
				return usageError{fmt.Errorf("give either --s3-bucket (with --region and --role-arn) or --azure-sas-cipher-file (with --residency)")}
			}
			d.Normalize()
			if err := d.Validate(); err != nil {
				return err
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			// The check of internal/registration, the demo's too: the
			// role assumed and its trust checked, or the SAS decrypted and
			// checked as a delivery's (its errors never hold the URL),
			// then stored with the container claimed.
			reg := &registration.Registrar{Sinks: a.Sinks, SAS: a.SAS, Registry: a.Registry}
			warn := cmd.ErrOrStderr()
			saved, err := reg.Register(cmd.Context(), d, registration.Options{
				AllowNoExternalID: allowNoExternalID, ShareContainerWith: shareWith,
				CipherSource: "--azure-sas-cipher-file " + cipherFile,
				Warn:         func(msg string) { fmt.Fprintf(warn, "warning: %s\n", msg) },
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "saved %s destination for org %s (enabled: %t, prefix %q, format %s, layout %s)\n", saved.Kind, saved.OrgID, saved.Enabled, saved.Prefix, saved.FileFormat(), saved.Layout)
			if saved.S3 != nil {
				fmt.Fprintf(w, "deliveries write only if account %s owns bucket %s\n", saved.S3.Owner(), saved.S3.Bucket)
			}
			if saved.Azure != nil {
				fmt.Fprintf(w, "SAS URL writes to storage account %s, container %s\n", saved.Azure.StorageAccount, saved.Azure.Container)
				now := time.Now()
				fmt.Fprintf(w, "SAS URL expires %s (%s)\n", saved.Azure.SASExpiry.Format(time.RFC3339), untilText(saved.Azure.SASExpiry, now))
				if warn := sasWarning(saved, now); warn != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", warn)
				}
			}
			return nil
		},
	}
	f := put.Flags()
	f.StringVar(&d.OrgID, "org", "", "organization ID (also the STS external ID)")
	f.StringVar(&d.Prefix, "prefix", "", "object name prefix; a trailing / is added")
	f.StringVar(&format, "format", string(fileformat.Default), "format of the delivered files: csv, csv.gz, jsonl.gz or parquet")
	f.StringVar(&layout, "layout", string(destination.LayoutFlat), "flat, or daily: each day's files under <prefix>date=YYYY-MM-DD/")
	f.StringVar(&s3d.Bucket, "s3-bucket", "", "S3 bucket name")
	f.StringVar(&s3d.Region, "region", "", "the bucket's AWS region")
	f.StringVar(&s3d.RoleARN, "role-arn", "", "the customer's IAM role to assume")
	f.StringVar(&s3d.BucketOwner, "bucket-owner", "", "12-digit ID of the AWS account that owns the bucket (default the role's account)")
	f.StringVar(&cipherFile, "azure-sas-cipher-file", "", "file holding the base64 SAS cipher")
	f.StringVar(&residency, "residency", "", "us or eu: the key the SAS was encrypted to")
	f.BoolVar(&disabled, "disabled", false, "store it with delivery stopped")
	f.StringSliceVar(&shareWith, shareContainerFlag, nil, "orgs whose Azure destinations use the same storage container on purpose (comma-separated or repeated)")
	f.BoolVar(&allowNoExternalID, allowNoExternalIDFlag, false, "store an S3 role even if its trust policy does not require the org ID as external ID (or if that cannot be checked)")
	_ = put.MarkFlagRequired("org")
	return put
}

// allowNoExternalIDFlag overrides put's check of the role's trust policy.
const allowNoExternalIDFlag = registration.FlagAllowNoExternalID

// shareContainerFlag names the orgs an Azure destination shares its
// container with.
const shareContainerFlag = registration.FlagShareContainerWith

// destinationView is what get and list show of a destination: everything
// an operator needs, and of an Azure destination only a fingerprint of the
// SAS cipher, never the cipher or anything decrypted from it.
type destinationView struct {
	OrgID     string           `json:"org_id"`
	Kind      destination.Kind `json:"kind"`
	Enabled   bool             `json:"enabled"`
	Prefix    string           `json:"prefix"`
	Format    string           `json:"format"`
	Layout    string           `json:"layout"`
	CreatedAt time.Time        `json:"registered_at"`
	UpdatedAt time.Time        `json:"updated_at"`
	// S3 and Azure are the self-service API's views (internal/api): of
	// an Azure destination only the cipher's fingerprint and what was
	// learnt from the SAS, never the cipher.
	S3    *api.S3View    `json:"s3,omitempty"`
	Azure *api.AzureView `json:"azure,omitempty"`
	// Warning is sasWarning's, if any.
	Warning string `json:"warning,omitempty"`
}

func viewOf(d destination.Destination, now time.Time) destinationView {
	layout := d.Layout
	if layout == "" {
		layout = destination.LayoutFlat
	}
	return destinationView{OrgID: d.OrgID, Kind: d.Kind, Enabled: d.Enabled, Prefix: d.Prefix, Format: string(d.FileFormat()), Layout: string(layout),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Warning: sasWarning(d, now), S3: api.S3ViewOf(d), Azure: api.AzureViewOf(d)}
}

// sasWarning is the warning for an enabled Azure destination whose SAS URL
// expires within destination.SASWarnBefore or has expired, or "". A
// disabled org gets none: nothing is delivered to it.
func sasWarning(d destination.Destination, now time.Time) string {
	if !d.Enabled || !d.SASExpiresSoon(now) {
		return ""
	}
	exp := d.Azure.SASExpiry.UTC().Format(time.RFC3339)
	if !d.Azure.SASExpiry.After(now) {
		return fmt.Sprintf("org %s: SAS URL expired at %s: deliveries fail until the customer sends a new one (auditctl destination put)", d.OrgID, exp)
	}
	return fmt.Sprintf("org %s: SAS URL expires at %s (%s): ask the customer for a new one and register its cipher (auditctl destination put)",
		d.OrgID, exp, untilText(d.Azure.SASExpiry, now))
}

// untilText says how far t is from now, in whole days.
func untilText(t, now time.Time) string {
	d := t.Sub(now)
	switch days := int(d.Hours() / 24); {
	case d <= 0:
		return "expired"
	case days == 0:
		return "in less than a day"
	case days == 1:
		return "in 1 day"
	default:
		return fmt.Sprintf("in %d days", days)
	}
}

// checkOrg refuses a malformed org ID before any request is made.
func checkOrg(org string) error {
	if err := audit.ValidateOrgID(org); err != nil {
		return usageError{err}
	}
	return nil
}

// notFound adds the way out to a registry.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%w (auditctl destination list shows the registered orgs)", err)
	}
	return err
}

func newDestinationGet() *cobra.Command {
	var org string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get --org ORG",
		Short: "Show an org's destination (never its SAS URL or cipher)",
		Long: `get shows where an org's audit logs go: kind, enabled, prefix, when it was
registered and last changed; for S3 the bucket, region, role and external ID;
for Azure the residency, the SAS URL's expiry and a fingerprint of the cipher
(the first 12 hex digits of its SHA-256, as "base64 -d FILE | sha256sum" gives
for the customer's file). Neither the cipher nor the SAS URL is ever shown.
An org without a destination is an error (exit code 1).`,
		Example: `  auditctl destination get --org acme
  auditctl destination get --org globex --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOrg(org); err != nil {
				return err
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			d, err := a.Registry.Get(cmd.Context(), org)
			if err != nil {
				return notFound(err)
			}
			v := viewOf(d, time.Now())
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
			}
			return printView(cmd.OutOrStdout(), v, time.Now())
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization ID")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the destination as JSON")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func printView(w io.Writer, v destinationView, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, val string) { fmt.Fprintf(tw, "%s\t%s\n", k, val) }
	row("org", v.OrgID)
	row("kind", string(v.Kind))
	row("enabled", fmt.Sprint(v.Enabled))
	row("prefix", fmt.Sprintf("%q", v.Prefix))
	row("format", v.Format)
	row("layout", v.Layout)
	row("registered", v.CreatedAt.UTC().Format(time.RFC3339))
	row("updated", v.UpdatedAt.UTC().Format(time.RFC3339))
	if v.S3 != nil {
		row("bucket", v.S3.Bucket)
		row("region", v.S3.Region)
		row("role arn", v.S3.RoleARN)
		row("external id", v.S3.ExternalID)
		row("bucket owner", v.S3.BucketOwner)
	}
	if v.Azure != nil {
		row("residency", string(v.Azure.Residency))
		row("sas cipher", "sha256:"+v.Azure.CipherSHA256)
		row("sas expires", expiryText(v.Azure.SASExpires, now))
		if v.Azure.StorageAccount != "" {
			row("storage account", v.Azure.StorageAccount)
			row("container", v.Azure.Container)
		}
	}
	if v.Warning != "" {
		row("warning", v.Warning)
	}
	return tw.Flush()
}

func expiryText(t *time.Time, now time.Time) string {
	if t == nil {
		return "unknown (learnt at the next delivery)"
	}
	return t.UTC().Format(time.RFC3339) + " (" + untilText(*t, now) + ")"
}

func newDestinationList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every org's destination (never a SAS URL or cipher)",
		Long: `list shows every registered destination, sorted by org: kind, enabled, target
(s3://bucket/prefix and region, or the Azure residency and the cipher's
fingerprint), the SAS URL's expiry and when it was last changed. Enabled orgs
whose SAS URL expires within 30 days, or has expired, are named in warnings
on standard error (and in "warning" with --json).

A registry item that is not a valid destination (edited by hand, say) is
listed apart, never a failure: named on standard error with its org, the
field at fault and why (never a SAS cipher), and with --json in "invalid".
The daily run skips such an org until its destination is put again or
deleted. --json prints {"destinations": [...], "invalid": [...]}.`,
		Example: `  auditctl destination list
  auditctl destination list --json | jq -r '.destinations[] | select(.enabled == false) | .org_id'
  auditctl destination list --json | jq -r '.invalid[] | "\(.org_id) \(.field): \(.reason)"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			now := time.Now()
			dests, invalid, err := listDestinations(cmd, a.Registry)
			if err != nil {
				return err
			}
			views := []destinationView{} // [] rather than null in JSON when empty
			for _, d := range dests {
				views = append(views, viewOf(d, now))
			}
			for _, v := range views {
				if v.Warning != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", v.Warning)
				}
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(destinationList{Destinations: views, Invalid: invalid})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ORG\tKIND\tENABLED\tTARGET\tSAS EXPIRES\tUPDATED")
			for _, v := range views {
				target, expires := "", "-"
				switch {
				case v.S3 != nil:
					target = fmt.Sprintf("s3://%s/%s (%s)", v.S3.Bucket, v.Prefix, v.S3.Region)
				case v.Azure != nil:
					target = fmt.Sprintf("azure %s, cipher sha256:%s, prefix %q", v.Azure.Residency, v.Azure.CipherSHA256, v.Prefix)
					expires = expiryText(v.Azure.SASExpires, now)
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", v.OrgID, v.Kind, v.Enabled, target, expires, v.UpdatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"destinations": [...], "invalid": [...]} as JSON`)
	return cmd
}

// destinationList is `destination list --json`.
type destinationList struct {
	Destinations []destinationView      `json:"destinations"`
	Invalid      []registry.InvalidItem `json:"invalid"`
}

// listDestinations reads every valid destination of the registry, sorted
// by org, and the items it skipped as invalid (never nil, for JSON), each
// named on standard error with what to do about it.
func listDestinations(cmd *cobra.Command, reg *registry.Registry) ([]destination.Destination, []registry.InvalidItem, error) {
	var dests []destination.Destination
	invalid := []registry.InvalidItem{}
	err := reg.List(cmd.Context(), func(d destination.Destination) error {
		dests = append(dests, d)
		return nil
	}, func(bad registry.InvalidItem) { invalid = append(invalid, bad) })
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(dests, func(x, y destination.Destination) int { return strings.Compare(x.OrgID, y.OrgID) })
	slices.SortFunc(invalid, func(x, y registry.InvalidItem) int { return strings.Compare(x.OrgID, y.OrgID) })
	for _, bad := range invalid {
		fmt.Fprintf(cmd.ErrOrStderr(), "invalid: %v; skipped, and not delivered until \"auditctl destination put\" replaces it or \"auditctl destination delete\" removes it\n", bad)
	}
	return dests, invalid, nil
}

// newDestinationSetEnabled is `disable` (enabled false) or `enable`.
func newDestinationSetEnabled(enabled bool) *cobra.Command {
	var org string
	cmd := &cobra.Command{Args: cobra.NoArgs}
	if enabled {
		cmd.Use = "enable --org ORG"
		cmd.Short = "Resume delivery for an org"
		cmd.Long = `enable resumes the delivery that disable stopped. The next daily run delivers
yesterday, and its catch-up also delivers the days of the last 7 (since the
destination was registered) that were not delivered, those of the pause
included; "auditctl export --org ORG --day D" delivers an older day now.`
		cmd.Example = `  auditctl destination enable --org acme`
	} else {
		cmd.Use = "disable --org ORG"
		cmd.Short = "Stop delivery for an org (the customer's \"stop delivery\"), keeping its destination"
		cmd.Long = `disable stops the delivery of an org's audit logs and keeps its destination,
so that enable resumes it: the daily run no longer invokes the export for the
org, and an export or retry already under way is refused as "delivery is
disabled for this org" (recorded in the ledger, not retried). Files already
delivered stay where they are. To remove the destination, use delete.`
		cmd.Example = `  auditctl destination disable --org acme`
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOrg(org); err != nil {
			return err
		}
		a, err := loadApp(cmd)
		if err != nil {
			return err
		}
		if err := a.Registry.SetEnabled(cmd.Context(), org, enabled); err != nil {
			return notFound(err)
		}
		if enabled {
			fmt.Fprintf(cmd.OutOrStdout(), "delivery enabled for org %s: the next daily run delivers it, missed days of the last 7 included\n", org)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "delivery stopped for org %s: the daily run skips it until \"auditctl destination enable --org %s\"\n", org, org)
		}
		return nil
	}
	cmd.Flags().StringVar(&org, "org", "", "organization ID")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func newDestinationDelete() *cobra.Command {
	var org string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --org ORG --yes",
		Short: "Remove an org's destination for good",
		Long: `delete removes an org's destination from the registry: its bucket and role, or
its SAS cipher, are gone, and delivering again needs the customer's details
anew (destination put). It asks for --yes; without it nothing is done (exit
code 2). To pause delivery and keep the destination, use disable. The ledger's
records and the files already delivered are left as they are.`,
		Example: `  auditctl destination delete --org acme --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOrg(org); err != nil {
				return err
			}
			if !yes {
				return usageError{fmt.Errorf("delete removes the destination of org %s for good: add --yes to confirm (or use \"destination disable\" to stop delivery and keep it)", org)}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			kind, err := a.Registry.DeleteExisting(cmd.Context(), org)
			if err != nil {
				return notFound(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted the %s destination of org %s\n", kind, org)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization ID")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}
