package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/redrive"
)

func newRedrive() *cobra.Command {
	var from, to string
	var limit int
	cmd := &cobra.Command{
		Use:   "redrive [--from DLQ_URL] [--to QUEUE_URL] [--max N]",
		Short: "Move failed exports from the retry dead-letter queue back to the retry queue",
		Long: `redrive hands the messages of the terminal dead-letter queue (export failures
whose retries ran out) back to the retry queue, once their cause is fixed. A
message is deleted from the dead-letter queue only after the retry queue took
it, so an interrupted redrive leaves duplicates, never losses; the delivery
ledger delivers each org-day once all the same. The queues default to
AUDITLOG_RETRY_DLQ_URL and AUDITLOG_RETRY_QUEUE_URL (stack outputs).`,
		Example: `  auditctl redrive
  auditctl redrive --max 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Read before the rest of the configuration: without
			// queues this is a usage error, whatever else is missing.
			if from == "" {
				from = os.Getenv(config.EnvRetryDLQURL)
			}
			if to == "" {
				to = os.Getenv(config.EnvRetryQueueURL)
			}
			if from == "" || to == "" {
				return usageError{fmt.Errorf("give --from and --to, or set %s and %s", config.EnvRetryDLQURL, config.EnvRetryQueueURL)}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			n, err := redrive.Move(cmd.Context(), sqs.NewFromConfig(a.AWS), from, to, limit)
			fmt.Fprintf(cmd.OutOrStdout(), "moved %d messages from %s to %s\n", n, from, to)
			return err
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source queue URL (default $"+config.EnvRetryDLQURL+")")
	cmd.Flags().StringVar(&to, "to", "", "target queue URL (default $"+config.EnvRetryQueueURL+")")
	cmd.Flags().IntVar(&limit, "max", 0, "move at most N messages (default all)")
	return cmd
}
