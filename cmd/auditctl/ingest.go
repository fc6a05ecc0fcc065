package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/ingest"
)

// rejectedError: the file was ingested, but some records were rejected
// (exit code 1).
type rejectedError struct {
	n    int
	dest string
}

func (e rejectedError) Error() string {
	return fmt.Sprintf("%d records rejected (written to %s)", e.n, e.dest)
}

func newIngest() *cobra.Command {
	var file, rejects string
	var includePOST bool
	var batch int
	cmd := &cobra.Command{
		Use:   "ingest --file F.ndjson [--rejects R.jsonl] [--include-post]",
		Short: "Classify API request-log records (docs/ingest-format.md) and store the audited ones",
		Long: `ingest reads one API request-log record per line, as the ingest function reads
them from Kinesis, and runs the same code: PUT, PATCH and DELETE requests (and
POST with --include-post) on an audited route become audit events in the log
store, keyed by request ID, so ingesting a file again stores nothing twice.
Requests with other methods (GET, HEAD, OPTIONS, ...) and requests on paths that
are no audited route are counted and skipped; a path that matches an audited
route only when case is ignored (/Spaces/s1/...) is a near miss, skipped and
counted apart, and the first of each batch is logged to standard error. Paths
are matched in their canonical form (no trailing or doubled slash, no dot
segment, unreserved characters decoded) and stored as sent. A malformed record is rejected:
it is written, with its line, field and reason, as one JSON line to --rejects
(standard error by default), and the rest of the file goes on.

It prints the records read, stored, skipped (by method, by route) and rejected.
Exit status: 0 when nothing was rejected; 1 when records were rejected (the good
ones are stored all the same) or the store failed; 2 for a usage error.`,
		Example: `  auditctl ingest --file requests.ndjson
  auditctl ingest --file requests.ndjson --rejects rejects.jsonl --include-post
  zcat requests.ndjson.gz | auditctl ingest --file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batch < 1 || batch > 100_000 {
				return usageError{fmt.Errorf("--batch %d: want 1 to 100000", batch)}
			}
			var r io.Reader = cmd.InOrStdin()
			name := "stdin"
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usageError{err}
				}
				defer f.Close()
				r, name = f, file
			}
			sink, dest, closeRejects, err := openRejects(cmd, rejects)
			if err != nil {
				return err
			}
			defer closeRejects()
			a, err := loadApp(cmd)
			if err != nil {
				return err
			}
			in := a.Ingester() // as the ingest function: store, ledger, AUDITLOG_INGEST_INCLUDE_POST
			if cmd.Flags().Changed("include-post") {
				in.Config.IncludePOST = includePOST
			}
			in.Rejects, in.BatchSize = sink, batch
			in.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)) // near misses
			var total ingest.Counts
			err = ingest.ReadLines(r, name, batch, func(records []ingest.Raw) error {
				c, err := in.Ingest(cmd.Context(), records)
				total.Add(c)
				return err
			})
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "records   %d\nstored    %d\nskipped   %d (method %d, route %d, near miss %d)\nrejected  %d\n",
				total.Records, total.Stored, total.Skipped(), total.SkippedMethod, total.SkippedRoute, total.SkippedNearMiss, total.Rejected)
			if err != nil {
				return err
			}
			if err := closeRejects(); err != nil {
				return err
			}
			if total.Rejected > 0 {
				return rejectedError{n: total.Rejected, dest: dest}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "NDJSON file of request-log records, - for standard input")
	f.StringVar(&rejects, "rejects", "", "write rejected records here as JSON lines (default: standard error)")
	f.BoolVar(&includePOST, "include-post", false, "audit POST (creates) too (default: AUDITLOG_INGEST_INCLUDE_POST, else false)")
	f.IntVar(&batch, "batch", ingest.DefaultBatchSize, "records read and events stored per batch")
	_ = cmd.MarkFlagRequired("file")
	cmd.AddCommand(newIngestReplay())
	return cmd
}

// openRejects is where `ingest` and `ingest replay` write rejected records
// as JSON lines: the file at path (--rejects), or standard error when path
// is empty; dest names it for messages. closeRejects closes the file once
// and reports a failed write-out (nil for standard error).
func openRejects(cmd *cobra.Command, path string) (sink *ingest.JSONLSink, dest string, closeRejects func() error, err error) {
	if path == "" {
		return &ingest.JSONLSink{W: cmd.ErrOrStderr()}, "standard error", func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, "", nil, usageError{err}
	}
	closeRejects = sync.OnceValue(func() error {
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	return &ingest.JSONLSink{W: f}, path, closeRejects, nil
}
