package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/verify"
)

func newVerify() *cobra.Command {
	var org string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --org ORG [--json]",
		Short: "Check an org's destination with a test delivery through the production path",
		Long: `verify writes a small text object to the org's destination exactly as the
daily export would: for S3 it assumes the customer's role with the org ID as
external ID and our session policy (and once more with a random external ID,
which must be refused: a role whose trust policy does not require the org ID
fails the check as external_id_not_required), for Azure it decrypts the SAS cipher
through KMS and checks the URL; then it uploads through the same sink. The
object is named <prefix>auditlogs-verify-<org>-<UTC time>-<random>.txt, which
never collides with a day's file, and says what it is. We cannot delete it
(our access is write-only, on purpose): the customer may.

A failure is named by a stable code (--json: failure.code) with what went
wrong and how to fix it; see docs/onboarding.md, "Check your destination".
A disabled destination is checked all the same, with a warning that
deliveries are off. For Azure the SAS expiry is shown, with a warning when it
is less than 30 days away. Exit code 0 when the object was written, 1 when
not.`,
		Example: `  auditctl verify --org acme
  auditctl verify --org globex --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := audit.ValidateOrgID(org); err != nil {
				return usageError{err}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			// The opener records the SAS expiry that verify learns, only
			// while the cipher it decrypted is still the registered one.
			v := &verify.Verifier{Destinations: a.Registry, Sinks: a.Sinks, Trust: a.Sinks}
			ctx, cancel := context.WithTimeout(cmd.Context(), verify.Timeout)
			defer cancel()
			r := v.Verify(ctx, org)
			w := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(w).Encode(r); err != nil {
					return err
				}
			} else {
				printReport(w, r)
			}
			if r.Failure != nil {
				return fmt.Errorf("verify org %s: %w", org, r.Failure)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization ID")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

// printReport writes r for people: where the probe went (or was to go),
// warnings, and the failure with its fix.
func printReport(w io.Writer, r verify.Report) {
	if r.OK {
		fmt.Fprintf(w, "ok: wrote a test object to the %s destination of org %s\n", r.Kind, r.OrgID)
	} else {
		fmt.Fprintf(w, "FAILED: org %s: %s\n", r.OrgID, r.Failure.Cause)
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-16s %s\n", k, v)
		}
	}
	row("bucket", r.Bucket)
	row("region", r.Region)
	row("role", r.RoleARN)
	row("external id", r.ExternalID)
	row("bucket owner", r.BucketOwner)
	row("storage account", r.StorageAccount)
	row("container", r.Container)
	if r.SASExpires != nil {
		row("sas expires", r.SASExpires.Format(time.RFC3339))
	}
	if r.Kind != "" {
		row("enabled", fmt.Sprint(r.Enabled))
	}
	if r.OK {
		row("key", r.Key)
		row("bytes", fmt.Sprint(r.Bytes))
	}
	for _, n := range r.Warnings {
		fmt.Fprintf(w, "warning [%s]: %s\n", n.Code, n.Message)
	}
	if f := r.Failure; f != nil {
		fmt.Fprintf(w, "what:   %s (at %s)\nfix:    %s\ndetail: %s\n", f.Message, f.Stage, f.Fix, f.Detail)
		return
	}
	fmt.Fprintln(w, "The object holds no audit data and can be deleted; we cannot delete it (our access is write-only).")
}
