package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/replay"
)

func newIngestReplay() *cobra.Command {
	var queue, messageFile, rejects string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay [--queue URL | --message-file F] [--max N] [--rejects R.jsonl] [--json]",
		Short: "Ingest again, from the stream, the batches the ingest function gave up on",
		Long: `replay drains the ingest-failures queue. Each of its messages is the Kinesis
event source mapping's record of a batch the ingest function failed on until the
records were 6 days old: the stream ARN, the shard, the first and last sequence
numbers, never the records. replay reads exactly that range back from the stream
(which keeps records 7 days) and runs it through the ingest function's code:
audited requests are stored, idempotent by request ID, and days already
delivered become stale and are delivered again by the next daily run (or
'auditctl backfill --only-missing' for days older than its window).

A message is deleted only once its whole range is stored. A message that is not
such a record, whose range could not be stored, or whose first records the
stream no longer holds (those audit events are lost: the rest is stored and the
error names the lost range) stays in the queue for you.

--message-file replays one such record saved to a file and leaves the queue
alone. Rejected records go to --rejects as JSON lines (standard error by
default), as with 'auditctl ingest'.

Exit status: 0 when every message's range was stored and deleted; 1 when a
message stays in the queue; 2 for a usage error.`,
		Example: `  auditctl ingest replay                       # the queue of $AUDITLOG_INGEST_FAILURES_QUEUE_URL
  auditctl ingest replay --max 1 --json
  auditctl ingest replay --message-file failure.json --rejects rejects.jsonl   # a record as in events/ingest-failure.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Read before the rest of the configuration: without a
			// queue or file this is a usage error, whatever else is
			// missing.
			if queue == "" && messageFile == "" {
				queue = os.Getenv(config.EnvIngestFailuresQueueURL)
			}
			if (queue == "") == (messageFile == "") {
				return usageError{fmt.Errorf("give --queue or --message-file (or set %s)", config.EnvIngestFailuresQueueURL)}
			}
			var failure replay.Failure
			if messageFile != "" {
				b, err := os.ReadFile(messageFile)
				if err != nil {
					return usageError{err}
				}
				if failure, err = replay.ParseFailure(b); err != nil {
					return usageError{fmt.Errorf("--message-file %s: %w", messageFile, err)}
				}
			}
			sink, _, closeRejects, err := openRejects(cmd, rejects)
			if err != nil {
				return err
			}
			defer closeRejects()
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			in := a.Ingester() // as the ingest function: store, ledger, AUDITLOG_INGEST_INCLUDE_POST
			in.Rejects = sink
			late := &lateDays{next: in.Late, days: map[lateDay]int{}}
			if in.Late != nil {
				in.Late = late
			}
			// The shard's 5 reads a second are shared with the ingest
			// function's own reader: more attempts than the SDK's 3 when
			// Kinesis throttles.
			stream := kinesis.NewFromConfig(a.AWS, func(o *kinesis.Options) { o.RetryMaxAttempts = 10 })
			r := &replay.Replayer{Stream: stream, Ingester: in}
			w := cmd.OutOrStdout()
			if messageFile != "" {
				res, err := r.Replay(cmd.Context(), failure.Batch)
				o := replay.Outcome{Condition: failure.RequestContext.Condition, Result: &res}
				if err != nil {
					o.Error = err.Error()
				}
				if asJSON {
					v := struct {
						replay.Outcome
						LateDays []lateDayView `json:"late_days"`
					}{o, late.list(time.Now())}
					if jerr := json.NewEncoder(w).Encode(v); jerr != nil {
						return jerr
					}
				} else {
					o.MessageID = messageFile
					printOutcome(w, o, false)
					late.print(w, time.Now())
				}
				return errors.Join(err, closeRejects())
			}
			var each func(replay.Outcome)
			if !asJSON {
				each = func(o replay.Outcome) { printOutcome(w, o, true) }
			}
			outs, err := r.Drain(cmd.Context(), sqs.NewFromConfig(a.AWS), queue, limit, each)
			if asJSON {
				if outs == nil {
					outs = []replay.Outcome{}
				}
				v := struct {
					Outcomes []replay.Outcome `json:"outcomes"`
					LateDays []lateDayView    `json:"late_days"`
				}{outs, late.list(time.Now())}
				if jerr := json.NewEncoder(w).Encode(v); jerr != nil {
					return jerr
				}
			} else {
				deleted := 0
				for _, o := range outs {
					if o.Deleted {
						deleted++
					}
				}
				fmt.Fprintf(w, "%d messages: %d replayed and deleted, %d left in the queue\n", len(outs), deleted, len(outs)-deleted)
				late.print(w, time.Now())
			}
			return errors.Join(err, closeRejects())
		},
	}
	f := cmd.Flags()
	f.StringVar(&queue, "queue", "", "the ingest-failures queue URL (default $"+config.EnvIngestFailuresQueueURL+")")
	f.StringVar(&messageFile, "message-file", "", "replay the one on-failure record in this file; the queue is left alone")
	f.IntVar(&limit, "max", 0, "handle at most N messages (default all)")
	f.StringVar(&rejects, "rejects", "", "write rejected records here as JSON lines (default: standard error)")
	f.BoolVar(&asJSON, "json", false, "print the outcomes as JSON")
	return cmd
}

// printOutcome prints one line for a message (or a message file).
func printOutcome(w io.Writer, o replay.Outcome, queued bool) {
	fmt.Fprintf(w, "%s", o.MessageID)
	if r := o.Result; r != nil {
		c := r.Counts
		fmt.Fprintf(w, "  %s %s..%s  read %d  stored %d  skipped %d  rejected %d", r.Shard, r.Start, r.End,
			c.Records, c.Stored, c.Skipped(), c.Rejected)
	}
	switch {
	case o.Error != "":
		fmt.Fprintf(w, "  FAILED: %s", o.Error)
		if queued {
			fmt.Fprint(w, " (kept in the queue)")
		}
	case o.Deleted:
		fmt.Fprint(w, "  stored, message deleted")
	case !queued:
		fmt.Fprint(w, "  stored")
	}
	fmt.Fprintln(w)
}

// lateDay is an org-day that received replayed events after it may have
// been delivered.
type lateDay struct {
	org string
	day audit.Day
}

// lateDays passes the ingester's late-event notes on to the ledger and
// keeps them, so replay can say which days are delivered again and how.
type lateDays struct {
	next ingest.LateNoter
	mu   sync.Mutex
	days map[lateDay]int
}

func (l *lateDays) NoteLate(ctx context.Context, org string, day audit.Day, n int) error {
	if err := l.next.NoteLate(ctx, org, day, n); err != nil {
		return err
	}
	l.mu.Lock()
	l.days[lateDay{org, day}] += n
	l.mu.Unlock()
	return nil
}

type lateDayView struct {
	OrgID  string `json:"org_id"`
	Day    string `json:"day"`
	Events int    `json:"events"`
	// Redelivery: "daily-run" when the next daily runs' catch-up covers
	// the day, else "backfill" (auditctl backfill --only-missing).
	Redelivery string `json:"redelivery"`
}

// list is the late days, by org and day. A day is left to the daily run
// when even tomorrow's run (whose target is today) still looks back to it.
func (l *lateDays) list(now time.Time) []lateDayView {
	l.mu.Lock()
	defer l.mu.Unlock()
	oldestCovered := fanoutfn.WindowStart(audit.DayOf(now), 0)
	out := []lateDayView{}
	for k, n := range l.days {
		v := lateDayView{OrgID: k.org, Day: k.day.String(), Events: n, Redelivery: "daily-run"}
		if k.day.Before(oldestCovered) {
			v.Redelivery = "backfill"
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].OrgID != out[j].OrgID {
			return out[i].OrgID < out[j].OrgID
		}
		return out[i].Day < out[j].Day
	})
	return out
}

func (l *lateDays) print(w io.Writer, now time.Time) {
	days := l.list(now)
	if len(days) == 0 {
		return
	}
	fmt.Fprintln(w, "days that received events after their delivery may have begun (the ledger marks a delivered one stale):")
	for _, d := range days {
		how := "the next daily run delivers it again"
		if d.Redelivery == "backfill" {
			how = fmt.Sprintf("older than the daily run's window: auditctl backfill --org %s --from %s --to %s --only-missing", d.OrgID, d.Day, d.Day)
		}
		fmt.Fprintf(w, "  %s %s  %d events  %s\n", d.OrgID, d.Day, d.Events, how)
	}
}
