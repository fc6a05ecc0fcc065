package manifest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/contentful/auditlogs/internal/audit"
)

// Kind names a problem Verify finds. The values are stable: `auditctl
// files verify --json` and docs/verify-deliveries.sh print them.
type Kind string

const (
	// NoManifests: the folder holds no manifest at all (the wrong folder,
	// or nothing downloaded), which must not pass as verified.
	NoManifests Kind = "no_manifests"
	// SignatureMissing: no .sig beside a manifest.
	SignatureMissing Kind = "signature_missing"
	// SignatureInvalid: the signature does not verify the manifest's
	// bytes with the given key.
	SignatureInvalid Kind = "signature_invalid"
	// SigningKeyMismatch: the manifest names another signing key than
	// the one given.
	SigningKeyMismatch Kind = "signing_key_mismatch"
	// ManifestUnreadable: not a manifest Decode accepts.
	ManifestUnreadable Kind = "manifest_unreadable"
	// ManifestMisplaced: the manifest's name is not the one of the file
	// it describes (a manifest copied or renamed).
	ManifestMisplaced Kind = "manifest_misplaced"
	// FileMissing: the delivered file is not beside its manifest.
	FileMissing Kind = "file_missing"
	// FileChanged: the file's size or SHA-256 is not the manifest's.
	FileChanged Kind = "file_changed"
	// ChainDangling: a previous link names a manifest that is neither in
	// the folder nor vouched for by a redelivery of its day.
	ChainDangling Kind = "chain_dangling"
	// ChainLinkKey: a previous link's SHA-256 is a manifest of another
	// key than the link names.
	ChainLinkKey Kind = "chain_link_key"
	// ChainHistory: two manifests say different things of one version
	// (its key or its previous link).
	ChainHistory Kind = "chain_history"
	// ChainFork: a manifest is the previous of more than one.
	ChainFork Kind = "chain_fork"
	// ChainRoots: more than one manifest has no previous, or (without a
	// dangling link to explain it) none has.
	ChainRoots Kind = "chain_roots"
	// ChainUnreachable: a manifest that the chain from the newest one
	// does not reach.
	ChainUnreachable Kind = "chain_unreachable"
	// DayMissing: a day between an org's first and last day without a
	// readable manifest. Its Key is the day, YYYY-MM-DD.
	DayMissing Kind = "day_missing"
)

