package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registry"
)

// statusRow is one org-day of `auditctl status`.
type statusRow struct {
	OrgID   string       `json:"org_id"`
	Day     audit.Day    `json:"day"`
	Enabled bool         `json:"enabled"`
	Entry   ledger.Entry `json:"ledger"`
	Status  string       `json:"status"` // the ledger's, or "none"
	// SASExpires is the org's SAS URL's expiry (Azure, once known), and
	// Warning says when it is near or past (see sasWarning).
	SASExpires *time.Time `json:"sas_expires,omitempty"`
	Warning    string     `json:"warning,omitempty"`
}

// statusList is `auditctl status --json`: the rows, and the registry
// items skipped because they are not valid destinations (their orgs have
// no rows).
type statusList struct {
	Rows    []statusRow            `json:"rows"`
	Invalid []registry.InvalidItem `json:"invalid"`
}

func newStatus() *cobra.Command {
	var org string
	var days int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--org ORG] [--days N]",
		Short: "Show the delivery ledger: each org-day's status, attempts, result and last error",
		Long: `status lists, for one org or every registered org, the last N days up to
yesterday (UTC) as the delivery ledger records them: delivered (with key, rows
and sha256), stale (delivered, then events of the day arrived late: the next
daily run delivers it again), running, failed (with the classified last error,
permanent or not), or none (never attempted). A failed or missing day inside the fan-out's
catch-up window is dispatched again by the next daily run; "auditctl export
--org ORG --day D" delivers it now.

It warns (on standard error, and in each row's "warning" with --json) when an
enabled org's Azure SAS URL expires in less than 30 days or has expired: ask
the customer for a new SAS and register its cipher with "auditctl destination
put".

A registry item that is not a valid destination is named on standard error
(org, field, reason; never a SAS cipher) and, with --json, in "invalid"; the
other orgs are shown as usual. --json prints {"rows": [...], "invalid": [...]}.`,
		Example: `  auditctl status --org acme
  auditctl status --days 14 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 || days > 366 {
				return usageError{fmt.Errorf("--days %d: want 1 to 366", days)}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			if a.Ledger == nil {
				return fmt.Errorf("environment variable %s is not set", config.EnvLedgerTable)
			}
			ctx := cmd.Context()
			var dests []destination.Destination
			invalid := []registry.InvalidItem{}
			if org != "" {
				d, err := a.Registry.Get(ctx, org)
				if err != nil {
					return err
				}
				dests = append(dests, d)
			} else if dests, invalid, err = listDestinations(cmd, a.Registry); err != nil {
				return err
			}
			to := audit.DayOf(time.Now()).AddDays(-1)
			from := to.AddDays(-(days - 1))
			var rows []statusRow
			now := time.Now()
			var warnings []string
			for _, d := range dests {
				var expires *time.Time
				if d.Azure != nil && !d.Azure.SASExpiry.IsZero() {
					expires = &d.Azure.SASExpiry
				}
				warning := sasWarning(d, now)
				if warning != "" {
					warnings = append(warnings, warning)
				}
				entries, err := a.Ledger.Days(ctx, d.OrgID, from, to)
				if err != nil {
					return err
				}
				byDay := map[audit.Day]ledger.Entry{}
				for _, e := range entries {
					byDay[e.Day] = e
				}
				for day := from; !to.Before(day); day = day.AddDays(1) {
					e, ok := byDay[day]
					st := string(e.Status)
					if !ok {
						st = "none"
					} else if e.Stale() {
						st = "stale" // delivered, then late events: the next run delivers it again
					}
					rows = append(rows, statusRow{OrgID: d.OrgID, Day: day, Enabled: d.Enabled, Entry: e, Status: st, SASExpires: expires, Warning: warning})
				}
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if asJSON {
				if rows == nil {
					rows = []statusRow{}
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(statusList{Rows: rows, Invalid: invalid})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ORG\tDAY\tSTATUS\tATTEMPTS\tROWS\tKEY\tLAST ERROR")
			for _, r := range rows {
				status := r.Status
				if !r.Enabled {
					status += " (disabled)"
				}
				lastErr := r.Entry.LastError
				if lastErr != "" && r.Entry.Permanent {
					lastErr = "permanent: " + lastErr
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.OrgID, r.Day, status, r.Entry.Attempts, r.Entry.Rows, r.Entry.Key, lastErr)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "one organization (default: every registered org)")
	cmd.Flags().IntVar(&days, "days", 7, "days up to yesterday")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rows as JSON")
	return cmd
}
