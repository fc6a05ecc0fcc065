package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/localdev/localstack"
)

// newUp, newDown and newDemo drive the local stack (internal/localstack).
func newUp() *cobra.Command {
	var dir, bin string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local stack in the background",
		Long: `up starts moto_server, local-kms and Azurite on 127.0.0.1, creates the
tables, the KMS keys (us, eu), the customers' buckets and container, and runs
the export function's binary (built for this machine) under the Lambda Runtime
Interface Emulator. It records the processes in DIR/stack.json and writes
DIR/env, shell exports of the endpoints, credentials and settings. When the
stack recorded in DIR still runs, up leaves it alone. "make up" builds the
binary and runs this.`,
		Example: `  make up && . .local/env
  auditctl up --dir .local --export-binary .local/bin/export`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localstack.Up(cmd.Context(), dir, bin, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".local", "folder for the stack's state, env file, data and logs")
	cmd.Flags().StringVar(&bin, "export-binary", ".local/bin/export", "the export function's bootstrap binary, built for this machine")
	return cmd
}

func newDown() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local stack that up started",
		Long: `down stops, by PID, exactly the processes that up recorded in DIR/stack.json
(a PID that now belongs to another program is left alone), removes their data
and DIR/env, and keeps their logs. With no stack recorded it does nothing.`,
		Example: `  make down
  auditctl down --dir .local`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localstack.Down(dir, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".local", "folder that up used")
	return cmd
}

func newDemo() *cobra.Command {
	var n int
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the daily job for three sample customers on the local stack",
		Long: `demo needs a local stack (make up), found in DIR. It sets up three customers
as the product doc describes, as the account's administrator (two S3 orgs,
each with its own bucket and an IAM role whose trust requires the org ID as
external ID; one Azure org whose SAS URL is encrypted with the doc's openssl
commands), registers their destinations as the operator, ingests yesterday's
API request logs as the ingest function, runs the fan-out as the fan-out
function, which invokes the export function once per org through the Lambda
emulator, and reads every delivered file back: destination, key, rows, bytes,
SHA-256, and the first lines of one. It fails unless each org's file holds
exactly the events generated for it. Last, an org registered with another
org's role is refused by that role's trust policy, as AWS would refuse it.
"make demo" runs up, this and down.`,
		Example: `  make demo
  make up && .local/bin/auditctl demo --events 1000 && make down`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 3 {
				return usageError{fmt.Errorf("--events %d: want at least 3, one per org", n)}
			}
			return localstack.Demo(cmd.Context(), dir, cmd.OutOrStdout(), n)
		},
	}
	cmd.Flags().IntVar(&n, "events", 100_000, "events to generate across the three orgs")
	cmd.Flags().StringVar(&dir, "dir", ".local", "folder that up used")
	return cmd
}