// Problem is one thing wrong in the folder. Key is the slash-separated
// path, relative to the folder, of the file it is about (for DayMissing,
// the day); Detail says what is wrong in a sentence.
type Problem struct {
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

func (p Problem) String() string { return string(p.Kind) + " " + p.Key + ": " + p.Detail }

// Report is what Verify checked and found.
type Report struct {
	Dir string `json:"dir"`
	// Manifests is the manifest files found; Signatures those whose
	// signature verified; Files the delivered files found and hashed.
	Manifests  int          `json:"manifests"`
	Signatures int          `json:"signatures_valid"`
	Files      int          `json:"files"`
	Orgs       []OrgSummary `json:"orgs"`
	Problems   []Problem    `json:"problems"`
}

// OrgSummary is one org's days and chain, from its readable manifests.
type OrgSummary struct {
	OrgID    string `json:"org_id"`
	FirstDay string `json:"first_day"`
	LastDay  string `json:"last_day"`
	// Days is the days with a manifest; Chain the manifests in the
	// chain, superseded versions included; Head the newest manifest.
	Days  int    `json:"days"`
	Chain int    `json:"chain"`
	Head  string `json:"head"`
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the deliveries downloaded into dir against key, offline.
//
// dir holds a destination's objects as `aws s3 sync s3://bucket/PREFIX/
// dir/` or azcopy leave them: each key, its prefix removed, as a path,
// in the flat layout or under date=YYYY-MM-DD/ folders (a folder above
// or below the prefix works as well). Keys are matched by suffix, so the
// prefix need not be known: a manifest found at path R describes the
// file of its File.Key whose name is base(File.Key), in R's folder, and
// Name(File.Key) must end in R (or R in it, if dir is above the prefix).
// Links between manifests are checked by SHA-256 and full key, which
// need no mapping to paths.
//
// For each manifest (*.manifest.json, regular files, walked
// recursively): its signature (RSASSA-PKCS1-v1_5 SHA-256, as `openssl
// dgst -sha256 -verify`), its layout and fields (Decode), the signing
// key's fingerprint, its name, and the delivered file's size and
// SHA-256. Then per org, over the readable manifests and the superseded
// versions their Supersedes.History vouches for: that the chain of
// previous links is one line (every link resolves to a version of that
// SHA-256 and key, none is the previous of two, exactly one has no
// previous, all are reached from the newest manifest by delivered_at),
// and that no day between the first and the last lacks a manifest.
//
// The chain is checked over every readable manifest, signed or not: a
// bad signature is its own problem, and leaving the manifest out would
// name its neighbours as broken too. Offline, nothing tells that the
// newest deliveries were deleted: compare the last day with what you
// expect.
//
// Problems are in the Report; the error is only for a walk of dir that
// failed.
func Verify(dir string, key *rsa.PublicKey) (*Report, error) {
	fpr, err := Fingerprint(key)
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("manifest: verify %s: %w", dir, err)
	}
	var rels []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), Suffix) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: verify %s: %w", dir, err)
	}
	// Byte order of the whole path, as the shell verifier's `sort`, so
	// that both meet the manifests in one order.
	sort.Strings(rels)
	v := &verifier{root: root, key: key, fpr: fpr, r: &Report{Dir: dir, Orgs: []OrgSummary{}, Problems: []Problem{}}, byID: map[string]*node{}}
	for _, rel := range rels {
		if err := v.check(rel); err != nil {
			return nil, err
		}
	}
	if len(rels) == 0 {
		v.problem(NoManifests, ".", "the folder holds no manifest (*"+Suffix+"): nothing was verified")
	}
	v.chains()
	sort.Slice(v.r.Problems, func(i, j int) bool {
		a, b := v.r.Problems[i], v.r.Problems[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Detail < b.Detail
	})
	return v.r, nil
}

// node is a version of a manifest in an org's chain: one in the folder,
// or one a later manifest of its day vouches for.
type node struct {
	org, sha, key string
	prev          *Link
	// at is the path of the manifest that is it, or that vouches for it.
	at      string
	present bool
	day     string
	succ    []*node
}

func (n *node) what() string {
	if n.present {
		return "this manifest"
	}
	return fmt.Sprintf("the superseded version %s of %s (which this manifest vouches for)", n.sha, n.key)
}

type org struct {
	id    string
	nodes []*node
	// head is the newest manifest: of the latest delivered_at
	// (headDelivery), of the later path (headAt) on a tie.
	head                 *node
	headDelivery, headAt string
	days                 map[string]bool
	first, last          string
}

type verifier struct {
	root string
	key  *rsa.PublicKey
	fpr  string
	r    *Report
	byID map[string]*node
	orgs []*org
}

