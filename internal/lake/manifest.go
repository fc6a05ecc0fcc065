package lake

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// ManifestVersion is the version of the manifest format this code writes
// and reads.
const ManifestVersion = 1

// Manifest says what one compaction of a bucket-day produced. It is
// written after every org-day object it names, so a reader that finds it
// finds the objects too. Its content depends only on the raw objects it
// compacted (no wall-clock time), so running compaction again on the same
// input writes the same manifest.
type Manifest struct {
	Version int       `json:"version"`
	Day     audit.Day `json:"day"`
	Bucket  int       `json:"bucket"`
	// Inputs are the raw objects compacted, in key order. A raw object of
	// the bucket-day that is not among them (or has another ETag) arrived
	// later: the bucket-day must be compacted again.
	Inputs []Input `json:"inputs"`
	// Orgs are the org-day objects, in org order; an org of the bucket
	// without events that day has none.
	Orgs []OrgDay `json:"orgs"`
	// Records is how many raw records were read, Duplicates how many of
	// them repeated a request ID of their org-day and were dropped (the
	// last one written is kept).
	Records    int64 `json:"records"`
	Duplicates int64 `json:"duplicates"`
}

// Input is one compacted raw object.
type Input struct {
	Key  string `json:"key"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

// OrgDay is one org-day object.
type OrgDay struct {
	Org    string `json:"org"`
	Key    string `json:"key"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`  // of the object as stored (compressed)
	SHA256 string `json:"sha256"` // hex, of the object as stored
	// First and Last are the request times of its first and last event.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// File is the org-day as the customer's file (ExportPrefix).
	File File `json:"file"`
}

// File is an org-day's delivered file: its Rows are the OrgDay's.
type File struct {
	Key    string `json:"key"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex
	// CRC32C (Castagnoli, hex) of the same bytes: what the export checks
	// its copy against, at a tenth of SHA-256's CPU (see logstore.DayFile).
	// Empty in a manifest written before it was recorded.
	CRC32C string `json:"crc32c,omitempty"`
}

// Org returns the org's entry.
func (m *Manifest) Org(org string) (OrgDay, bool) {
	i, ok := slices.BinarySearchFunc(m.Orgs, org, func(o OrgDay, org string) int { return strings.Compare(o.Org, org) })
	if !ok {
		return OrgDay{}, false
	}
	return m.Orgs[i], true
}

// MergeInputs is the union of two lists of inputs in key order, in key
// order (then ETag: a raw object rewritten under its key is another input).
func MergeInputs(a, b []Input) []Input {
	out := make([]Input, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortFunc(out, func(x, y Input) int {
		if c := strings.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		return strings.Compare(x.ETag, y.ETag)
	})
	return slices.Compact(out)
}

// EncodeManifest writes m as indented JSON.
func EncodeManifest(w io.Writer, m *Manifest) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// DecodeManifest reads a manifest and checks it is one this code can use.
func DecodeManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest version %d: this code reads version %d", m.Version, ManifestVersion)
	}
	if m.Day.IsZero() || m.Bucket < 0 || m.Bucket >= Buckets {
		return nil, fmt.Errorf("manifest of day %q bucket %d: not a bucket-day of this lake", m.Day, m.Bucket)
	}
	if !slices.IsSortedFunc(m.Orgs, func(a, b OrgDay) int { return strings.Compare(a.Org, b.Org) }) {
		return nil, fmt.Errorf("manifest of day %s bucket %d: orgs out of order", m.Day, m.Bucket)
	}
	return &m, nil
}
