package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/manifest/manifesttest"
)

var filesWeek = []string{"2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"}

// deliveredWeek is a folder of five days delivered to acme (the daily
// layout), and the signing key's PEM file.
func deliveredWeek(t *testing.T) (*manifesttest.Deliveries, []manifesttest.Delivered, string) {
	t.Helper()
	d := manifesttest.New(t, "acme")
	d.Daily = true
	dl := d.Days(t, filesWeek...)
	return d, dl, manifesttest.WritePublicKey(t, &d.Key.PublicKey)
}

// TestFilesVerify runs `auditctl files verify` on a good folder (exit 0)
// and on folders with one thing changed, each of which it names (exit 1).
func TestFilesVerify(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		d, _, key := deliveredWeek(t)
		d.Deliver(t, "2026-11-22", "redelivered\n")
		out, err := run("files", "verify", "--dir", d.Dir, "--key", key)
		if err != nil || !strings.HasSuffix(out, "org acme: 5 days from 2026-11-20 to 2026-11-24, 6 manifests in its chain\n"+
			"checked 5 manifests (5 signatures valid) and 5 files: no problems\n") {
			t.Fatalf("files verify of a good folder: %v\n%s", err, out)
		}
	})
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) (want string)
	}{
		{"a byte of a file", func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) string {
			d.FlipByte(t, dl[1].File, 7, '#')
			return "file_changed " + dl[1].File + ": has SHA-256 "
		}},
		{"a byte of a manifest", func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) string {
			b, err := os.ReadFile(d.Path(dl[1].Manifest))
			if err != nil {
				t.Fatal(err)
			}
			d.FlipByte(t, dl[1].Manifest, bytes.Index(b, []byte(`"rows": 2`))+8, '3') // the file's rows
			return "signature_invalid " + dl[1].Signature + ": does not verify"
		}},
		{"a byte of a signature", func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) string {
			d.FlipByte(t, dl[1].Signature, 0, 0)
			return "signature_invalid " + dl[1].Signature + ": does not verify"
		}},
		{"a manifest deleted", func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) string {
			d.Remove(t, dl[2].Manifest)
			return "day_missing 2026-11-22: org acme has no readable manifest for this day"
		}},
		{"a file deleted", func(t *testing.T, d *manifesttest.Deliveries, dl []manifesttest.Delivered) string {
			d.Remove(t, dl[3].File)
			return "file_missing " + dl[3].File + ": "
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, dl, key := deliveredWeek(t)
			want := c.tamper(t, d, dl)
			out, err := run("files", "verify", "--dir", d.Dir, "--key", key)
			t.Logf("auditctl files verify:\n%s", out)
			if err == nil || isUsage(err) || !strings.Contains(err.Error(), "problems in the deliveries") {
				t.Fatalf("err %v, want a failure (exit 1)", err)
			}
			if !strings.Contains(out, "\n"+want) && !strings.HasPrefix(out, want) {
				t.Fatalf("output lacks %q", want)
			}
		})
	}
}

func TestFilesVerifyJSON(t *testing.T) {
	d, dl, key := deliveredWeek(t)
	d.Remove(t, dl[4].File)
	out, err := run("files", "verify", "--dir", d.Dir, "--key", key, "--json")
	if err == nil || isUsage(err) {
		t.Fatalf("err %v, want a failure (exit 1)", err)
	}
	var r manifest.Report
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatalf("--json output: %v\n%s", jerr, out)
	}
	want := manifest.Problem{Kind: manifest.FileMissing, Key: dl[4].File}
	if len(r.Problems) != 1 || r.Problems[0].Kind != want.Kind || r.Problems[0].Key != want.Key || r.Manifests != 5 || r.Files != 4 ||
		len(r.Orgs) != 1 || r.Orgs[0].FirstDay != "2026-11-20" || r.Orgs[0].LastDay != "2026-11-24" {
		t.Fatalf("--json report %+v, want the one problem %+v", r, want)
	}
	d.Deliver(t, "2026-11-24", manifesttest.Body("2026-11-24"))
	out, err = run("files", "verify", "--dir", d.Dir, "--key", key, "--json")
	if err != nil || !strings.Contains(out, `"problems":[]`) {
		t.Fatalf("--json of a good folder: %v\n%s", err, out)
	}
}

// TestFilesVerifyUsage: bad calls exit 2, naming what is wrong.
func TestFilesVerifyUsage(t *testing.T) {
	d, _, key := deliveredWeek(t)
	notPEM := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"files", "verify", "--key", key}, `required flag(s) "dir"`},
		{[]string{"files", "verify", "--dir", filepath.Join(d.Dir, "nope"), "--key", key}, "not a folder"},
		{[]string{"files", "verify", "--dir", d.Dir, "--key", filepath.Join(d.Dir, "nope.pem")}, "--key"},
		{[]string{"files", "verify", "--dir", d.Dir, "--key", notPEM}, "no PEM block"},
		{[]string{"files", "verify", "--dir", d.Dir, "--key", key, "extra"}, "unknown command"},
	} {
		_, err := run(c.args...)
		if err == nil || !isUsage(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want a usage error (exit 2) saying %q", c.args, err, c.want)
		}
	}
	// Without --key and without the signing key's ID: a failure naming
	// both ways to give the key.
	t.Setenv("AUDITLOG_SIGNING_KEY_ID", "")
	if _, err := run("files", "verify", "--dir", d.Dir); err == nil || isUsage(err) ||
		!strings.Contains(err.Error(), "AUDITLOG_SIGNING_KEY_ID") || !strings.Contains(err.Error(), "--key") {
		t.Errorf("verify without a key: %v, want a failure naming AUDITLOG_SIGNING_KEY_ID and --key", err)
	}
}

// TestFilesVerifyKeyFromKMS: without --key the command asks for the
// signing key (from KMS, once wired), and a failure there is no usage
// error.
func TestFilesVerifyKeyFromKMS(t *testing.T) {
	d, _, _ := deliveredWeek(t)
	saved := signingPublicKey
	t.Cleanup(func() { signingPublicKey = saved })
	signingPublicKey = func(context.Context) (*rsa.PublicKey, error) { return &d.Key.PublicKey, nil }
	if out, err := run("files", "verify", "--dir", d.Dir); err != nil {
		t.Fatalf("with the key from signingPublicKey: %v\n%s", err, out)
	}
	kmsDown := errors.New("kms: GetPublicKey: unavailable")
	signingPublicKey = func(context.Context) (*rsa.PublicKey, error) { return nil, kmsDown }
	if _, err := run("files", "verify", "--dir", d.Dir); !errors.Is(err, kmsDown) || isUsage(err) {
		t.Fatalf("err %v, want the KMS failure, exit 1", err)
	}
}
