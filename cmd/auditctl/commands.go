package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/localdev/synth"
)

// loadApp builds the same components as the Lambda functions, from the
// same environment.
func loadApp(cmd *cobra.Command) (*app.App, error) {
	return app.Load(cmd.Context())
}

// loadAppForDay parses a --day value (a usage error when malformed), then
// loads the App.
func loadAppForDay(cmd *cobra.Command, day string) (audit.Day, *app.App, error) {
	d, err := audit.ParseDay(day)
	if err != nil {
		return d, nil, usageError{err}
	}
	a, err := loadApp(cmd)
	return d, a, err
}

func newExport() *cobra.Command {
	var org, day string
	var asJSON, force bool
	cmd := &cobra.Command{
		Use:   "export --org ORG --day YYYY-MM-DD [--force]",
		Short: "Deliver one org-day now, through the production code path",
		Long: `export delivers one org-day as the export function does: it takes the
org-day's lease in the delivery ledger (AUDITLOG_LEDGER_TABLE), delivers,
and records the outcome. A day the ledger shows as delivered is skipped
unless --force is given; --force re-delivers it (same key, same content
unless the log store changed). Without a ledger table it delivers directly.
With the lake as log store (AUDITLOG_LOG_STORE=lake) it first compacts the
org's bucket-day, as auditctl compact does, so that events just loaded are
delivered.`,
		Example: `  auditctl export --org acme --day 2026-11-24
  auditctl export --org acme --day 2026-11-24 --force --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, a, err := loadAppForDay(cmd, day)
			if err != nil {
				return err
			}
			if err := compactFor(cmd.Context(), a, org, d); err != nil {
				return err
			}
			// Without a ledger table the delivery runs unrecorded.
			out, err := a.Delivery(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))).Run(cmd.Context(), org, d, force)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
			}
			w := cmd.OutOrStdout()
			switch out.Skipped {
			case exportjob.SkippedDelivered:
				fmt.Fprintf(w, "already delivered (use --force to deliver again):\n")
			case exportjob.SkippedLeased:
				fmt.Fprintf(w, "another export is delivering org %s day %s now; nothing done\n", org, d)
				return nil
			}
			fmt.Fprintf(w, "key     %s\nrows    %d\nbytes   %d\nsha256  %s\n", out.Key, out.Rows, out.Bytes, out.SHA256)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization ID")
	cmd.Flags().StringVar(&day, "day", "", "UTC day to deliver, YYYY-MM-DD")
	cmd.Flags().BoolVar(&force, "force", false, "deliver again a day the ledger shows as delivered")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("day")
	return cmd
}

func newEvents() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Work with the events in the log store", Args: cobra.NoArgs}
	var file string
	load := &cobra.Command{
		Use:   "load --file F.ndjson",
		Short: "Store NDJSON audit events (docs/event-format.md) in the log store",
		Long: `load reads one event per line, validates each (a bad line stops the load and
names the line, the field and the value) and stores them in batches, so a file
of any size streams through. Storing an event again replaces it. Credentials in
request_query and referrer are redacted (docs/event-format.md).

Events of a day before today (UTC) are noted in the delivery ledger
(AUDITLOG_LEDGER_TABLE) as the ingest notes them: a day delivered without them
becomes stale, and the daily run (or auditctl backfill --only-missing, for a
day older than its window) delivers it again. The days of the events stored
before a bad line are noted too; loading the file again is safe.`,
		Example: `  auditctl events load --file events/sample-day.ndjson
  cat day.ndjson | auditctl events load --file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = cmd.InOrStdin()
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usageError{err}
				}
				defer f.Close()
				r = f
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			// The ingest's store: the log store, and the ledger told of
			// events of past days.
			stored, err := a.Ingester().StoreEvents(cmd.Context(), func(emit func(audit.Event) error) error {
				return audit.ReadNDJSON(r, emit)
			})
			if err != nil {
				return fmt.Errorf("%s: %w (%d events stored before it)", file, err, stored)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stored %d events\n", stored)
			return nil
		},
	}
	load.Flags().StringVar(&file, "file", "", "NDJSON file, - for standard input")
	_ = load.MarkFlagRequired("file")
	cmd.AddCommand(load, newGenerate())
	return cmd
}

