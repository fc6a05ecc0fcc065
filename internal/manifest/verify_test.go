package manifest_test

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/manifest/manifesttest"
)

// scenario is a folder of deliveries and the problems ("kind key") both
// verifiers must report in it.
type scenario struct {
	name  string
	build func(t *testing.T) (dir string, key *rsa.PublicKey, want []string)
}

var week = []string{"2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"}

func p(kind manifest.Kind, key string) string { return string(kind) + " " + key }

// five delivers week to a new destination of org acme.
func five(t *testing.T) (*manifesttest.Deliveries, []manifesttest.Delivered) {
	d := manifesttest.New(t, "acme")
	return d, d.Days(t, week...)
}

func pub(d *manifesttest.Deliveries) *rsa.PublicKey { return &d.Key.PublicKey }

// replaceIn rewrites the file at rel with old replaced once by new.
func replaceIn(t *testing.T, d *manifesttest.Deliveries, rel, old, new string) {
	t.Helper()
	b, err := os.ReadFile(d.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", rel, old)
	}
	if err := os.WriteFile(d.Path(rel), []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, d *manifesttest.Deliveries, from, to string) {
	t.Helper()
	b, err := os.ReadFile(d.Path(from))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path(to), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var scenarios = []scenario{
	{"good", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Days(t, "2026-11-20", "2026-11-21")
		d.Deliver(t, "2026-11-22", manifesttest.Empty) // a day without events
		d.Days(t, "2026-11-23", "2026-11-24")
		return d.Dir, pub(d), nil
	}},
	{"daily layout, csv.gz", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Daily, d.Format = true, "csv.gz"
		d.Days(t, week...)
		return d.Dir, pub(d), nil
	}},
	{"day redelivered once", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, _ := five(t)
		d.Deliver(t, "2026-11-22", "changed\n")
		return d.Dir, pub(d), nil
	}},
	{"day redelivered twice, a day between", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, _ := five(t)
		d.Daily = false
		d.Deliver(t, "2026-11-22", "changed\n")
		d.Days(t, "2026-11-25")
		d.Deliver(t, "2026-11-22", "changed again\n")
		return d.Dir, pub(d), nil
	}},
	{"newest day redelivered twice", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, _ := five(t)
		d.Deliver(t, "2026-11-24", "changed\n")
		d.Deliver(t, "2026-11-24", "changed again\n")
		return d.Dir, pub(d), nil
	}},
	{"first day redelivered", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, _ := five(t)
		d.Deliver(t, "2026-11-20", "changed\n")
		d.Days(t, "2026-11-25")
		return d.Dir, pub(d), nil
	}},
	{"prefix with quotes and spaces, folder with a space", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Dir, d.Prefix, d.Synced, d.Daily = filepath.Join(d.Dir, "my deliveries"), `audit "logs" x/`, `audit "logs" x/`, true
		d.Days(t, week...)
		d.Deliver(t, "2026-11-21", "changed\n")
		return d.Dir, pub(d), nil
	}},
	{"prefix changed, day redelivered, folder above the prefixes", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Prefix, d.Synced = "logs/b/", "logs/"
		d.Days(t, week[:3]...)
		d.Prefix = "logs/a/" // sorts first: the superseding manifest is met before the one superseded
		d.Deliver(t, "2026-11-21", "changed\n")
		d.Days(t, week[3:]...)
		return d.Dir, pub(d), nil
	}},
	{"prefix changed, day redelivered, the superseded one's next deleted", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Prefix, d.Synced = "logs/b/", "logs/"
		dl := d.Days(t, week[:3]...)
		d.Prefix = "logs/a/"
		x := d.Deliver(t, "2026-11-21", "changed\n")
		d.Days(t, week[3:]...)
		d.Remove(t, dl[2].Manifest)
		// The superseded version is in the folder too: named by its path.
		return d.Dir, pub(d), []string{p(manifest.ChainDangling, x.Manifest), p(manifest.ChainUnreachable, dl[1].Manifest), p(manifest.DayMissing, "2026-11-22")}
	}},
	{"two orgs in one folder", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		a, _ := five(t)
		b := manifesttest.New(t, "zeta")
		b.Dir, b.Synced = a.Dir, "" // under P/: its paths sort before acme's
		b.Days(t, "2026-11-22", "2026-11-23")
		b.Deliver(t, "2026-11-22", "changed\n")
		return a.Dir, pub(a), nil
	}},
	{"gaps across February 29 and a new year", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		d.Days(t, "2027-12-30", "2027-12-31", "2028-01-02", "2028-02-28", "2028-03-01")
		want := []string{p(manifest.DayMissing, "2028-01-01"), p(manifest.DayMissing, "2028-02-29")}
		for day := 3; day <= 31; day++ {
			want = append(want, p(manifest.DayMissing, "2028-01-"+twoDigits(day)))
		}
		for day := 1; day <= 27; day++ {
			want = append(want, p(manifest.DayMissing, "2028-02-"+twoDigits(day)))
		}
		return d.Dir, pub(d), want
	}},
	{"file byte changed", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.FlipByte(t, dl[2].File, 3, '#')
		return d.Dir, pub(d), []string{p(manifest.FileChanged, dl[2].File)}
	}},
	{"file truncated", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		if err := os.Truncate(d.Path(dl[2].File), 10); err != nil {
			t.Fatal(err)
		}
		return d.Dir, pub(d), []string{p(manifest.FileChanged, dl[2].File)}
	}},
	{"file deleted", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.Remove(t, dl[2].File)
		return d.Dir, pub(d), []string{p(manifest.FileMissing, dl[2].File)}
	}},
	{"manifest value changed", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		// The file's SHA-256 in the manifest: a hex digit for another.
		b, _ := os.ReadFile(d.Path(dl[2].File))
		sum := manifest.Hash(b)
		replaceIn(t, d, dl[2].Manifest, sum, sum[:63]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sum[63])+1)%16]))
		return d.Dir, pub(d), []string{p(manifest.SignatureInvalid, dl[2].Signature), p(manifest.FileChanged, dl[2].File),
			p(manifest.ChainUnreachable, dl[2].Manifest), p(manifest.ChainDangling, dl[3].Manifest)}
	}},
	{"manifest layout broken", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.FlipByte(t, dl[2].Manifest, 0, '[')
		return d.Dir, pub(d), []string{p(manifest.SignatureInvalid, dl[2].Signature), p(manifest.ManifestUnreadable, dl[2].Manifest),
			p(manifest.ChainUnreachable, dl[1].Manifest), p(manifest.ChainDangling, dl[3].Manifest), p(manifest.DayMissing, "2026-11-22")}
	}},
	{"manifest of another version", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		// The newest: nothing links to it, so only it is named.
		replaceIn(t, d, dl[4].Manifest, `"manifest_version": 1,`, `"manifest_version": 2,`)
		return d.Dir, pub(d), []string{p(manifest.SignatureInvalid, dl[4].Signature), p(manifest.ManifestUnreadable, dl[4].Manifest)}
	}},
	{"control character in a key", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		replaceIn(t, d, dl[4].Manifest, "unstable-beta", "unstable\x1b[2Jbeta")
		return d.Dir, pub(d), []string{p(manifest.SignatureInvalid, dl[4].Signature), p(manifest.ManifestUnreadable, dl[4].Manifest)}
	}},
	{"signature byte changed", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.FlipByte(t, dl[2].Signature, 100, 0)
		return d.Dir, pub(d), []string{p(manifest.SignatureInvalid, dl[2].Signature)}
	}},
	{"signature deleted", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.Remove(t, dl[2].Signature)
		return d.Dir, pub(d), []string{p(manifest.SignatureMissing, dl[2].Signature)}
	}},
	{"manifest deleted", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.Remove(t, dl[2].Manifest)
		return d.Dir, pub(d), []string{p(manifest.ChainUnreachable, dl[1].Manifest), p(manifest.ChainDangling, dl[3].Manifest), p(manifest.DayMissing, "2026-11-22")}
	}},
	{"first manifest deleted", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.Remove(t, dl[0].Manifest)
		return d.Dir, pub(d), []string{p(manifest.ChainDangling, dl[1].Manifest)}
	}},
	{"another key", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		var want []string
		for _, x := range dl {
			want = append(want, p(manifest.SignatureInvalid, x.Signature), p(manifest.SigningKeyMismatch, x.Manifest))
		}
		return d.Dir, &manifesttest.Key(t, "other").PublicKey, want
	}},
	{"fork", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		dl := d.Days(t, week[:3]...)
		head := d.Head
		a := d.Deliver(t, "2026-11-23", "a\n")
		d.Head = head // a second delivery made after the same head
		d.Deliver(t, "2026-11-24", "b\n")
		return d.Dir, pub(d), []string{p(manifest.ChainFork, dl[2].Manifest), p(manifest.ChainUnreachable, a.Manifest)}
	}},
	{"second first manifest", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		dl := d.Days(t, week[:3]...)
		d.Head = nil
		dl = append(dl, d.Days(t, week[3:]...)...)
		return d.Dir, pub(d), []string{p(manifest.ChainUnreachable, dl[2].Manifest), p(manifest.ChainRoots, dl[3].Manifest)}
	}},
	{"redelivery without history", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		d.Deliver(t, "2026-11-22", "changed\n", func(m *manifest.Manifest) { m.Supersedes = nil })
		return d.Dir, pub(d), []string{p(manifest.ChainUnreachable, dl[1].Manifest), p(manifest.ChainDangling, dl[3].Manifest)}
	}},
	{"link names another key", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		x := d.Deliver(t, "2026-11-25", "x\n", func(m *manifest.Manifest) { m.Previous.Key = "P/other.manifest.json" })
		_ = dl
		return d.Dir, pub(d), []string{p(manifest.ChainLinkKey, x.Manifest)}
	}},
	{"history contradicts a manifest", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		x := d.Deliver(t, "2026-11-24", "changed\n", func(m *manifest.Manifest) {
			h := m.Supersedes.History
			m.Supersedes.History = append([]manifest.Superseded{{SHA256: dl[3].ManifestSHA256}}, h...)
		})
		return d.Dir, pub(d), []string{p(manifest.ChainHistory, x.Manifest)}
	}},
	{"history loop", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		dl := d.Days(t, week[:3]...)
		s1, s2 := manifest.Hash([]byte("1")), manifest.Hash([]byte("2"))
		k := manifest.Name(d.FileKey("2026-11-22"))
		d.Deliver(t, "2026-11-22", "changed\n", func(m *manifest.Manifest) {
			m.Supersedes = &manifest.Supersedes{Key: k, SHA256: s2, History: []manifest.Superseded{
				{SHA256: s1, Previous: &manifest.Link{Key: k, SHA256: s2}}, {SHA256: s2, Previous: &manifest.Link{Key: k, SHA256: s1}}}}
		})
		return d.Dir, pub(d), []string{p(manifest.ChainUnreachable, dl[1].Manifest), p(manifest.ChainDangling, dl[2].Manifest),
			p(manifest.ChainUnreachable, dl[2].Manifest), p(manifest.ChainUnreachable, dl[2].Manifest)}
	}},
	{"no first manifest: the links loop", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d := manifesttest.New(t, "acme")
		s1, s2 := manifest.Hash([]byte("1")), manifest.Hash([]byte("2"))
		k := manifest.Name(d.FileKey("2026-11-20"))
		x := d.Deliver(t, "2026-11-20", "x\n", func(m *manifest.Manifest) {
			m.Previous = &manifest.Link{Key: k, SHA256: s1}
			m.Supersedes = &manifest.Supersedes{Key: k, SHA256: s2, History: []manifest.Superseded{
				{SHA256: s1, Previous: &manifest.Link{Key: k, SHA256: s2}}, {SHA256: s2, Previous: &manifest.Link{Key: k, SHA256: s1}}}}
		})
		// s1 is the previous of both the manifest and s2.
		return d.Dir, pub(d), []string{p(manifest.ChainFork, x.Manifest), p(manifest.ChainRoots, x.Manifest)}
	}},
	{"manifest copied over another day's", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		d, dl := five(t)
		copyFile(t, d, dl[2].Manifest, dl[3].Manifest)
		copyFile(t, d, dl[2].Signature, dl[3].Signature)
		return d.Dir, pub(d), []string{p(manifest.ChainUnreachable, dl[2].Manifest), p(manifest.ManifestMisplaced, dl[3].Manifest),
			p(manifest.ChainDangling, dl[4].Manifest), p(manifest.DayMissing, "2026-11-23")}
	}},
	{"empty folder", func(t *testing.T) (string, *rsa.PublicKey, []string) {
		return t.TempDir(), &manifesttest.Key(t, "signing").PublicKey, []string{p(manifest.NoManifests, ".")}
	}},
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// kindKeys is the problems as "kind key", sorted.
func kindKeys(ps []manifest.Problem) []string {
	var out []string
	for _, x := range ps {
		out = append(out, p(x.Kind, x.Key))
	}
	slices.Sort(out)
	return out
}

func TestVerify(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir, key, want := sc.build(t)
			slices.Sort(want)
			r, err := manifest.Verify(dir, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := kindKeys(r.Problems); !slices.Equal(got, want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", lines(r.Problems), strings.Join(want, "\n"))
			}
			if r.OK() != (len(want) == 0) {
				t.Fatalf("OK() = %v with %d problems", r.OK(), len(r.Problems))
			}
			t.Logf("%+v\n%s", r.Orgs, lines(r.Problems))
		})
	}
}

func lines(ps []manifest.Problem) string {
	var b strings.Builder
	for _, x := range ps {
		b.WriteString(x.String() + "\n")
	}
	return b.String()
}
