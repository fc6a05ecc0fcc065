package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/backfill"
	"github.com/contentful/auditlogs/internal/config"
)

func newBackfill() *cobra.Command {
	var org, from, to string
	var concurrency int
	var asJSON, onlyMissing bool
	cmd := &cobra.Command{
		Use:   "backfill --org ORG --from YYYY-MM-DD --to YYYY-MM-DD",
		Short: "Deliver again a range of days for one org, as export --force does for one",
		Long: `backfill delivers every day from --from to --to (inclusive, UTC) for one org,
through the export handler and the delivery ledger, as "auditctl export --force"
does for one day: each day's file is written again under the same key, and the
ledger records it. With --only-missing, days the ledger shows as delivered are
skipped instead.

The whole range is checked before anything is delivered: --to must be before
today (UTC), and --from must be inside the log store's retention (AUDITLOG_LOG_STORE_RETENTION_DAYS, 35 by default), so
that no file is delivered short. The org must have an enabled destination.

Days go one after another (each delivery is already parallel inside, and the
log store is shared with the daily run); --concurrency allows up to 4 at once.
A failed day does not stop the others. Progress goes to standard error: a bar
on a terminal, otherwise one line per day. At the end a summary table (day,
status, rows, bytes, sha256 prefix, error) goes to standard output, or, with
--json, the summary as JSON. Ctrl-C stops after the day in progress and still
prints the summary (a second Ctrl-C aborts at once; the day's lease then runs
out by itself). The exit code is 1 unless every day was delivered.`,
		Example: `  auditctl backfill --org acme --from 2026-11-01 --to 2026-11-24
  auditctl backfill --org acme --from 2026-11-20 --to 2026-11-24 --only-missing --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := audit.ValidateOrgID(org); err != nil {
				var fe *audit.FieldError
				if errors.As(err, &fe) {
					return usageError{fmt.Errorf("--org %q: %s", org, fe.Reason)}
				}
				return usageError{err}
			}
			var fromDay, toDay audit.Day
			for _, f := range []struct {
				name, value string
				dst         *audit.Day
			}{{"--from", from, &fromDay}, {"--to", to, &toDay}} {
				d, err := audit.ParseDay(f.value)
				if err != nil {
					return usageError{fmt.Errorf("%s %q: must be a date written YYYY-MM-DD", f.name, f.value)}
				}
				*f.dst = d
			}
			if concurrency < 1 || concurrency > backfill.MaxConcurrency {
				return usageError{fmt.Errorf("--concurrency %d: want 1 to %d", concurrency, backfill.MaxConcurrency)}
			}
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			days, err := backfill.Days(fromDay, toDay, time.Now(), a.Exporter.Retention)
			var re *backfill.RangeError
			if errors.As(err, &re) {
				return usageError{fmt.Errorf("--%s %s: %s", re.Field, re.Value, re.Reason)}
			} else if err != nil {
				return err
			}
			if onlyMissing && a.Ledger == nil {
				return usageError{fmt.Errorf("--only-missing needs the delivery ledger: environment variable %s is not set", config.EnvLedgerTable)}
			}
			// One clear error rather than the same failure for every day.
			d, err := a.Registry.Get(cmd.Context(), org)
			if err != nil {
				return fmt.Errorf("org %s: %w", org, err)
			}
			if !d.Enabled {
				return fmt.Errorf("org %s: its destination is disabled; enable it with auditctl destination put first", org)
			}

			if err := compactFor(cmd.Context(), a, org, days...); err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), len(days))
			// The delivery's warnings and errors (a day's failure, a
			// lease taken over, a ledger write that failed) show as they
			// happen, above the progress bar; its info lines would only
			// repeat the summary.
			del := a.Delivery(slog.New(slog.NewTextHandler(prog, &slog.HandlerOptions{Level: slog.LevelWarn})))
			stopWatch := watchInterrupt(cmd.Context(), prog)
			r := &backfill.Runner{Delivery: del, Concurrency: concurrency, DayTimeout: app.Timeout, Progress: prog}
			sum := r.Run(cmd.Context(), org, days, !onlyMissing)
			stopWatch()
			prog.finish()

			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(sum); err != nil {
					return err
				}
			} else if err := printSummary(cmd.OutOrStdout(), sum); err != nil {
				return err
			}
			if !sum.OK() {
				var why []string
				for _, c := range []struct {
					n    int
					what string
				}{{sum.Failed, "failed"}, {sum.Leased, "being delivered by another export"}, {sum.NotRun, "not run"}} {
					if c.n > 0 {
						why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
					}
				}
				return fmt.Errorf("backfill of org %s: %d of %d days not delivered (%s)", org, len(sum.Days)-sum.Delivered, len(sum.Days), strings.Join(why, ", "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "organization ID")
	f.StringVar(&from, "from", "", "first UTC day to deliver, YYYY-MM-DD")
	f.StringVar(&to, "to", "", "last UTC day to deliver, YYYY-MM-DD (before today)")
	f.IntVar(&concurrency, "concurrency", 1, fmt.Sprintf("days delivered at once, 1 to %d", backfill.MaxConcurrency))
	f.BoolVar(&onlyMissing, "only-missing", false, "skip days the ledger shows as delivered instead of delivering them again")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// watchInterrupt tells the operator, once ctx ends (Ctrl-C), that the days
// in progress are being finished, and gives SIGINT and SIGTERM back their
// default action, so that a second Ctrl-C ends the process at once. The
// returned func stops watching.
func watchInterrupt(ctx context.Context, prog *progress) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			prog.note("interrupted: finishing the day in progress, then the summary (Ctrl-C again to abort now)")
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progress reports each day on standard error: a bar redrawn in place on a
// terminal, one line per finished day otherwise (logs, CI). It is also the
// delivery's log writer, so that a log line never lands inside the bar.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	total   int
	done    int
	current []string // days in progress
	barOn   bool
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, total: total, tty: ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))}
}

const barWidth = 30

// bar draws the bar line (caller holds mu).
func (p *progress) bar() {
	if !p.tty {
		return
	}
	n := barWidth * p.done / max(p.total, 1)
	doing := ""
	if len(p.current) > 0 {
		doing = "  delivering " + strings.Join(p.current, ", ")
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d days%s", strings.Repeat("#", n), strings.Repeat(".", barWidth-n), p.done, p.total, doing)
	p.barOn = true
}

// clear removes the bar so a line can be written (caller holds mu).
func (p *progress) clear() {
	if p.barOn {
		fmt.Fprint(p.w, "\r\033[K")
		p.barOn = false
	}
}

func (p *progress) Start(day audit.Day) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = append(p.current, day.String())
	p.bar()
}

func (p *progress) Done(r backfill.DayResult, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	for i, d := range p.current {
		if d == r.Day.String() {
			p.current = append(p.current[:i], p.current[i+1:]...)
			break
		}
	}
	if p.tty {
		p.bar()
		return
	}
	// A failure's error is not repeated: the delivery has logged it just
	// before (above the bar, on a terminal), and the summary holds it.
	line := fmt.Sprintf("[%d/%d] %s %s", done, total, r.Day, r.Status)
	if r.Status == backfill.Delivered || r.Status == backfill.AlreadyDelivered {
		line += fmt.Sprintf(", %d rows, %d bytes", r.Rows, r.Bytes)
	}
	fmt.Fprintf(p.w, "%s (%s)\n", line, time.Duration(r.DurationMS)*time.Millisecond)
}

// Write writes log lines above the bar.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.w.Write(b)
	p.bar()
	return n, err
}

func (p *progress) note(msg string) { _, _ = p.Write([]byte(msg + "\n")) }

// finish removes the bar before the summary.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// printSummary writes the summary table.
func printSummary(w io.Writer, sum backfill.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tSTATUS\tROWS\tBYTES\tSHA256\tERROR")
	for _, d := range sum.Days {
		sha := d.SHA256
		if len(sha) > 12 {
			sha = sha[:12]
		}
		rows, bytes := fmt.Sprint(d.Rows), fmt.Sprint(d.Bytes)
		if d.Status == backfill.Failed || d.Status == backfill.NotRun || d.Status == backfill.Leased {
			rows, bytes = "-", "-"
		}
		// A permanent error reads "permanent: ...", which says so.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Day, d.Status, rows, bytes, sha, d.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\norg %s, %s to %s: %d of %d days delivered", sum.OrgID, sum.From, sum.To, sum.Delivered, len(sum.Days))
	if err == nil && sum.Interrupted {
		_, err = fmt.Fprintf(w, "; interrupted, %d not run", sum.NotRun)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}