func newGenerate() *cobra.Command {
	var orgs, n int
	var day, prefix string
	var seed int64
	cmd := &cobra.Command{
		Use:   "generate --orgs N --events M --day YYYY-MM-DD",
		Short: "Store a day of realistic synthetic events in the log store",
		Long: `generate writes M events spread over N orgs (named PREFIX-0001, PREFIX-0002, ...)
and over the UTC day: PUT, PATCH and DELETE requests on the audited routes of
the Content Management API (internal/routes), by users and apps, with a spread
of status codes and a business-hours peak. The same seed gives the same events,
so running it twice stores each event once. It prints the events per org: what
each org's delivered file must hold.`,
		Example: `  auditctl events generate --orgs 3 --events 100000 --day 2026-11-24
  auditctl events generate --orgs 50 --events 1000000 --day 2026-11-24 --org-prefix load --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := audit.ParseDay(day)
			if err != nil {
				return usageError{err}
			}
			if orgs < 1 || orgs > 100_000 || n < orgs {
				return usageError{fmt.Errorf("--orgs %d --events %d: want 1 to 100000 orgs and at least one event per org", orgs, n)}
			}
			c := synth.Config{Events: n, Day: d, Seed: seed}
			for i := 1; i <= orgs; i++ {
				c.Orgs = append(c.Orgs, fmt.Sprintf("%s-%04d", prefix, i))
			}
			if err := c.Validate(); err != nil {
				return usageError{err}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			stored, err := synth.Store(cmd.Context(), a.Store, c, 1000)
			if err != nil {
				return err
			}
			counts := synth.Counts(c)
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "stored %d events of %s\n", stored, d)
			for _, org := range c.Orgs {
				fmt.Fprintf(w, "%s\t%d\n", org, counts[org])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&orgs, "orgs", 3, "number of orgs")
	f.IntVar(&n, "events", 0, "number of events across the orgs")
	f.StringVar(&day, "day", "", "UTC day, YYYY-MM-DD")
	f.StringVar(&prefix, "org-prefix", "org", "org IDs are PREFIX-0001, PREFIX-0002, ...")
	f.Int64Var(&seed, "seed", 1, "generator seed")
	_ = cmd.MarkFlagRequired("events")
	_ = cmd.MarkFlagRequired("day")
	return cmd
}

func newRun() *cobra.Command {
	var day string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run --day YYYY-MM-DD",
		Short: "Run the fan-out now: invoke the export function once per enabled org",
		Long: `run does what the daily schedule does, for the given day: with the lake as log
store (AUDITLOG_LOG_STORE=lake) it first compacts each org bucket of the day
in process, as the state machine does before the fan-out (buckets already
compacted are left as they are); then the fan-out handler reads the registry and invokes the export function (AUDITLOG_EXPORT_FUNCTION)
asynchronously once per enabled org, through the Lambda Invoke API (on the
local stack, the Lambda emulator at AWS_ENDPOINT_URL_LAMBDA). It prints the
summary and fails, naming them, if invocations failed.`,
		Example: `  auditctl run --day 2026-11-24
  auditctl run --day 2026-11-24 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, a, err := loadAppForDay(cmd, day)
			if err != nil {
				return err
			}
			if err := compactAll(cmd.Context(), a, d); err != nil {
				return err
			}
			h, err := a.FanOut()
			if err != nil {
				return err
			}
			h.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			sum, runErr := h.Handle(cmd.Context(), fanoutfn.ManualRun(d))
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(sum); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "day %s: %d orgs seen, %d enabled, %d invoked, %d failed, %d SAS URLs expiring within 30 days\n",
					sum.Day, sum.Seen, sum.Enabled, sum.Invoked, sum.Failed, sum.SASExpiringSoon)
			}
			return runErr
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "UTC day to deliver, YYYY-MM-DD")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	_ = cmd.MarkFlagRequired("day")
	return cmd
}
