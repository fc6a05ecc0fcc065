package localstack

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/synth"
	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/rsakey"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
)

// The demo's three customers.
const (
	DemoS3Org      = "acme-s3"      // S3, its own role, no prefix
	DemoOtherS3Org = "initech-s3"   // S3, another bucket and role, a prefix
	DemoAzureOrg   = "globex-azure" // Azure, SAS encrypted with openssl to the eu key
)

// Demo runs the daily job on a stack that Up started (found through the
// environment of .local/env): it sets up three customers as the product
// doc tells them to (two S3 orgs, each with its own bucket and an IAM role
// whose trust requires the org ID as external ID; one Azure org whose
// create+write SAS URL is encrypted with the doc's openssl commands),
// registers their destinations, ingests a day of the platform's API
// request logs across them (audited writes, reads, a create, an unknown
// route, malformed records) through the ingest's code into the lake's raw
// objects, compacts each org bucket of the day with the compaction
// function's code, runs the fan-out, which invokes the export function
// once per org through the Lambda emulator, and reads each delivered file
// back from the customer's storage: rows, bytes and SHA-256; then it
// prints the time of each stage. It fails when any
// org's file is missing or its row count differs from what was
// generated.
func Demo(ctx context.Context, dir string, out io.Writer, nEvents int) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	st, err := Attach(ctx, dir)
	if err != nil {
		return err
	}
	// The operator registers the destinations (as auditctl does).
	a, err := app.Load(ctx)
	if err != nil {
		return err
	}
	if a.Ledger == nil {
		return fmt.Errorf("environment variable %s is not set: start the local stack with `make up` and source .local/env", config.EnvLedgerTable)
	}

	reg := &registration.Registrar{Sinks: a.Sinks, SAS: a.SAS, Registry: a.Registry}
	say("== the customers set up their storage, as the product doc describes")
	dests := []destination.Destination{
		{OrgID: DemoS3Org, Kind: destination.KindS3, Enabled: true, S3: &destination.S3{Bucket: Bucket, Region: "us-east-1"}},
		{OrgID: DemoOtherS3Org, Kind: destination.KindS3, Enabled: true, Prefix: "contentful/audit-logs", S3: &destination.S3{Bucket: OtherBucket, Region: "us-east-1"}},
		{OrgID: DemoAzureOrg, Kind: destination.KindAzure, Enabled: true, Azure: &destination.Azure{Residency: destination.ResidencyEU}},
	}
	for i := range dests {
		d := &dests[i]
		switch d.Kind {
		case destination.KindS3:
			if d.S3.RoleARN, err = st.CustomerRoleFor(ctx, d.OrgID, d.S3.Bucket, d.Prefix); err != nil {
				return err
			}
			say("   %-13s s3://%s, role %s (trust: our identities, sts:ExternalId = %q; PutObject under %q)", d.OrgID, d.S3.Bucket, d.S3.RoleARN, d.ExternalID(), d.S3.Bucket+"/"+prefixOf(d.Prefix)+"*")
		case destination.KindAzure:
			sasURL, err := st.ContainerSAS(90 * 24 * time.Hour)
			if err != nil {
				return err
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: st.PublicKeys["eu"]})
			if d.Azure.SASCipher, err = opensslenc.Encrypt(ctx, pemKey, sasURL); err != nil {
				return fmt.Errorf("encrypt the SAS URL with openssl: %w", err)
			}
			say("   %-13s Azure container %s, create+write SAS encrypted with `openssl pkeyutl` to the eu key (%d base64 characters)",
				d.OrgID, Container, len(strings.ReplaceAll(d.Azure.SASCipher, "\n", "")))
		}
		// As `destination put` does, through the same check: the role
		// assumed and its trust policy checked, or the SAS decrypted and
		// checked, its expiry and the container it writes to (which the
		// registry claims for the org) stored with it.
		saved, err := reg.Register(ctx, *d, registration.Options{CipherSource: "the SAS cipher of the demo",
			Warn: func(msg string) { say("   warning: %s", msg) }})
		if err != nil {
			return err
		}
		*d = saved
	}
	say("   registered 3 destinations in table %s", RegistryTable)

	// Yesterday: a day that is over and inside the log store's retention
	// whenever the demo runs.
	day := audit.DayOf(time.Now()).AddDays(-1)
	// Fixed shares: the same three files whatever the day.
	gen := synth.Config{Orgs: []string{DemoS3Org, DemoOtherS3Org, DemoAzureOrg}, Events: nEvents, Day: day, Seed: day.Start().Unix(),
		Shares: demoShares}
	counts := synth.Counts(gen)
	var stages []stage
	say("\n== the platform's API request logs of %s, through the ingest into the lake's raw objects (s3://%s/%s)", day, LakeBucket, lake.RawPrefix)
	start := time.Now()
	// As the ingest function would: its own identity and permissions.
	ingester, err := st.AppAs(ctx, a.Config, grants.Ingest)
	if err != nil {
		return err
	}
	ic, rejects, err := ingestDemoDay(ctx, ingester, gen)
	if err != nil {
		return err
	}
	stages = append(stages, stage{"ingest", time.Since(start)})
	say("   %d records in %s: %d stored (%s %d, %s %d, %s %d), %d skipped (%d reads and creates, %d on no audited route), %d rejected",
		ic.Records, time.Since(start).Round(time.Millisecond), ic.Stored, DemoS3Org, counts[DemoS3Org], DemoOtherS3Org, counts[DemoOtherS3Org],
		DemoAzureOrg, counts[DemoAzureOrg], ic.Skipped(), ic.SkippedMethod, ic.SkippedRoute, ic.Rejected)
	for _, r := range rejects {
		say("   rejected %s: %s %s", r.Source, r.Field, r.Reason)
	}
	if ic.Stored != nEvents || ic.Rejected != len(demoMalformed) || ic.SkippedRoute != 1 {
		return fmt.Errorf("ingest: %+v, want %d stored, %d rejected, 1 skipped for its route", ic, nEvents, len(demoMalformed))
	}

	say("\n== compaction of %s: each of the %d org buckets, as the state machine's Distributed Map runs the compaction function", day, lake.Buckets)
	start = time.Now()
	results, err := st.compactDay(ctx, a.Config, day)
	if err != nil {
		return err
	}
	stages = append(stages, stage{"compaction", time.Since(start)})
	var inputs, orgs int
	var records, duplicates, rows int64
	for _, r := range results {
		inputs += r.Inputs
		records += r.Records
		duplicates += r.Duplicates
		orgs += r.Orgs
		rows += r.Rows
		if r.Orgs > 0 {
			say("   bucket %s: %d raw objects, %d records, %d duplicates, %d org-days, %d rows", lake.BucketName(r.Bucket), r.Inputs, r.Records, r.Duplicates, r.Orgs, r.Rows)
		}
	}
	say("   %d bucket-days in %s: %d raw objects, %d records, %d duplicates dropped, %d org-days of %d rows, each with its manifest entry",
		len(results), time.Since(start).Round(time.Millisecond), inputs, records, duplicates, orgs, rows)
	if rows != int64(nEvents) {
		return fmt.Errorf("compaction: %d rows, want the %d events ingested", rows, nEvents)
	}

	say("\n== the fan-out for %s: one export invocation per enabled org through the Lambda emulator (%s)", day, a.Config.ExportFunction)
	fanOut, err := st.AppAs(ctx, a.Config, grants.FanOut)
	if err != nil {
		return err
	}
	h, err := fanOut.FanOut()
	if err != nil {
		return err
	}
	h.Log = slog.New(slog.DiscardHandler) // its summary is printed below
	start = time.Now()
	sum, fanErr := h.Handle(ctx, fanoutfn.ManualRun(day))
	stages = append(stages, stage{"fan-out and exports", time.Since(start)})
	say("   %d orgs seen, %d invoked, %d failed, in %s", sum.Seen, sum.Invoked, sum.Failed, time.Since(start).Round(time.Millisecond))
	start = time.Now()

	say("\n== delivered objects, read back from the customers' storage")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   org\tdestination\tkey\trows\tgenerated\tbytes\tsha256\tledger")
	var errs []error
	if fanErr != nil {
		errs = append(errs, fanErr)
	}
	var firstLines []string
	for _, d := range dests {
		key := d.Key(day)
		where := "azure://" + Container
		if d.Kind == destination.KindS3 {
			where = "s3://" + d.S3.Bucket
		}
		res, err := st.inspect(ctx, d, key, firstLines == nil)
		if err != nil {
			// Say what the ledger knows of it: an export that ran out of
			// the function's time leaves its lease, one that failed its
			// reason.
			ledgerSays := "no ledger entry"
			if entry, ok, lerr := a.Ledger.Get(ctx, d.OrgID, day); lerr != nil {
				ledgerSays = "ledger: " + lerr.Error()
			} else if ok {
				ledgerSays = "the ledger says " + string(entry.Status)
				if entry.LastError != "" {
					ledgerSays += ": " + entry.LastError
				}
			}
			fmt.Fprintf(tw, "   %s\t%s\t%s\t-\t%d\t-\t-\t-\n", d.OrgID, where, key, counts[d.OrgID])
			errs = append(errs, fmt.Errorf("org %s: %s/%s: %w (%s)", d.OrgID, where, key, err, ledgerSays))
			continue
		}
		// The ledger must say what the customer's storage holds.
		entry, ok, err := a.Ledger.Get(ctx, d.OrgID, day)
		status := string(entry.Status)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok:
			status = "none"
			errs = append(errs, fmt.Errorf("org %s: no ledger entry", d.OrgID))
		case entry.Status != ledger.Delivered || entry.Key != key || entry.Rows != int64(res.rows) || entry.SHA256 != res.sha256:
			errs = append(errs, fmt.Errorf("org %s: the ledger says %s %s, %d rows, sha256 %s; the file has %d rows, sha256 %s",
				d.OrgID, entry.Status, entry.Key, entry.Rows, entry.SHA256, res.rows, res.sha256))
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", d.OrgID, where, key, res.rows, counts[d.OrgID], res.bytes, res.sha256, status)
		if res.rows != counts[d.OrgID] {
			errs = append(errs, fmt.Errorf("org %s: %d rows delivered, %d generated", d.OrgID, res.rows, counts[d.OrgID]))
		}
		if err := st.checkManifest(ctx, d, key, res); err != nil {
			errs = append(errs, fmt.Errorf("org %s: %w", d.OrgID, err))
		}
		if firstLines == nil {
			firstLines = res.first
			firstLines = append([]string{fmt.Sprintf("first lines of %s/%s:", where, key)}, firstLines...)
		}
	}
	tw.Flush()
	stages = append(stages, stage{"read-back", time.Since(start)})
	if len(firstLines) > 0 {
		say("\n== %s", firstLines[0])
		for _, l := range firstLines[1:] {
			say("   | %s", l)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the demo's delivery failed: %w", err)
	}
	say("\n== every org's file holds exactly the events generated for it, and its manifest, beside it, names the file's rows and SHA-256 and verifies with the signing key (fingerprint %s)",
		rsakey.Fingerprint(st.SigningPublicKey)[:16])
	say("\n== stages of %d audited events", nEvents)
	var total time.Duration
	for _, sg := range stages {
		say("   %-20s %8s", sg.name, sg.took.Round(time.Millisecond))
		total += sg.took
	}
	say("   %-20s %8s", "end to end", total.Round(time.Millisecond))
	return st.demoRefusal(ctx, say, a, dests[0], day)
}

