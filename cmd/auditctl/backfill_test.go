package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/backfill"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/registry"
)

// runSplit runs the CLI with ctx, stdout and stderr of the test's own.
func runSplit(ctx context.Context, stdout, stderr *syncBuffer, args ...string) error {
	root := newRoot()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// syncBuffer is a bytes.Buffer safe for the progress writer's goroutines,
// which calls onWrite after each write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onWrite func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	s := b.buf.String()
	f := b.onWrite
	b.mu.Unlock()
	if f != nil {
		f(s)
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBackfill runs backfill on a local stack with events on four days:
// one of them empty, one whose compacted file in the lake was changed. The
// subtests build on each other, in order.
func TestBackfill(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	const org = "bf-org"
	today := audit.DayOf(time.Now())
	days := []audit.Day{today.AddDays(-4), today.AddDays(-3), today.AddDays(-2), today.AddDays(-1)}
	counts := []int{40, 0, 25, 12} // events per day; the third one's file is changed
	var events []audit.Event
	for i, d := range days {
		for j := range counts[i] {
			path := fmt.Sprintf("/spaces/s/entries/e%d", j)
			events = append(events, audit.Event{OrgID: org, RequestID: fmt.Sprintf("d%dr%03d", i, j), RequestTime: d.Start().Add(time.Duration(j) * time.Minute),
				RequestMethod: "DELETE", RequestPath: path, ResponseStatus: 204})
		}
	}
	file := ndjsonFile(t, events)
	if out, err := run("events", "load", "--file", file); err != nil {
		t.Fatalf("events load: %v\n%s", err, out)
	}
	role, err := st.CustomerRole(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("destination", "put", "--org", org, "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--prefix", "bf"); err != nil {
		t.Fatalf("destination put: %v\n%s", err, out)
	}
	// Compact the third day and change a byte of its file in the lake:
	// the export must refuse to deliver it.
	if out, err := run("compact", "--day", days[2].String(), "--bucket", fmt.Sprint(lake.BucketOf(org))); err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}
	restore := corrupt(t, st, org, days[2])

	from, to := days[0].String(), days[3].String()

	t.Run("FailedDayDoesNotStopOthers", func(t *testing.T) {
		var stdout, stderr syncBuffer
		err := runSplit(ctx, &stdout, &stderr, "backfill", "--org", org, "--from", from, "--to", to, "--json")
		if err == nil || isUsage(err) || !strings.Contains(err.Error(), "1 of 4 days not delivered (1 failed") {
			t.Fatalf("err = %v, want a failure (exit 1) for one day\n%s%s", err, stdout.String(), stderr.String())
		}
		var sum backfill.Summary
		if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil || len(sum.Days) != 4 {
			t.Fatalf("summary: %v\n%s", err, stdout.String())
		}
		for i, d := range sum.Days {
			if i == 2 {
				if d.Status != backfill.Failed || !strings.Contains(d.Error, "inconsistent") || !strings.Contains(d.Error, "the store said") {
					t.Errorf("day %s: %+v, want failed on the changed file", d.Day, d)
				}
				continue
			}
			if d.Day != days[i] || d.Status != backfill.Delivered || d.Rows != int64(counts[i]) || d.Key != "bf/"+destination.ObjectName(org, days[i]) || len(d.SHA256) != 64 {
				t.Errorf("day %s: %+v, want delivered with %d rows", days[i], d, counts[i])
				continue
			}
			// The file: a header and one line per event.
			body, err := st.ReadS3(ctx, d.Key)
			if err != nil {
				t.Fatalf("read %s: %v", d.Key, err)
			}
			if lines := strings.Count(string(body), "\r\n"); lines != counts[i]+1 || int64(len(body)) != d.Bytes {
				t.Errorf("%s: %d lines, %d bytes; want %d lines (header + %d rows), %d bytes", d.Key, lines, len(body), counts[i]+1, counts[i], d.Bytes)
			}
		}
		// Progress without a terminal: one line per day.
		for i, d := range days {
			if !strings.Contains(stderr.String(), fmt.Sprintf("[%d/4] %s", i+1, d)) {
				t.Errorf("stderr lacks the line of %s:\n%s", d, stderr.String())
			}
		}
		// The ledger agrees.
		entries := ledgerDays(t, st, org, days[0], days[3])
		for i, d := range days {
			want := ledger.Delivered
			if i == 2 {
				want = ledger.Failed
			}
			if e := entries[d]; e.Status != want || (want == ledger.Delivered && e.Rows != int64(counts[i])) {
				t.Errorf("ledger %s: %+v, want %s", d, e, want)
			}
		}
	})

	t.Run("OnlyMissingAfterTheFix", func(t *testing.T) {
		restore()
		out, err := run("backfill", "--org", org, "--from", from, "--to", to, "--only-missing")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for i, d := range days {
			status := "already-delivered"
			if i == 2 {
				status = "delivered"
			}
			if !strings.Contains(out, fmt.Sprintf("%s  %s", d, status)) {
				t.Errorf("table lacks %s %s:\n%s", d, status, out)
			}
		}
		if !strings.Contains(out, "DAY         STATUS") || !strings.Contains(out, "4 of 4 days delivered") {
			t.Errorf("table:\n%s", out)
		}
		if e := ledgerDays(t, st, org, days[2], days[2])[days[2]]; e.Status != ledger.Delivered || e.Rows != 25 {
			t.Errorf("ledger after the fix: %+v", e)
		}
	})

	t.Run("InterruptStopsAfterTheDay", func(t *testing.T) {
		ictx, cancel := context.WithCancel(ctx)
		defer cancel()
		var stdout, stderr syncBuffer
		// Ctrl-C as the first day ends (a Ctrl-C in the middle of a day
		// is internal/backfill's TestRunInterrupted): no other day starts,
		// and the summary still comes.
		stderr.onWrite = func(s string) {
			if strings.Contains(s, "[1/4]") {
				cancel()
			}
		}
		err := runSplit(ictx, &stdout, &stderr, "backfill", "--org", org, "--from", from, "--to", to, "--json")
		if err == nil || isUsage(err) {
			t.Fatalf("err = %v, want a failure: not every day was delivered", err)
		}
		var sum backfill.Summary
		if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil {
			t.Fatalf("no summary after the interruption: %v\n%s", err, stdout.String())
		}
		if !sum.Interrupted || sum.Days[0].Status != backfill.Delivered || sum.Delivered != 1 || sum.NotRun != 3 {
			t.Fatalf("summary %+v", sum)
		}
		if !strings.Contains(stderr.String(), "interrupted: finishing the day in progress") {
			t.Errorf("stderr:\n%s", stderr.String())
		}
	})

	t.Run("AzureFailureHidesTheSAS", func(t *testing.T) {
		// An expired SAS fails every day; the summary, the progress and
		// the error say so without the URL's signature.
		sasURL, err := st.ContainerSAS(-time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(sasURL)
		if err != nil {
			t.Fatal(err)
		}
		sig := u.Query().Get("sig")
		cipher, err := st.EncryptSAS("us", sasURL)
		if err != nil || sig == "" {
			t.Fatalf("cipher: %v, sig %q", err, sig)
		}
		// Registered straight into the registry: `destination put` refuses
		// an expired SAS, so this is a SAS that expired after it was
		// registered.
		reg := registry.New(dynamodb.NewFromConfig(st.AWS), localstack.RegistryTable)
		if _, err := reg.Put(context.Background(), destination.Destination{OrgID: "bf-azure", Kind: destination.KindAzure, Enabled: true,
			Azure: &destination.Azure{SASCipher: cipher, Residency: destination.ResidencyUS}}); err != nil {
			t.Fatalf("register: %v", err)
		}
		out, err := run("backfill", "--org", "bf-azure", "--from", days[2].String(), "--to", to)
		if err == nil || isUsage(err) || !strings.Contains(out, "failed") || !strings.Contains(out, "expired") {
			t.Fatalf("err = %v, want two days failed on the expired SAS\n%s", err, out)
		}
		for _, secret := range []string{sig, url.QueryEscape(sig), u.RawQuery} {
			if strings.Contains(out, secret) || strings.Contains(err.Error(), secret) {
				t.Fatalf("the SAS signature appears in the output:\n%s", out)
			}
		}
	})

	t.Run("RangeErrors", func(t *testing.T) {
		for name, c := range map[string]struct {
			from, to, want string
		}{
			"today":            {from, today.String(), "--to " + today.String() + ": is not over yet"},
			"future":           {today.AddDays(3).String(), today.AddDays(4).String(), "--from " + today.AddDays(3).String() + ": is not over yet"},
			"out of retention": {today.AddDays(-40).String(), to, "--from " + today.AddDays(-40).String() + ": is older than the log store keeps events (35 days)"},
			"reversed":         {to, from, "--from " + to + ": is after to " + from},
			"malformed":        {"2026-13-01", to, `--from "2026-13-01": must be a date`},
		} {
			t.Run(name, func(t *testing.T) {
				out, err := run("backfill", "--org", org, "--from", c.from, "--to", c.to)
				if !isUsage(err) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want a usage error with %q\n%s", err, c.want, out)
				}
			})
		}
		if _, err := run("backfill", "--org", "no-such-org", "--from", from, "--to", to); err == nil || isUsage(err) || !strings.Contains(err.Error(), "no-such-org") {
			t.Fatalf("unregistered org: %v", err)
		}
		if _, err := run("backfill", "--org", org, "--from", from, "--to", to, "--concurrency", "9"); !isUsage(err) || !strings.Contains(err.Error(), "--concurrency 9") {
			t.Fatalf("concurrency: %v", err)
		}
	})
}

// corrupt changes one byte of the compacted file of org's day in the
// lake (as a disk or a person might) and returns the function that puts
// the original back.
func corrupt(t *testing.T, st *localstack.Stack, org string, day audit.Day) (restore func()) {
	t.Helper()
	ctx := context.Background()
	c := s3.NewFromConfig(st.AWS, s3obj.LakeOptions)
	key := lake.OrgDayFileKey(org, day)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(localstack.LakeBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	orig, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || len(orig) < 2 {
		t.Fatalf("read %s: %d bytes, %v", key, len(orig), err)
	}
	put := func(b []byte) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(localstack.LakeBucket), Key: aws.String(key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatalf("write %s: %v", key, err)
		}
	}
	changed := bytes.Clone(orig)
	changed[len(changed)-2] ^= 1
	put(changed)
	return func() { put(orig) }
}

func ledgerDays(t *testing.T, st *localstack.Stack, org string, from, to audit.Day) map[audit.Day]ledger.Entry {
	t.Helper()
	entries, err := ledger.New(dynamodb.NewFromConfig(st.AWS), os.Getenv("AUDITLOG_LEDGER_TABLE")).Days(context.Background(), org, from, to)
	if err != nil {
		t.Fatal(err)
	}
	m := map[audit.Day]ledger.Entry{}
	for _, e := range entries {
		m[e.Day] = e
	}
	return m
}

// TestProgressBar: on a terminal the bar is redrawn in place, and a log
// line is written above it, never inside.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, tty: true, total: 4}
	d := audit.DayOf(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	p.Start(d)
	p.Done(backfill.DayResult{Day: d, Status: backfill.Delivered}, 1, 4)
	p.Start(d.AddDays(1))
	fmt.Fprintf(p, "level=ERROR msg=\"delivery failed\"\n")
	p.finish()
	want := "\r\033[K[..............................] 0/4 days  delivering 2026-11-20" +
		"\r\033[K[#######.......................] 1/4 days" +
		"\r\033[K[#######.......................] 1/4 days  delivering 2026-11-21" +
		"\r\033[K" + "level=ERROR msg=\"delivery failed\"\n" +
		"\r\033[K[#######.......................] 1/4 days  delivering 2026-11-21" +
		"\r\033[K"
	if got := buf.String(); got != want {
		t.Errorf("terminal output\n%q\nwant\n%q", got, want)
	}
	if newProgress(&buf, 1).tty {
		t.Error("a buffer taken for a terminal")
	}
}
