package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/app/compactapp"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
)

var (
	stack *localstack.Stack
	apps  *app.App
)

// TestMain starts one local stack for the package: the production wiring
// (app.New) on moto_server, local-kms and Azurite.
func TestMain(m *testing.M) {
	code := func() int {
		st, err := localstack.Start(context.Background())
		defer st.Stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "local stack:", err)
			if testenv.Required() {
				return 1
			}
			fmt.Fprintln(os.Stderr, "SKIPPED: the app tests need the emulators (make tools)")
			return 0
		}
		stack = st
		apps, err = app.Load(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

var day = audit.DayOf(time.Now()).AddDays(-1)

// compact compacts the bucket-day of org's day in the lake (the local
// stack's log store), as the daily state machine does before the exports,
// with the compaction function's code.
func compact(t *testing.T, org string) {
	t.Helper()
	h, err := compactapp.New(context.Background(), apps.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b := lake.BucketOf(org)
	if _, err := h.Handle(context.Background(), compactfn.Event{Bucket: &b, Day: day.String()}); err != nil {
		t.Fatal(err)
	}
}

func register(t *testing.T, org string, kind destination.Kind) destination.Destination {
	t.Helper()
	ctx := context.Background()
	d := destination.Destination{OrgID: org, Kind: kind, Prefix: "audit/" + org, Enabled: true}
	switch kind {
	case destination.KindS3:
		role, err := stack.CustomerRole(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		d.S3 = &destination.S3{Bucket: localstack.Bucket, Region: "us-east-1", RoleARN: role}
	case destination.KindAzure:
		u, err := stack.ContainerSAS(time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := stack.EncryptSAS("us", u)
		if err != nil {
			t.Fatal(err)
		}
		d.Azure = &destination.Azure{SASCipher: c, Residency: destination.ResidencyUS}
		return putAzure(t, d)
	}
	d, err := apps.Registry.Put(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// azureOrgs are the orgs registered on the local stack's one container.
var azureOrgs struct {
	sync.Mutex
	orgs []string
}

// putAzure registers an Azure destination with the local stack's
// container recorded, as `destination put` does after decrypting, shared
// with the orgs registered on it before: the tests of this package all
// deliver to that one container, and the registry refuses a container
// that other orgs hold unless they are named.
func putAzure(t *testing.T, d destination.Destination) destination.Destination {
	t.Helper()
	azureOrgs.Lock()
	defer azureOrgs.Unlock()
	d.Azure.StorageAccount, d.Azure.Container = localstack.DevAccount, localstack.Container
	saved, err := apps.Registry.PutShared(context.Background(), d, azureOrgs.orgs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(azureOrgs.orgs, d.OrgID) {
		azureOrgs.orgs = append(azureOrgs.orgs, d.OrgID)
	}
	return saved
}

func read(t *testing.T, d destination.Destination, key string) []byte {
	t.Helper()
	var b []byte
	var err error
	if d.Kind == destination.KindS3 {
		b, err = stack.ReadS3(context.Background(), key)
	} else {
		b, err = stack.ReadBlob(context.Background(), key)
	}
	if err != nil {
		t.Fatalf("read back %s: %v", key, err)
	}
	return b
}

// TestHardValuesSurviveDelivery stores events whose path, query and
// referrer hold commas, double quotes, CR/LF, non-ASCII text and invalid
// UTF-8, delivers the day to S3 and to Azure, reads the files back from the
// emulators, parses them with encoding/csv and finds the same values, in
// time order, each request once.
func TestHardValuesSurviveDelivery(t *testing.T) {
	hard := []string{
		"a,b", `say "hi"`, "line1\nline2", "cr\ronly", "crlf\r\nend", "Grüße, 日本語 😀", "bad\xffbyte\xc3",
		`",\n"`, " spaced ", "",
	}
	for _, kind := range []destination.Kind{destination.KindS3, destination.KindAzure} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			org := "hard-" + string(kind)
			d := register(t, org, kind)
			var in []audit.Event
			base := day.Start().Add(13 * time.Hour)
			for i, v := range hard {
				in = append(in, audit.Event{
					OrgID: org, RequestID: fmt.Sprintf("r%02d", len(hard)-i),
					// Pairs share a millisecond, so ties are broken by request ID.
					RequestTime:   base.Add(time.Duration(i/2) * time.Millisecond).Add(250 * time.Microsecond),
					RequestMethod: "PATCH", RequestPath: "/spaces/s1/entries/" + v, RequestQuery: "q=" + v,
					ResponseStatus: 200, ContentLength: int64(i), Space: "s1", Route: "/spaces/:space_id/entries/:entry_id",
					Referrer: v, ActorID: "user:" + strconv.Itoa(i),
				})
			}
			// Noise that must not appear: other org, neighbouring days.
			noise := []audit.Event{in[0], in[0], in[0]}
			noise[0].OrgID, noise[1].RequestTime, noise[2].RequestTime = "other-org", day.End(), day.Start().Add(-time.Millisecond)
			noise[1].RequestID, noise[2].RequestID = "next-day", "prev-day"
			// Written twice: stored once.
			if err := apps.Store.Write(ctx, append(append([]audit.Event{}, in...), noise...)); err != nil {
				t.Fatal(err)
			}
			if err := apps.Store.Write(ctx, in[:3]); err != nil {
				t.Fatal(err)
			}

			compact(t, org)
			res, err := apps.Exporter.Export(ctx, org, day)
			if err != nil {
				t.Fatal(err)
			}
			body := read(t, d, res.Key)
			if int64(len(body)) != res.Bytes || res.Rows != int64(len(hard)) {
				t.Fatalf("result %+v, object %d bytes", res, len(body))
			}

			want := append([]audit.Event{}, in...)
			for i := range want {
				want[i].Normalize()
			}
			sort.Slice(want, func(i, j int) bool {
				if !want[i].RequestTime.Equal(want[j].RequestTime) {
					return want[i].RequestTime.Before(want[j].RequestTime)
				}
				return want[i].RequestID < want[j].RequestID
			})
			r := csv.NewReader(bytes.NewReader(body))
			r.FieldsPerRecord = len(audit.Columns)
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatalf("encoding/csv cannot read the delivered file: %v", err)
			}
			if len(recs) != len(want)+1 {
				t.Fatalf("%d records, want header + %d", len(recs), len(want))
			}
			for i, w := range want {
				got := recs[i+1]
				// encoding/csv turns CRLF inside a quoted field into LF on
				// reading (documented); the encoder's unit tests check the
				// bytes themselves.
				n := func(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("\r\n"), []byte("\n"))) }
				exp := []string{w.RequestTime.Format(audit.TimeLayout), w.RequestMethod, n(w.RequestPath), n(w.RequestQuery),
					strconv.Itoa(w.ResponseStatus), strconv.FormatInt(w.ContentLength, 10), w.Space, w.Route, n(w.Referrer), w.ActorID}
				for c := range exp {
					if got[c] != exp[c] {
						t.Errorf("row %d column %s = %q, want %q", i+1, audit.Columns[c], got[c], exp[c])
					}
				}
			}
		})
	}
}

// TestFailingSourceLeavesNothing breaks the store midway, after several
// parts or blocks went out, on the real sinks: no object remains, and on S3
// no multipart upload is left pending.
func TestFailingSourceLeavesNothing(t *testing.T) {
	for _, kind := range []destination.Kind{destination.KindS3, destination.KindAzure} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			d := register(t, "broken-"+string(kind), kind)
			s, err := apps.Exporter.Sinks.Open(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("log store failed midway")
			// About 270 bytes a row: 100,000 rows is over 25 MiB, three 8 MiB parts.
			src := &genstore.Store{Events: 200000, Fail: boom, FailAfter: 100000}
			_, err = export.Deliver(ctx, src, s, d.OrgID, day, destination.ObjectName(d.OrgID, day))
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the store's error", err)
			}
			key := d.Key(day)
			if kind == destination.KindS3 {
				c := s3.NewFromConfig(stack.AWS, func(o *s3.Options) { o.UsePathStyle = true })
				if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(localstack.Bucket), Key: aws.String(key)}); err == nil {
					t.Fatal("a partial object is visible")
				}
				// No Prefix: moto's authentication miscalculates the
				// signature of a query value holding '/'.
				mp, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(localstack.Bucket)})
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range mp.Uploads {
					if strings.HasPrefix(aws.ToString(u.Key), d.Prefix) {
						t.Fatalf("multipart upload of %s left pending", aws.ToString(u.Key))
					}
				}
			} else if _, err := stack.ReadBlob(ctx, key); err == nil {
				t.Fatal("a partial blob is visible")
			}
		})
	}
}

// TestEmptyDayDeliversHeader: a day without events still gets its file.
func TestEmptyDayDeliversHeader(t *testing.T) {
	d := register(t, "quiet-org", destination.KindAzure)
	compact(t, d.OrgID)
	res, err := apps.Exporter.Export(context.Background(), d.OrgID, day)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, d, res.Key)); got != csvenc.Header+"\r\n" || res.Rows != 0 {
		t.Fatalf("empty day file = %q, rows %d", got, res.Rows)
	}
}
