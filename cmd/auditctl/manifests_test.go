package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/fileformat/formattest"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/manifest"
)

// store is one sink of the local stack as a customer reads it, with the
// storage's own client.
type store struct {
	name string
	read func(ctx context.Context, key string) ([]byte, error)
	info func(ctx context.Context, key string) (localstack.ObjectInfo, error)
}

func stores(st *localstack.Stack) []store {
	return []store{{"s3", st.ReadS3, st.HeadS3}, {"azure", st.ReadBlob, st.BlobInfo}}
}

// putDestination registers org's destination on kind ("s3" or "azure")
// with the extra flags; on Azure, the stack's one container is shared with
// the orgs of share.
func putDestination(t *testing.T, st *localstack.Stack, kind, org string, share []string, flags ...string) {
	t.Helper()
	args := []string{"destination", "put", "--org", org}
	switch kind {
	case "s3":
		role, err := st.CustomerRole(context.Background(), org)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role)
	case "azure":
		raw, err := st.ContainerSAS(24 * time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.EncryptSAS("us", raw)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), org+".b64")
		if err := os.WriteFile(f, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--azure-sas-cipher-file", f, "--residency", "us")
		var others []string
		for _, o := range share {
			if o != org {
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			args = append(args, "--share-container-with", strings.Join(others, ","))
		}
	}
	if out, err := run(append(args, flags...)...); err != nil {
		t.Fatalf("destination put %s: %v\n%s", org, err, out)
	}
}

// exportKey delivers org's day and returns the delivered file's key.
func exportKey(t *testing.T, org string, day audit.Day, force bool) export.Result {
	t.Helper()
	args := []string{"export", "--org", org, "--day", day.String(), "--json"}
	if force {
		args = append(args, "--force")
	}
	out, err := run(args...)
	if err != nil {
		t.Fatalf("export %s %s: %v\n%s", org, day, err, out)
	}
	var res export.Result
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res); err != nil {
		t.Fatalf("export output: %v\n%s", err, out)
	}
	return res
}

