package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/app/compactapp"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/logstore/factory"
)

func newCompact() *cobra.Command {
	var day, bucket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compact --day YYYY-MM-DD [--bucket N]",
		Short: "Compact a day of the lake's raw objects, in process, as the compaction function does",
		Long: `compact runs the compaction function's code in this process on the lake of
AUDITLOG_LAKE_BUCKET (docs/lake.md): for each org bucket of the day (all 64,
or the one --bucket names) it merges the raw objects not compacted yet with
what earlier compactions wrote into one object per org-day, sorted, each
request ID once, writes the bucket-day's manifest, and marks the org-days that
changed stale in the ledger (AUDITLOG_LEDGER_TABLE), so that they are
delivered again. A bucket-day whose manifest lists all its raw objects is left
as it is; running it again is safe.`,
		Example: `  auditctl compact --day 2026-11-24
  auditctl compact --day 2026-11-24 --bucket 17 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := audit.ParseDay(day)
			if err != nil {
				return usageError{err}
			}
			buckets := make([]int, 0, lake.Buckets)
			if bucket != "" {
				b, err := lake.ParseBucket(bucket)
				if err != nil {
					return usageError{fmt.Errorf("--bucket: %w", err)}
				}
				buckets = append(buckets, b)
			} else {
				for b := range lake.Buckets {
					buckets = append(buckets, b)
				}
			}
			c, err := config.FromEnvFor(config.Compact)
			if err != nil {
				return err
			}
			h, err := compactapp.New(cmd.Context(), c, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			var results []compaction.Result
			for _, b := range buckets {
				out, err := h.Handle(cmd.Context(), compactfn.Event{Bucket: &b, Day: d.String()})
				if err != nil {
					return err
				}
				results = append(results, out.Results...)
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(results)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "bucket\tinputs\trecords\tduplicates\torgs\trows\tchanged\t")
			var rows int64
			for _, r := range results {
				if r.Inputs == 0 {
					continue // a bucket without raw objects: an empty manifest
				}
				state := fmt.Sprint(len(r.Changed))
				if r.UpToDate {
					state = "up to date"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", lake.BucketName(r.Bucket), r.Inputs, r.Records, r.Duplicates, r.Orgs, r.Rows, state)
				rows += r.Rows
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d bucket-days compacted, %d rows\n", len(results), rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "UTC day to compact, YYYY-MM-DD")
	cmd.Flags().StringVar(&bucket, "bucket", "", "one org bucket, 0 to 63 (default: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	_ = cmd.MarkFlagRequired("day")
	return cmd
}

// compactFor compacts the bucket-days that hold org's days when the log
// store is the lake, so that an export or a backfill run by hand delivers
// what was loaded just before; with another store it does nothing. A
// bucket-day already compacted is left as it is.
func compactFor(ctx context.Context, a *app.App, org string, days ...audit.Day) error {
	if a.Config.LogStore != factory.KindLake {
		return nil
	}
	h, err := compactapp.New(ctx, a.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	b := lake.BucketOf(org)
	for _, d := range days {
		if _, err := h.Handle(ctx, compactfn.Event{Bucket: &b, Day: d.String()}); err != nil {
			return err
		}
	}
	return nil
}

// compactAll compacts every bucket of day when the log store is the lake
// (what the state machine does before the fan-out); with another store it
// does nothing.
func compactAll(ctx context.Context, a *app.App, d audit.Day) error {
	if a.Config.LogStore != factory.KindLake {
		return nil
	}
	h, err := compactapp.New(ctx, a.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	for b := range lake.Buckets {
		if _, err := h.Handle(ctx, compactfn.Event{Bucket: &b, Day: d.String()}); err != nil {
			return err
		}
	}
	return nil
}
