package localstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
)

// Demo runs one day's delivery end to end on a local stack: it loads the
// sample events, moved to yesterday, into the log store, registers one
// org on S3 and one on Azure (its SAS URL encrypted as the product doc
// tells customers to), exports the day for both through the production
// code path, and reads the files back from the customers' storage.
func Demo(ctx context.Context, out io.Writer, eventsFile string) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("== starting moto_server, local-kms and Azurite on 127.0.0.1")
	st, err := Start(ctx)
	defer func() {
		st.Stop()
		say("== emulators stopped")
	}()
	if err != nil {
		return err
	}
	say("   moto %s, local-kms %s, Azurite %s", st.Moto.URL, st.KMS.URL, st.Azurite.URL)

	cfg, err := app.FromEnv()
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}

	// The sample day is moved to yesterday, so that it is over and inside
	// the log store's retention whenever the demo runs.
	yesterday := audit.DayOf(time.Now()).AddDays(-1)
	events, err := loadShifted(eventsFile, yesterday)
	if err != nil {
		return err
	}
	if err := a.Store.Write(ctx, events); err != nil {
		return err
	}
	say("== stored %d sample events (%s) in the log store, table %s", len(events), eventsFile, EventsTable)

	roleARN, err := st.CustomerRole(ctx, "acme-s3")
	if err != nil {
		return err
	}
	if _, err := a.Registry.Put(ctx, destination.Destination{OrgID: "acme-s3", Kind: destination.KindS3, Prefix: "contentful/audit", Enabled: true,
		S3: &destination.S3{Bucket: Bucket, Region: "us-east-1", RoleARN: roleARN}}); err != nil {
		return err
	}
	sasURL, err := st.ContainerSAS(90 * 24 * time.Hour)
	if err != nil {
		return err
	}
	cipher, err := st.EncryptSAS("eu", sasURL)
	if err != nil {
		return err
	}
	if _, err := a.Registry.Put(ctx, destination.Destination{OrgID: "globex-azure", Kind: destination.KindAzure, Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher, Residency: destination.ResidencyEU}}); err != nil {
		return err
	}
	say("== registered acme-s3 -> s3://%s (role %s, external ID acme-s3)", Bucket, roleARN)
	say("   registered globex-azure -> Azure container %s (SAS encrypted to the eu key, %d base64 characters)", Container, len(strings.ReplaceAll(cipher, "\n", "")))

	for _, org := range []string{"acme-s3", "globex-azure"} {
		res, err := a.Exporter.Export(ctx, org, yesterday)
		if err != nil {
			return fmt.Errorf("export %s: %w", org, err)
		}
		say("\n== delivered org %s day %s: %d rows, %d bytes, sha256 %s, in %s", org, yesterday, res.Rows, res.Bytes, res.SHA256, res.Duration.Round(time.Millisecond))
		var body []byte
		if org == "acme-s3" {
			say("   s3://%s/%s", Bucket, res.Key)
			body, err = st.ReadS3(ctx, res.Key)
		} else {
			say("   azure %s/%s", Container, res.Key)
			body, err = st.ReadBlob(ctx, res.Key)
		}
		if err != nil {
			return fmt.Errorf("read back %s: %w", res.Key, err)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != res.SHA256 {
			return fmt.Errorf("read back %s: sha256 differs from the delivery's", res.Key)
		}
		say("   read back from the customer's storage, sha256 matches:\n")
		for _, line := range strings.SplitAfter(string(body), "\r\n") {
			if line != "" {
				fmt.Fprintf(out, "   | %s", strings.ReplaceAll(strings.TrimSuffix(line, "\r\n"), "\n", "\n   | "))
				fmt.Fprintln(out)
			}
		}
	}
	return nil
}

func loadShifted(path string, to audit.Day) ([]audit.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var events []audit.Event
	var first audit.Day
	err = audit.ReadNDJSON(bytes.NewReader(b), func(e audit.Event) error {
		if first.IsZero() {
			first = audit.DayOf(e.RequestTime)
		}
		e.RequestTime = e.RequestTime.Add(to.Start().Sub(first.Start()))
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return events, nil
}