// stage is a step of the daily job and how long it took.
type stage struct {
	name string
	took time.Duration
}

// demoCompactions is how many bucket-days the demo compacts at once: the
// Distributed Map runs up to 16 functions of one vCPU each; here they share
// the machine with moto.
const demoCompactions = 4

// compactDay runs the compaction function's code (compactapp, the
// handler the Distributed Map invokes) in this process for each bucket of
// day, with the compaction function's identity and permissions.
func (s *Stack) compactDay(ctx context.Context, c config.Config, day audit.Day) ([]compaction.Result, error) {
	h, err := s.compactor(ctx, c)
	if err != nil {
		return nil, err
	}
	results := make([]compaction.Result, lake.Buckets)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(demoCompactions)
	for b := range lake.Buckets {
		g.Go(func() error {
			var err error
			results[b], err = compactBucket(gctx, h, b, day)
			return err
		})
	}
	return results, g.Wait()
}

// demoShares are the demo orgs' shares of its events, in the order of
// synth.Config.Orgs: 50,000, 35,000 and 15,000 of the default 100,000.
var demoShares = []float64{50, 35, 15}

// DemoIntruderOrg registers another org's role in the demo, to be refused.
const DemoIntruderOrg = "mallory-s3"

// demoRefusal shows IAM refusing what AWS refuses: an operator registers a
// new org with the role of victim (an S3 org) — the confused deputy that
// the external ID stops. The export function, invoked through the Lambda
// emulator as the fan-out would, assumes the role with the new org's ID as
// external ID, which the role's trust policy does not allow: the delivery
// fails for good, the ledger says why, and the victim's bucket is
// unchanged. The intruder's destination is deleted again.
func (s *Stack) demoRefusal(ctx context.Context, say func(string, ...any), a *app.App, victim destination.Destination, day audit.Day) error {
	say("\n== IAM refuses what AWS would: org %s is registered with %s's role", DemoIntruderOrg, victim.OrgID)
	before, err := s.listS3(ctx, victim.S3.Bucket)
	if err != nil {
		return err
	}
	intruder := destination.Destination{OrgID: DemoIntruderOrg, Kind: destination.KindS3, Enabled: true, Prefix: victim.Prefix,
		S3: &destination.S3{Bucket: victim.S3.Bucket, Region: victim.S3.Region, RoleARN: victim.S3.RoleARN}}
	if _, err := a.Registry.Put(ctx, intruder); err != nil {
		return err
	}
	defer func() {
		if err := a.Registry.Delete(context.WithoutCancel(ctx), DemoIntruderOrg); err != nil {
			say("   deleting %s's destination failed: %v", DemoIntruderOrg, err)
		}
	}()
	payload, err := json.Marshal(exportjob.Payload{OrgID: DemoIntruderOrg, Day: day.String(), Attempt: 1})
	if err != nil {
		return err
	}
	resp, err := awslambda.NewFromConfig(s.Config(grants.FanOut)).Invoke(ctx, &awslambda.InvokeInput{
		FunctionName: aws.String(a.Config.ExportFunction), Payload: payload,
	})
	if err != nil {
		return fmt.Errorf("invoke the export for %s: %w", DemoIntruderOrg, err)
	}
	var answer struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	_ = json.Unmarshal(resp.Payload, &answer)
	if answer.Message == "" || !strings.Contains(answer.Message, "sts:ExternalId") {
		return fmt.Errorf("the export for %s was not refused by the role's trust policy: %s", DemoIntruderOrg, resp.Payload)
	}
	say("   the export function (as %s) assumed the role with external ID %q: refused, %s", s.Identities[grants.Export].User, DemoIntruderOrg, answer.Type)
	say("   | %s", answer.Message)
	entry, ok, err := a.Ledger.Get(ctx, DemoIntruderOrg, day)
	if err != nil {
		return err
	}
	if !ok || entry.Status != ledger.Failed || !entry.Permanent {
		return fmt.Errorf("the ledger says %+v for %s, want a permanent failure", entry, DemoIntruderOrg)
	}
	say("   the ledger records a permanent failure for %s %s; nothing is retried until the destination is fixed", DemoIntruderOrg, day)
	after, err := s.listS3(ctx, victim.S3.Bucket)
	if err != nil {
		return err
	}
	if !slices.Equal(before, after) {
		return fmt.Errorf("bucket %s changed: %v, then %v", victim.S3.Bucket, before, after)
	}
	say("   s3://%s holds the same %d objects as before; %s's destination is deleted again", victim.S3.Bucket, len(after), DemoIntruderOrg)
	return nil
}