// download writes key and its manifest and signature from s into dir,
// under their keys less prefix, as `aws s3 sync` of the prefix would.
func download(t *testing.T, s store, dir, prefix, key string) (file, man, sig string) {
	t.Helper()
	ctx := context.Background()
	var paths []string
	for _, k := range []string{key, manifest.Name(key), manifest.SignatureName(manifest.Name(key))} {
		b, err := s.read(ctx, k)
		if err != nil {
			t.Fatalf("%s: read %s: %v", s.name, k, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1], paths[2]
}

// opensslVerify runs the customer's command of docs/onboarding.md.
func opensslVerify(pem, sig, file string) error {
	out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pem, "-signature", sig, file).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "Verified OK" {
		return fmt.Errorf("openssl: %v: %s", err, out)
	}
	return nil
}

// manifestFields reads a manifest with encoding/json, not our decoder.
type manifestFields struct {
	OrgID string `json:"org_id"`
	Day   string `json:"day"`
	File  struct {
		Key, Format, SHA256 string
		Bytes, Rows         int64
	} `json:"file"`
	First      *string `json:"first_event_time"`
	Last       *string `json:"last_event_time"`
	Previous   *struct{ Key, SHA256 string }
	Supersedes *struct{ Key, SHA256 string }
	Finger     string `json:"signing_key_fingerprint"`
	Algorithm  string `json:"signature_algorithm"`
}

func readManifest(t *testing.T, p string) (manifestFields, string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m manifestFields
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	sum := sha256.Sum256(b)
	return m, hex.EncodeToString(sum[:])
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// flip changes one byte of p and returns the function that puts it back.
func flip(t *testing.T, p string) func() {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(b)
	changed[len(changed)/2] ^= 0x01
	if err := os.WriteFile(p, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSignedDeliveries is the customer's check of issue "deliveries a
// compliance team can prove", on the local stack (moto's S3, Azurite,
// local-kms), for each sink: days D and D+1 with events and D+2 without
// are delivered; the files, manifests and signatures are downloaded with
// the storage's own client; openssl verifies every signature with the PEM
// of `keys public --purpose signing`; every file's SHA-256 is its
// manifest's and its object metadata's; D+1's previous is the SHA-256 of
// D's manifest; `files verify` passes the folder, and names a changed
// file, manifest or signature and a deleted manifest; D delivered again
// (--force) gets a manifest superseding the first, and the chain still
// verifies.
func TestSignedDeliveries(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	d0 := audit.DayOf(time.Now()).AddDays(-4)
	days := []audit.Day{d0, d0.AddDays(1), d0.AddDays(2)}
	orgs := map[string]string{"s3": "signed-s3", "azure": "signed-az"}
	var events []audit.Event
	for _, org := range orgs {
		for d, n := range map[audit.Day]int{days[0]: 30, days[1]: 20} {
			for i := range n {
				events = append(events, audit.Event{OrgID: org, RequestID: fmt.Sprintf("%s-%s-%03d", org, d, i), RequestTime: d.Start().Add(time.Duration(i) * time.Minute),
					RequestMethod: "PATCH", RequestPath: "/spaces/s/entries/e,\"1\"", RequestQuery: "a=b\nc", ResponseStatus: 200, Space: "s", ActorID: "user:é"})
			}
		}
	}
	if out, err := run("events", "load", "--file", ndjsonFile(t, events)); err != nil {
		t.Fatalf("events load: %v\n%s", err, out)
	}
	pemOut, err := run("keys", "public", "--purpose", "signing")
	if err != nil {
		t.Fatalf("keys public: %v\n%s", err, pemOut)
	}
	pem := filepath.Join(t.TempDir(), "signing-key.pem")
	if err := os.WriteFile(pem, []byte(pemOut), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, s := range stores(st) {
		t.Run(s.name, func(t *testing.T) {
			org := orgs[s.name]
			prefix := "proof/" + s.name + "/"
			putDestination(t, st, s.name, org, nil, "--prefix", prefix)
			dir := t.TempDir()
			type delivered struct{ file, man, sig string }
			var got []delivered
			for i, d := range days {
				res := exportKey(t, org, d, false)
				f, m, sg := download(t, s, dir, prefix, res.Key)
				got = append(got, delivered{f, m, sg})
				if err := opensslVerify(pem, sg, m); err != nil {
					t.Fatalf("day %s: %v", d, err)
				}
				mf, _ := readManifest(t, m)
				sum := fileSHA256(t, f)
				if mf.File.SHA256 != sum || mf.File.Key != res.Key || mf.OrgID != org || mf.Day != d.String() || mf.File.Format != "csv" ||
					mf.File.Rows != []int64{30, 20, 0}[i] || (mf.First == nil) != (i == 2) || mf.Algorithm != "RSASSA_PKCS1_V1_5_SHA_256" {
					t.Fatalf("day %s: manifest %+v; the file's sha256 is %s", d, mf, sum)
				}
				info, err := s.info(ctx, res.Key)
				if err != nil {
					t.Fatal(err)
				}
				if info.Metadata[export.MetaSHA256] != sum || info.Metadata[export.MetaRows] != strconv.FormatInt(mf.File.Rows, 10) ||
					info.Metadata[export.MetaSchemaVersion] != "1" || info.ContentType != "text/csv; charset=utf-8" {
					t.Fatalf("day %s: object %+v", d, info)
				}
			}
			_, firstSum := readManifest(t, got[0].man)
			second, secondSum := readManifest(t, got[1].man)
			third, _ := readManifest(t, got[2].man)
			if second.Previous == nil || second.Previous.SHA256 != firstSum || third.Previous == nil || third.Previous.SHA256 != secondSum {
				t.Fatalf("chain: D+1's previous %+v (D's manifest %s), D+2's %+v (D+1's %s)", second.Previous, firstSum, third.Previous, secondSum)
			}
			verify := func() (string, error) { return run("files", "verify", "--dir", dir, "--key", pem) }
			if out, err := verify(); err != nil {
				t.Fatalf("files verify: %v\n%s", err, out)
			}
			for what, c := range map[string]struct{ path, kind string }{
				"a file":      {got[1].file, string(manifest.FileChanged)},
				"a manifest":  {got[1].man, string(manifest.SignatureInvalid)},
				"a signature": {got[1].sig, string(manifest.SignatureInvalid)},
			} {
				restore := flip(t, c.path)
				if what != "a file" {
					if opensslVerify(pem, got[1].sig, got[1].man) == nil {
						t.Fatalf("openssl verified after a byte of %s changed", what)
					}
				}
				if out, err := verify(); err == nil || !strings.Contains(out, c.kind) {
					t.Fatalf("files verify after a byte of %s changed: %v, want %s named\n%s", what, err, c.kind, out)
				}
				restore()
			}
			b, _ := os.ReadFile(got[1].man)
			os.Remove(got[1].man)
			if out, err := verify(); err == nil || !strings.Contains(out, string(manifest.DayMissing)) || !strings.Contains(out, days[1].String()) {
				t.Fatalf("files verify without D+1's manifest: %v\n%s", err, out)
			}
			os.WriteFile(got[1].man, b, 0o644)

			// D again: its manifest supersedes the first and follows D+2's.
			res := exportKey(t, org, days[0], true)
			_, m, sg := download(t, s, dir, prefix, res.Key)
			if err := opensslVerify(pem, sg, m); err != nil {
				t.Fatal(err)
			}
			again, _ := readManifest(t, m)
			_, thirdSum := readManifest(t, got[2].man)
			if again.Supersedes == nil || again.Supersedes.SHA256 != firstSum || again.Supersedes.Key != manifest.Name(res.Key) ||
				again.Previous == nil || again.Previous.SHA256 != thirdSum {
				t.Fatalf("redelivered D: supersedes %+v (first %s), previous %+v (D+2's %s)", again.Supersedes, firstSum, again.Previous, thirdSum)
			}
			if out, err := verify(); err != nil {
				t.Fatalf("files verify after the redelivery: %v\n%s", err, out)
			}
		})
	}
}

// TestFormatsOnBothSinks: each format and the daily layout, on each sink:
// the delivered file read back with the storage's own client and a reader
// that is not ours (formattest) holds exactly the day's events, in time
// order, with the hard values; its name, Content-Type and metadata follow
// the format; its manifest says the format.
func TestFormatsOnBothSinks(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	day := audit.DayOf(time.Now()).AddDays(-2)
	formats := []fileformat.Format{fileformat.CSVGzip, fileformat.JSONLGzip, fileformat.Parquet}
	var events []audit.Event
	var want [][]string
	var azureOrgs []string
	for _, s := range stores(st) {
		for _, f := range formats {
			org := "fmt-" + s.name + "-" + strings.NewReplacer(".", "").Replace(string(f))
			if s.name == "azure" {
				azureOrgs = append(azureOrgs, org)
			}
			for i := range 40 {
				e := audit.Event{OrgID: org, RequestID: fmt.Sprintf("r%03d", i), RequestTime: day.Start().Add(time.Duration(i/2) * time.Second), // ties
					RequestMethod: "PUT", RequestPath: "/spaces/s/entries/a,b", RequestQuery: "q=\"x\"\r\ny", ResponseStatus: 200 + i%3, ContentLength: int64(i) << 33,
					Space: "s", Route: "/spaces/:space/entries/:entry", Referrer: "https://app/\xff", ActorID: "user:ü"}
				events = append(events, e)
				if s.name == "s3" && f == formats[0] {
					want = append(want, formattest.WantRow(&e))
				}
			}
		}
	}
	if out, err := run("events", "load", "--file", ndjsonFile(t, events)); err != nil {
		t.Fatalf("events load: %v\n%s", err, out)
	}
	for _, s := range stores(st) {
		for _, f := range formats {
			t.Run(s.name+"/"+string(f), func(t *testing.T) {
				org := "fmt-" + s.name + "-" + strings.NewReplacer(".", "").Replace(string(f))
				putDestination(t, st, s.name, org, azureOrgs, "--prefix", "fmt/", "--format", string(f), "--layout", "daily")
				res := exportKey(t, org, day, false)
				if wantKey := "fmt/date=" + day.String() + "/contentful-audit-unstable-beta-" + org + "-" + strings.ReplaceAll(day.String(), "-", "") + "T000000000Z" + f.Extension(); res.Key != wantKey {
					t.Fatalf("key %s, want %s", res.Key, wantKey)
				}
				data, err := s.read(ctx, res.Key)
				if err != nil {
					t.Fatal(err)
				}
				rows := formattest.Rows(t, string(f), data)
				if len(rows) != len(want) {
					t.Fatalf("%d rows, want %d", len(rows), len(want))
				}
				for i := range rows {
					w := strings.Join(want[i], "\x00")
					if f == fileformat.CSVGzip {
						// encoding/csv reads a CRLF inside a quoted field as LF
						// (its documented behaviour); the bytes are csvenc's.
						w = strings.ReplaceAll(w, "\r\n", "\n")
					}
					if strings.Join(rows[i], "\x00") != w {
						t.Fatalf("row %d: %q, want %q", i, rows[i], want[i])
					}
				}
				info, err := s.info(ctx, res.Key)
				sum := sha256.Sum256(data)
				if err != nil || info.ContentType != f.ContentType() || info.ContentEncoding != "" || info.Metadata[export.MetaSHA256] != hex.EncodeToString(sum[:]) ||
					info.Metadata[export.MetaRows] != "40" {
					t.Fatalf("object %+v, %v", info, err)
				}
				mb, err := s.read(ctx, path.Join("fmt", "date="+day.String(), path.Base(manifest.Name(res.Key))))
				if err != nil {
					t.Fatal(err)
				}
				var m manifestFields
				if err := json.Unmarshal(mb, &m); err != nil || m.File.Format != string(f) || m.File.SHA256 != hex.EncodeToString(sum[:]) || m.File.Rows != 40 {
					t.Fatalf("manifest %+v, %v", m, err)
				}
			})
		}
	}
}
