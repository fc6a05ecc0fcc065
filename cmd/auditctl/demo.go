package main

import (
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/localstack"
)

func newDemo() *cobra.Command {
	var events string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Deliver a sample day end to end on a local stack",
		Long: `demo starts moto_server, local-kms and Azurite on 127.0.0.1, creates the
tables, KMS keys, a customer bucket with its IAM role and a customer container
with a create+write SAS, stores the sample events (moved to yesterday), and
delivers yesterday's file to one org on S3 and one on Azure through the
production code path. It prints each file as read back from the customer's
storage and stops the emulators at the end.`,
		Example: `  make demo
  auditctl demo --events events/sample-day.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localstack.Demo(cmd.Context(), cmd.OutOrStdout(), events)
		},
	}
	cmd.Flags().StringVar(&events, "events", "events/sample-day.ndjson", "NDJSON file of audit events (docs/event-format.md)")
	return cmd
}