// listS3 lists a bucket's keys, as the customer's administrator.
func (s *Stack) listS3(ctx context.Context, bucket string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.s3(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s: %w", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

func prefixOf(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// demoMalformed are request-log records the demo's platform gets wrong.
var demoMalformed = [][]byte{
	[]byte(`{"request_id":"demo-truncated","org_id":"` + DemoS3Org + `","request_time":`),
	[]byte(`{"request_id":"demo-bad-status","org_id":"` + DemoS3Org + `","request_time":"2026-11-24T10:00:00Z","request_method":"PUT","request_path":"/spaces/s1","response_status":"200"}`),
}

// ingestDemoDay writes the request-log records of the day that gen
// describes, as the platform's API would log them, through the ingest's
// code (app.Ingester, as the ingest function builds it) into the log
// store, a thousand at a time: every audited request, a GET of the same
// path after every fourth (the platform logs reads too, ingest skips
// them), a POST (a create: skipped by default), a DELETE on a path that is
// no audited route, and the malformed records of demoMalformed.
func ingestDemoDay(ctx context.Context, a *app.App, gen synth.Config) (ingest.Counts, []ingest.Reject, error) {
	in := a.Ingester()
	rejects := &ingest.MemorySink{}
	in.Rejects = rejects
	var total ingest.Counts
	batch := make([]ingest.Raw, 0, 1000)
	flush := func() error {
		c, err := in.Ingest(ctx, batch)
		total.Add(c)
		clear(batch)
		batch = batch[:0]
		return err
	}
	add := func(source string, data []byte) error {
		batch = append(batch, ingest.Raw{Source: source, Data: data})
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	}
	n := 0
	var last audit.Event
	err := synth.Generate(ctx, gen, func(e *audit.Event) error {
		n++
		last = *e
		if err := add(fmt.Sprintf("demo:%d", n), ingest.RecordOf(e)); err != nil {
			return err
		}
		if n%4 != 0 {
			return nil
		}
		read := *e
		read.RequestMethod, read.RequestID, read.ResponseStatus = "GET", e.RequestID+"-read", 200
		return add(fmt.Sprintf("demo:%d-read", n), ingest.RecordOf(&read))
	})
	if err != nil {
		return total, nil, err
	}
	create, unknown := last, last
	create.RequestMethod, create.RequestID, create.RequestPath = "POST", "demo-create", "/spaces/"+last.Space+"/environments/master/entries"
	unknown.RequestMethod, unknown.RequestID, unknown.RequestPath = "DELETE", "demo-unknown-route", "/spaces/"+last.Space+"/not_audited/x"
	for _, r := range []ingest.Raw{{Source: "demo:create", Data: ingest.RecordOf(&create)}, {Source: "demo:unknown-route", Data: ingest.RecordOf(&unknown)}} {
		if err := add(r.Source, r.Data); err != nil {
			return total, nil, err
		}
	}
	for i, m := range demoMalformed {
		if err := add(fmt.Sprintf("demo:malformed-%d", i+1), m); err != nil {
			return total, nil, err
		}
	}
	if err := flush(); err != nil {
		return total, nil, err
	}
	return total, rejects.Rejects(), nil
}

type inspection struct {
	rows   int
	bytes  int64
	sha256 string
	first  []string
}

// inspect streams a delivered file from the customer's storage, counting
// its CSV records (the header excluded) and hashing it.
func (s *Stack) inspect(ctx context.Context, d destination.Destination, key string, wantFirst bool) (inspection, error) {
	var res inspection
	body, err := s.openObject(ctx, d, key)
	if err != nil {
		return res, err
	}
	defer body.Close()
	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(body, h)}
	br := bufio.NewReader(counter)
	if wantFirst {
		// Peek the first lines for display without consuming them.
		head, _ := br.Peek(4096)
		for i, l := range strings.SplitAfter(string(head), "\r\n") {
			if i == 4 || !strings.HasSuffix(l, "\r\n") {
				break
			}
			res.first = append(res.first, strings.TrimSuffix(l, "\r\n"))
		}
	}
	r := csv.NewReader(br)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return res, fmt.Errorf("read CSV header: %w", err)
	}
	if strings.Join(header, ",") != strings.Join(audit.Columns, ",") {
		return res, fmt.Errorf("CSV header %q, want %q", header, audit.Columns)
	}
	for {
		if _, err := r.Read(); err == io.EOF {
			break
		} else if err != nil {
			return res, fmt.Errorf("CSV record %d: %w", res.rows+1, err)
		}
		res.rows++
	}
	res.bytes, res.sha256 = counter.n, hex.EncodeToString(h.Sum(nil))
	return res, nil
}

// checkManifest reads the manifest and signature beside a delivered file,
// as a customer would, and checks the signature with the signing key's
// public half and that the manifest names the file as inspected.
func (s *Stack) checkManifest(ctx context.Context, d destination.Destination, key string, file inspection) error {
	mk := manifest.Name(key)
	body, err := s.readObject(ctx, d, mk)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", mk, err)
	}
	sig, err := s.readObject(ctx, d, manifest.SignatureName(mk))
	if err != nil {
		return fmt.Errorf("signature of %s: %w", mk, err)
	}
	pub, err := rsakey.ParseDER(s.SigningPublicKey, 0)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("manifest %s: the signature does not verify: %w", mk, err)
	}
	m, err := manifest.Decode(body)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", mk, err)
	}
	if m.File.Key != key || m.File.Rows != int64(file.rows) || m.File.SHA256 != file.sha256 || m.File.Bytes != file.bytes {
		return fmt.Errorf("manifest %s names %s, %d rows, %d bytes, sha256 %s; the file has %d rows, %d bytes, sha256 %s",
			mk, m.File.Key, m.File.Rows, m.File.Bytes, m.File.SHA256, file.rows, file.bytes, file.sha256)
	}
	return nil
}

// openObject opens an object of d's storage, as its customer reads it.
func (s *Stack) openObject(ctx context.Context, d destination.Destination, key string) (io.ReadCloser, error) {
	if d.Kind == destination.KindS3 {
		o, err := s.s3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(d.S3.Bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		return o.Body, nil
	}
	return s.openBlob(ctx, key)
}

// readObject reads a small object of d's storage whole.
func (s *Stack) readObject(ctx context.Context, d destination.Destination, key string) ([]byte, error) {
	r, err := s.openObject(ctx, d, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