func (v *verifier) problem(k Kind, key, format string, args ...any) {
	v.r.Problems = append(v.r.Problems, Problem{Kind: k, Key: key, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) org(id string) *org {
	for _, o := range v.orgs {
		if o.id == id {
			return o
		}
	}
	o := &org{id: id, days: map[string]bool{}}
	v.orgs = append(v.orgs, o)
	return o
}

// check verifies the manifest at rel and adds it, and the versions it
// vouches for, to its org's chain. The error is only an I/O failure of
// reading the delivered file.
func (v *verifier) check(rel string) error {
	v.r.Manifests++
	p := filepath.Join(v.root, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		v.problem(ManifestUnreadable, rel, "cannot be read: %v", err)
		return nil
	}
	sigRel := SignatureName(rel)
	if st, err := os.Stat(p + SignatureSuffix); err != nil || !st.Mode().IsRegular() {
		v.problem(SignatureMissing, sigRel, "no signature beside %s: nothing vouches that we wrote it", rel)
	} else if sig, err := os.ReadFile(p + SignatureSuffix); err != nil {
		v.problem(SignatureInvalid, sigRel, "cannot be read: %v", err)
	} else if digest := sha256.Sum256(b); rsa.VerifyPKCS1v15(v.key, crypto.SHA256, digest[:], sig) != nil {
		v.problem(SignatureInvalid, sigRel, "does not verify %s with the given key: the manifest or its signature was changed, or another key signed it", rel)
	} else {
		v.r.Signatures++
	}
	m, err := Decode(b)
	if err != nil {
		v.problem(ManifestUnreadable, rel, "%v", err)
		return nil
	}
	if m.SigningKeyFingerprint != v.fpr {
		v.problem(SigningKeyMismatch, rel, "names the signing key of fingerprint %s, the given key's is %s", m.SigningKeyFingerprint, v.fpr)
	}
	name := Name(m.File.Key)
	if name != rel && !strings.HasSuffix(name, "/"+rel) && !strings.HasSuffix(rel, "/"+name) {
		v.problem(ManifestMisplaced, rel, "describes the file %s, whose manifest is named %s: this one was copied or renamed", m.File.Key, name)
	}
	if err := v.checkFile(path.Join(path.Dir(rel), path.Base(m.File.Key)), m.File); err != nil {
		return err
	}

	o := v.org(m.OrgID)
	o.days[m.Day] = true
	if o.first == "" || m.Day < o.first {
		o.first = m.Day
	}
	if m.Day > o.last {
		o.last = m.Day
	}
	sha := Hash(b)
	self := v.add(o, &node{org: m.OrgID, sha: sha, key: name, prev: m.Previous, at: rel, present: true, day: m.Day})
	// The newest manifest by delivered_at, the later path on a tie.
	at := m.DeliveredAt.UTC().Format(timeLayout)
	if o.head == nil || at > o.headDelivery || at == o.headDelivery && rel > o.headAt {
		o.head, o.headDelivery, o.headAt = self, at, rel
	}
	if s := m.Supersedes; s != nil {
		for _, h := range s.History {
			v.add(o, &node{org: m.OrgID, sha: h.SHA256, key: s.Key, prev: h.Previous, at: rel, day: m.Day})
		}
	}
	return nil
}

// add puts n into its org's chain, or checks it against the version of
// that SHA-256 already there, and returns the version in the chain.
func (v *verifier) add(o *org, n *node) *node {
	id := n.org + "\x00" + n.sha
	e, ok := v.byID[id]
	if !ok {
		v.byID[id] = n
		o.nodes = append(o.nodes, n)
		return n
	}
	if e.key != n.key || linkString(e.prev) != linkString(n.prev) {
		v.problem(ChainHistory, n.at, "says the manifest of SHA-256 %s is %s with previous %s, while %s says it is %s with previous %s",
			n.sha, n.key, linkString(n.prev), e.at, e.key, linkString(e.prev))
	}
	if n.present && !e.present {
		e.present, e.at = true, n.at
	}
	return e
}

func linkString(l *Link) string {
	if l == nil {
		return "null"
	}
	return l.Key + " (SHA-256 " + l.SHA256 + ")"
}

// checkFile compares the delivered file at rel with f.
func (v *verifier) checkFile(rel string, f File) error {
	p := filepath.Join(v.root, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		v.problem(FileMissing, rel, "the file its manifest describes (%d bytes) is not in the folder", f.Bytes)
		return nil
	}
	fh, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("manifest: verify %s: %w", rel, err)
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fmt.Errorf("manifest: verify %s: %w", rel, err)
	}
	v.r.Files++
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case n != f.Bytes:
		v.problem(FileChanged, rel, "is %d bytes, its manifest says %d: the file is not the one delivered", n, f.Bytes)
	case sum != f.SHA256:
		v.problem(FileChanged, rel, "has SHA-256 %s, its manifest says %s: the file is not the one delivered", sum, f.SHA256)
	}
	return nil
}

