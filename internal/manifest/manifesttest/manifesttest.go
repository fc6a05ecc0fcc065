// Package manifesttest builds folders of signed deliveries as a customer
// downloads them (`aws s3 sync s3://bucket/PREFIX/ dir/`): delivered
// files, their manifests chained in delivery order, redeliveries that
// supersede a day's manifest, and detached signatures made as KMS makes
// them (RSASSA-PKCS1-v1_5 over the SHA-256 of the manifest's bytes).
//
// Tests only: the tests of internal/manifest and cmd/auditctl use it.
// Of this module it imports only internal/manifest.
package manifesttest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/manifest"
)

var (
	keysMu sync.Mutex
	keys   = map[string]*rsa.PrivateKey{}
)

// Key returns the process's test signing key of that name, generated at
// first use: 2048 bits for speed (the signature's format is the one of
// the production RSA 4096 key).
func Key(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[name]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	keys[name] = k
	return k
}

// WritePublicKey writes k as a "PUBLIC KEY" PEM file in a folder of the
// test's own and returns its path.
func WritePublicKey(tb testing.TB, k *rsa.PublicKey) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "signing-key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Deliveries is one org's destination as downloaded into Dir.
type Deliveries struct {
	// Dir holds the destination's objects, Synced removed from their
	// keys: the prefix that `aws s3 sync s3://bucket/PREFIX/ dir/`
	// names, Prefix (the default) or a part of it.
	Dir    string
	Prefix string // of every key, e.g. "P/"
	Synced string
	Org    string
	// Daily puts each day's objects under date=YYYY-MM-DD/.
	Daily  bool
	Format string // of the files: csv (the default), csv.gz, jsonl.gz, parquet
	Key    *rsa.PrivateKey
	// Head is the last manifest delivered, which the next one names as
	// its previous; a test may set it to make a fork or a second root.
	Head *manifest.Link
	// Now is the next delivery's delivered_at; each adds a minute.
	Now time.Time

	current map[string][]byte // day: the bytes of its manifest delivered last
}

// New returns the empty destination of org, in a folder of the test's
// own, signed by Key(tb, "signing"), with keys under "P/".
func New(tb testing.TB, org string) *Deliveries {
	tb.Helper()
	return &Deliveries{Dir: tb.TempDir(), Prefix: "P/", Synced: "P/", Org: org, Format: "csv", Key: Key(tb, "signing"),
		Now: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), current: map[string][]byte{}}
}

// Delivered is what one delivery wrote: paths relative to Dir, slash
// separated, as the verifiers name them.
type Delivered struct {
	File, Manifest, Signature string
	// ManifestSHA256 is the hash of the manifest's bytes.
	ManifestSHA256 string
}

// FileKey is the key of the file of day (YYYY-MM-DD).
func (d *Deliveries) FileKey(day string) string {
	k := d.Prefix
	if d.Daily {
		k += "date=" + day + "/"
	}
	return k + "contentful-audit-unstable-beta-" + d.Org + "-" + strings.ReplaceAll(day, "-", "") + "T000000000Z." + d.Format
}

// Deliver writes the file of day with body (rows: its lines but the
// first, a header), its manifest after Head, superseding the day's
// manifest delivered before if any (as the ledger tells, under the
// prefix of then), and the manifest's signature. edit,
// if given, changes the manifest before it is encoded and signed.
func (d *Deliveries) Deliver(tb testing.TB, day string, body string, edit ...func(*manifest.Manifest)) Delivered {
	tb.Helper()
	fileKey := d.FileKey(day)
	mkey := manifest.Name(fileKey)
	rows := int64(strings.Count(body, "\n") - 1)
	if rows < 0 {
		rows = 0
	}
	m := &manifest.Manifest{
		ManifestVersion: manifest.Version, SchemaVersion: 1, OrgID: d.Org, Day: day,
		File:        manifest.File{Key: fileKey, Format: d.Format, Bytes: int64(len(body)), SHA256: manifest.Hash([]byte(body)), Rows: rows},
		DeliveredAt: d.Now, Previous: d.Head,
		SignatureAlgorithm: manifest.SignatureAlgorithm,
	}
	d.Now = d.Now.Add(time.Minute)
	if rows > 0 {
		start, err := time.Parse("2006-01-02", day)
		if err != nil {
			tb.Fatal(err)
		}
		first, last := start.Add(time.Hour), start.Add(20*time.Hour+123*time.Millisecond)
		m.FirstEventTime, m.LastEventTime = &first, &last
	}
	fpr, err := manifest.Fingerprint(&d.Key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	m.SigningKeyFingerprint = fpr
	if old, ok := d.current[day]; ok {
		prev, err := manifest.Decode(old)
		if err != nil {
			tb.Fatalf("the manifest %s delivered before: %v", mkey, err)
		}
		s := &manifest.Supersedes{Key: manifest.Name(prev.File.Key), SHA256: manifest.Hash(old)}
		if prev.Supersedes != nil {
			s.History = append(s.History, prev.Supersedes.History...)
		}
		s.History = append(s.History, manifest.Superseded{SHA256: s.SHA256, Previous: prev.Previous})
		m.Supersedes = s
	}
	for _, e := range edit {
		e(m)
	}
	b, err := manifest.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	digest := sha256.Sum256(b)
	sig, err := rsa.SignPKCS1v15(rand.Reader, d.Key, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	out := Delivered{File: d.rel(fileKey), Manifest: d.rel(mkey), Signature: d.rel(manifest.SignatureName(mkey)), ManifestSHA256: manifest.Hash(b)}
	d.write(tb, out.File, []byte(body))
	d.write(tb, out.Manifest, b)
	d.write(tb, out.Signature, sig)
	d.current[day] = b
	d.Head = &manifest.Link{Key: mkey, SHA256: out.ManifestSHA256}
	return out
}

// Days delivers each day in order, each a file of two rows of its own.
func (d *Deliveries) Days(tb testing.TB, days ...string) []Delivered {
	tb.Helper()
	var out []Delivered
	for _, day := range days {
		out = append(out, d.Deliver(tb, day, Body(day)))
	}
	return out
}

// Body is a file of two rows for day; Empty one without rows.
func Body(day string) string {
	return Empty + day + "T01:00:00.000Z,req-" + day + "\n" + day + "T20:00:00.123Z,req2-" + day + "\n"
}

// Empty is the file of a day without events: a header only.
const Empty = "request_time,request_id\n"

func (d *Deliveries) rel(key string) string {
	if !strings.HasPrefix(key, d.Synced) {
		panic("manifesttest: key " + key + " outside the synced prefix " + d.Synced)
	}
	return strings.TrimPrefix(key, d.Synced)
}

// Path is the file at rel (as Delivered names it) on disk.
func (d *Deliveries) Path(rel string) string { return filepath.Join(d.Dir, filepath.FromSlash(rel)) }

func (d *Deliveries) write(tb testing.TB, rel string, b []byte) {
	tb.Helper()
	p := d.Path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// FlipByte changes the byte at offset i of the file at rel (negative: from
// the end) to c.
func (d *Deliveries) FlipByte(tb testing.TB, rel string, i int, c byte) {
	tb.Helper()
	p := d.Path(rel)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	if i < 0 {
		i += len(b)
	}
	if b[i] == c {
		tb.Fatalf("%s: byte %d is %q already", rel, i, c)
	}
	b[i] = c
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Remove deletes the file at rel.
func (d *Deliveries) Remove(tb testing.TB, rel string) {
	tb.Helper()
	if err := os.Remove(d.Path(rel)); err != nil {
		tb.Fatal(err)
	}
}