// chains checks each org's chain and days.
func (v *verifier) chains() {
	sort.Slice(v.orgs, func(i, j int) bool { return v.orgs[i].id < v.orgs[j].id })
	for _, o := range v.orgs {
		v.chain(o)
		v.days(o)
		v.r.Orgs = append(v.r.Orgs, OrgSummary{OrgID: o.id, FirstDay: o.first, LastDay: o.last, Days: len(o.days), Chain: len(o.nodes), Head: o.head.at})
	}
}

func (v *verifier) chain(o *org) {
	var roots []*node
	dangling := 0
	for _, n := range o.nodes {
		if n.prev == nil {
			roots = append(roots, n)
			continue
		}
		t := v.byID[o.id+"\x00"+n.prev.SHA256]
		if t == nil {
			dangling++
			v.problem(ChainDangling, n.at, "%s names as its previous %s, which is neither in the folder nor vouched for by a later manifest of its day: the chain is broken here",
				capital(n.what()), linkString(n.prev))
			continue
		}
		if t.key != n.prev.Key {
			v.problem(ChainLinkKey, n.at, "%s names as its previous %s, but the manifest of that SHA-256 is %s", capital(n.what()), linkString(n.prev), t.key)
		}
		t.succ = append(t.succ, n)
	}
	for _, n := range o.nodes {
		if len(n.succ) > 1 {
			var next []string
			for _, s := range n.succ {
				next = append(next, s.at)
			}
			v.problem(ChainFork, n.at, "%s is the previous of %d manifests (%s): the chain forks here", capital(n.what()), len(n.succ), strings.Join(next, ", "))
		}
	}
	if len(roots) > 1 {
		first := roots[0]
		for _, r := range roots[1:] {
			if r.day < first.day || r.day == first.day && r.at < first.at {
				first = r
			}
		}
		for _, r := range roots {
			if r != first {
				v.problem(ChainRoots, r.at, "%s has no previous, as if first delivered, and so has %s of day %s: the chain starts twice", capital(r.what()), first.at, first.day)
			}
		}
	}
	if len(roots) == 0 && dangling == 0 {
		v.problem(ChainRoots, o.head.at, "no manifest of org %s has a null previous: the previous links loop", o.id)
	}
	seen := map[*node]bool{}
	walk := func(n *node) {
		for n != nil && !seen[n] {
			seen[n] = true
			if n.prev == nil {
				return
			}
			n = v.byID[o.id+"\x00"+n.prev.SHA256]
		}
	}
	walk(o.head)
	for _, n := range o.nodes {
		if len(n.succ) == 0 && n != o.head {
			v.problem(ChainUnreachable, n.at, "no later manifest names %s as its previous: the chain from the newest manifest, %s, does not reach it", n.what(), o.head.at)
			walk(n)
		}
	}
	for _, n := range o.nodes {
		if !seen[n] {
			v.problem(ChainUnreachable, n.at, "%s is in a loop of previous links, off the chain from the newest manifest %s", capital(n.what()), o.head.at)
		}
	}
}

// days reports each day between the org's first and last without a
// readable manifest.
func (v *verifier) days(o *org) {
	first, err1 := audit.ParseDay(o.first)
	last, err2 := audit.ParseDay(o.last)
	if err := errors.Join(err1, err2); err != nil {
		return // Decode checked the days; unreachable
	}
	for d := first.AddDays(1); d.Before(last); d = d.AddDays(1) {
		if !o.days[d.String()] {
			v.problem(DayMissing, d.String(), "org %s has no readable manifest for this day, between its first day %s and its last %s: the delivery or its manifest is missing",
				o.id, o.first, o.last)
		}
	}
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
