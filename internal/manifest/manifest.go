// Package manifest holds the manifest delivered beside each audit log
// file: what the file is (key, format, size, SHA-256, rows, the day and
// its first and last event), the link to the previous manifest delivered
// to the org (the chain), the earlier versions of the day when it is
// delivered again (Supersedes), and the signing key's fingerprint. The
// detached signature beside it (Name + ".sig") is RSASSA-PKCS1-v1_5 with
// SHA-256 over the manifest's exact bytes, so a customer checks it with
// `openssl dgst -sha256 -verify`.
//
// Encode writes one canonical layout (every field on a line of its own at
// a fixed indent, see Encode) that docs/verify-deliveries.sh reads with
// sed and awk; Decode accepts only that layout, so the Go verifier
// (Verify) and the shell script read the same manifests and refuse the
// same. Verify checks a folder of downloaded deliveries offline.
//
// manifest imports of this module only internal/audit (the org ID rule,
// the day and time layouts, FieldError) and internal/rsakey (the signing
// key's PEM and fingerprint). It may not import a sink, the
// ledger, KMS or the export: they build and sign manifests with it.
package manifest

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/rsakey"
)

// Version is the manifest_version this package writes and reads.
const Version = 1

// SignatureAlgorithm is KMS's name of the signature beside a manifest:
// RSASSA-PKCS1-v1_5 with SHA-256.
const SignatureAlgorithm = "RSASSA_PKCS1_V1_5_SHA_256"

// Suffix ends every manifest's key; SignatureSuffix ends a signature's,
// after the manifest's.
const (
	Suffix          = ".manifest.json"
	SignatureSuffix = ".sig"
)

// formats are the delivered files' formats, each also the file name's
// extension after its dot (none is another's suffix: ".csv" does not end
// ".csv.gz"). Longest first all the same, so that Name stays right if
// one ever is.
var formats = []string{"jsonl.gz", "parquet", "csv.gz", "csv"}

// Manifest describes one delivered file. Times are UTC and written to the
// millisecond (Encode truncates finer ones).
type Manifest struct {
	ManifestVersion int    `json:"manifest_version"`
	SchemaVersion   int    `json:"schema_version"` // of the delivered file's columns
	OrgID           string `json:"org_id"`
	Day             string `json:"day"` // YYYY-MM-DD
	File            File   `json:"file"`
	// FirstEventTime and LastEventTime are nil for a day without events
	// (Rows 0), and both set otherwise.
	FirstEventTime *time.Time `json:"first_event_time"`
	LastEventTime  *time.Time `json:"last_event_time"`
	DeliveredAt    time.Time  `json:"delivered_at"`
	// Previous is the manifest delivered to the org before this one, in
	// delivery order (nil for the org's first).
	Previous *Link `json:"previous"`
	// Supersedes is the day's manifest this one overwrote when the day
	// was delivered again (nil otherwise).
	Supersedes *Supersedes `json:"supersedes"`
	// SigningKeyFingerprint is Fingerprint of the key that signs it.
	SigningKeyFingerprint string `json:"signing_key_fingerprint"`
	SignatureAlgorithm    string `json:"signature_algorithm"`
}

// File is the delivered file.
type File struct {
	// Key is the object key as delivered, the destination's prefix
	// included.
	Key    string `json:"key"`
	Format string `json:"format"` // csv, csv.gz, jsonl.gz or parquet
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex, of the file's bytes
	Rows   int64  `json:"rows"`
}

// Link names a manifest: its key and the SHA-256 of its exact bytes.
type Link struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Supersedes names the manifest a redelivery of the day overwrote, and
// vouches for every earlier version of the day: a manifest's name is its
// day's, so a redelivery overwrites it, while the manifests delivered
// after the overwritten one still link to its SHA-256. History lets a
// verifier rebuild those links: every earlier manifest of the day, oldest
// first, each with the previous link it named; the last is the one
// directly superseded (its SHA256 is Supersedes.SHA256).
type Supersedes struct {
	Key     string       `json:"key"`
	SHA256  string       `json:"sha256"`
	History []Superseded `json:"history"`
}

// Superseded is an earlier manifest of a day, known by its SHA-256 and
// the previous link it named. (Not "Version": that is the format's.)
type Superseded struct {
	SHA256   string `json:"sha256"`
	Previous *Link  `json:"previous"`
}

// Name is the manifest key of a delivered file's key: the file's
// extension (.csv.gz, .jsonl.gz, .csv or .parquet) replaced by Suffix. A key of another
// extension keeps it, Suffix appended.
func Name(fileKey string) string {
	for _, f := range formats {
		if strings.HasSuffix(fileKey, "."+f) {
			return strings.TrimSuffix(fileKey, "."+f) + Suffix
		}
	}
	return fileKey + Suffix
}

// SignatureName is the key of a manifest's detached signature.
func SignatureName(manifestKey string) string { return manifestKey + SignatureSuffix }

// Hash is the hex SHA-256 of b: of a file, or of a manifest's exact
// bytes as a Link names it.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Fingerprint is the hex SHA-256 of the key's DER SubjectPublicKeyInfo
// (what `openssl pkey -pubin -outform DER | sha256sum` prints of its PEM).
func Fingerprint(key *rsa.PublicKey) (string, error) { return rsakey.FingerprintOf(key) }

// ParsePublicKeyPEM reads an RSA key from a "PUBLIC KEY" PEM block
// (SubjectPublicKeyInfo), what `auditctl keys public` prints.
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	pub, _, err := rsakey.ParsePEM(b, 0, false)
	return pub, err
}

// timeLayout is the manifest's times: RFC 3339, UTC, milliseconds.
const timeLayout = audit.TimeLayout

// Encode writes m in the canonical layout, which Decode alone accepts:
//
//	{
//	  "manifest_version": 1,
//	  ...every scalar at two spaces, one a line, in the struct's order...
//	  "file": {
//	    "key": "...",            (an object's fields at four spaces)
//	    ...
//	  },
//	  "previous": null,          (or an object, as "file")
//	  "supersedes": {
//	    "key": "...",
//	    "sha256": "...",
//	    "history": [
//	      {"sha256": "...", "previous": {"key": "...", "sha256": "..."}},
//	      {"sha256": "...", "previous": null}
//	    ]
//	  },
//	  ...
//	}
//
// with a final newline. Strings escape only '"' (as \"): keys may not
// hold a backslash or a control character, and no other string may
// hold a quote. m must be valid (the error names the field and value).
func Encode(m *Manifest) ([]byte, error) {
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var b bytes.Buffer
	num := func(indent, name string, v int64) { fmt.Fprintf(&b, "%s%q: %d,\n", indent, name, v) }
	str := func(indent, name, v string) { fmt.Fprintf(&b, "%s%q: %s,\n", indent, name, quote(v)) }
	tm := func(name string, t *time.Time) {
		if t == nil {
			fmt.Fprintf(&b, "  %q: null,\n", name)
			return
		}
		str("  ", name, t.UTC().Format(timeLayout))
	}
	// last drops the comma of an object's last line.
	last := func() { b.Truncate(b.Len() - 2); b.WriteString("\n") }
	b.WriteString("{\n")
	num("  ", "manifest_version", int64(m.ManifestVersion))
	num("  ", "schema_version", int64(m.SchemaVersion))
	str("  ", "org_id", m.OrgID)
	str("  ", "day", m.Day)
	b.WriteString("  \"file\": {\n")
	str("    ", "key", m.File.Key)
	str("    ", "format", m.File.Format)
	num("    ", "bytes", m.File.Bytes)
	str("    ", "sha256", m.File.SHA256)
	num("    ", "rows", m.File.Rows)
	last()
	b.WriteString("  },\n")
	tm("first_event_time", m.FirstEventTime)
	tm("last_event_time", m.LastEventTime)
	tm("delivered_at", &m.DeliveredAt)
	if p := m.Previous; p == nil {
		b.WriteString("  \"previous\": null,\n")
	} else {
		b.WriteString("  \"previous\": {\n")
		str("    ", "key", p.Key)
		str("    ", "sha256", p.SHA256)
		last()
		b.WriteString("  },\n")
	}
	if s := m.Supersedes; s == nil {
		b.WriteString("  \"supersedes\": null,\n")
	} else {
		b.WriteString("  \"supersedes\": {\n")
		str("    ", "key", s.Key)
		str("    ", "sha256", s.SHA256)
		b.WriteString("    \"history\": [\n")
		for _, v := range s.History {
			fmt.Fprintf(&b, "      {\"sha256\": %s, \"previous\": %s},\n", quote(v.SHA256), inlineLink(v.Previous))
		}
		last()
		b.WriteString("    ]\n")
		b.WriteString("  },\n")
	}
	str("  ", "signing_key_fingerprint", m.SigningKeyFingerprint)
	str("  ", "signature_algorithm", m.SignatureAlgorithm)
	last()
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func inlineLink(l *Link) string {
	if l == nil {
		return "null"
	}
	return fmt.Sprintf("{\"key\": %s, \"sha256\": %s}", quote(l.Key), quote(l.SHA256))
}

// quote writes s as a JSON string; validate made sure that only '"'
// needs escaping.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// wire is the JSON of a Manifest with times as text, so that Decode
// parses them in the one layout and names the field of a bad one.
type wire struct {
	ManifestVersion       int         `json:"manifest_version"`
	SchemaVersion         int         `json:"schema_version"`
	OrgID                 string      `json:"org_id"`
	Day                   string      `json:"day"`
	File                  File        `json:"file"`
	FirstEventTime        *string     `json:"first_event_time"`
	LastEventTime         *string     `json:"last_event_time"`
	DeliveredAt           string      `json:"delivered_at"`
	Previous              *Link       `json:"previous"`
	Supersedes            *Supersedes `json:"supersedes"`
	SigningKeyFingerprint string      `json:"signing_key_fingerprint"`
	SignatureAlgorithm    string      `json:"signature_algorithm"`
}

// Decode reads a manifest written by Encode: the version is checked
// first (a manifest of another version is named as such, not as unknown
// fields), then the fields, strictly (unknown ones refused, every value
// checked), and last the layout: b must be exactly what Encode writes of
// it, since the shell verifier reads it line by line.
func Decode(b []byte) (*Manifest, error) {
	// Unmarshal also refuses data after the object.
	var v struct {
		ManifestVersion *json.RawMessage `json:"manifest_version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("manifest: not a JSON object: %w", err)
	}
	if v.ManifestVersion == nil {
		return nil, fmt.Errorf("manifest: %w", &audit.FieldError{Field: "manifest_version", Value: "", Reason: "is missing"})
	}
	if got := string(*v.ManifestVersion); got != strconv.Itoa(Version) {
		return nil, fmt.Errorf("manifest: %w", &audit.FieldError{Field: "manifest_version", Value: got,
			Reason: fmt.Sprintf("this verifier reads version %d only: get a newer one", Version)})
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("manifest: %w", &audit.FieldError{Field: te.Field, Value: te.Value, Reason: "must be a " + te.Type.String()})
		}
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m := &Manifest{ManifestVersion: w.ManifestVersion, SchemaVersion: w.SchemaVersion, OrgID: w.OrgID, Day: w.Day,
		File: w.File, Previous: w.Previous, Supersedes: w.Supersedes,
		SigningKeyFingerprint: w.SigningKeyFingerprint, SignatureAlgorithm: w.SignatureAlgorithm}
	var err error
	if m.FirstEventTime, err = parseTime("first_event_time", w.FirstEventTime); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.LastEventTime, err = parseTime("last_event_time", w.LastEventTime); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	at, err := parseTime("delivered_at", &w.DeliveredAt)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m.DeliveredAt = *at
	canon, err := Encode(m)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("manifest: %s", layoutDiff(b, canon))
	}
	return m, nil
}

func parseTime(field string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(timeLayout, *s)
	if err != nil {
		return nil, &audit.FieldError{Field: field, Value: *s, Reason: "must be a UTC time written YYYY-MM-DDTHH:MM:SS.mmmZ"}
	}
	return &t, nil
}

// layoutDiff names the first line of b that is not the canonical one.
func layoutDiff(b, canon []byte) string {
	got, want := strings.SplitAfter(string(b), "\n"), strings.SplitAfter(string(canon), "\n")
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("line %d is %q, the manifest layout has %q there (a manifest is read as written by its encoder, byte for byte)", i+1, g, w)
		}
	}
	return "not in the manifest layout"
}

// validate checks every field; the error names the first bad one.
func validate(m *Manifest) error {
	bad := func(field, value, reason string) error {
		return &audit.FieldError{Field: field, Value: value, Reason: reason}
	}
	if m.ManifestVersion != Version {
		return bad("manifest_version", strconv.Itoa(m.ManifestVersion), fmt.Sprintf("must be %d", Version))
	}
	if m.SchemaVersion < 1 {
		return bad("schema_version", strconv.Itoa(m.SchemaVersion), "must be 1 or more")
	}
	if err := audit.ValidateOrgID(m.OrgID); err != nil {
		return err
	}
	day, err := audit.ParseDay(m.Day)
	if err != nil || day.String() != m.Day {
		return bad("day", m.Day, "must be a date written YYYY-MM-DD")
	}
	f := m.File
	if err := validKey("file.key", f.Key); err != nil {
		return err
	}
	if !validFormat(f.Format) {
		return bad("file.format", f.Format, "must be one of "+strings.Join(formats, ", "))
	}
	if !strings.HasSuffix(f.Key, "."+f.Format) {
		return bad("file.key", f.Key, "must end in the format's extension ."+f.Format)
	}
	if f.Bytes < 0 {
		return bad("file.bytes", strconv.FormatInt(f.Bytes, 10), "must not be negative")
	}
	if !validSHA256(f.SHA256) {
		return bad("file.sha256", f.SHA256, "must be 64 lowercase hex digits")
	}
	if f.Rows < 0 {
		return bad("file.rows", strconv.FormatInt(f.Rows, 10), "must not be negative")
	}
	first, last := m.FirstEventTime, m.LastEventTime
	switch {
	case (first == nil) != (last == nil):
		return bad("first_event_time", fmtTime(first), "and last_event_time must be both null (a day without events) or both set")
	case first == nil && f.Rows != 0:
		return bad("first_event_time", "null", fmt.Sprintf("must be set: the file has %d rows", f.Rows))
	case first != nil && f.Rows == 0:
		return bad("first_event_time", fmtTime(first), "must be null: the file has no rows")
	case first != nil && !day.Contains(*first):
		return bad("first_event_time", fmtTime(first), "must fall within the day "+m.Day)
	case last != nil && !day.Contains(*last):
		return bad("last_event_time", fmtTime(last), "must fall within the day "+m.Day)
	case first != nil && last.Before(*first):
		return bad("last_event_time", fmtTime(last), "must not be before first_event_time "+fmtTime(first))
	}
	if y := m.DeliveredAt.UTC().Year(); y < 2000 || y > 9999 {
		return bad("delivered_at", fmtTime(&m.DeliveredAt), "must be a time between the years 2000 and 9999")
	}
	if err := validLink("previous", m.Previous); err != nil {
		return err
	}
	if s := m.Supersedes; s != nil {
		if err := validLink("supersedes", &Link{Key: s.Key, SHA256: s.SHA256}); err != nil {
			return err
		}
		if len(s.History) == 0 {
			return bad("supersedes.history", "[]", "must list the day's earlier manifests, the superseded one last")
		}
		seen := map[string]bool{}
		for i, v := range s.History {
			field := fmt.Sprintf("supersedes.history[%d]", i)
			if !validSHA256(v.SHA256) {
				return bad(field+".sha256", v.SHA256, "must be 64 lowercase hex digits")
			}
			if seen[v.SHA256] {
				return bad(field+".sha256", v.SHA256, "is listed twice")
			}
			seen[v.SHA256] = true
			if err := validLink(field+".previous", v.Previous); err != nil {
				return err
			}
		}
		if lastV := s.History[len(s.History)-1]; lastV.SHA256 != s.SHA256 {
			return bad(fmt.Sprintf("supersedes.history[%d].sha256", len(s.History)-1), lastV.SHA256,
				"must be supersedes.sha256 "+s.SHA256+": the last version is the one superseded")
		}
	}
	if !validSHA256(m.SigningKeyFingerprint) {
		return bad("signing_key_fingerprint", m.SigningKeyFingerprint, "must be 64 lowercase hex digits")
	}
	if m.SignatureAlgorithm != SignatureAlgorithm {
		return bad("signature_algorithm", m.SignatureAlgorithm, "must be "+SignatureAlgorithm)
	}
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.UTC().Format(timeLayout)
}

func validLink(field string, l *Link) error {
	if l == nil {
		return nil
	}
	if err := validKey(field+".key", l.Key); err != nil {
		return err
	}
	if !strings.HasSuffix(l.Key, Suffix) {
		return &audit.FieldError{Field: field + ".key", Value: l.Key, Reason: "must be a manifest's key, ending in " + Suffix}
	}
	if !validSHA256(l.SHA256) {
		return &audit.FieldError{Field: field + ".sha256", Value: l.SHA256, Reason: "must be 64 lowercase hex digits"}
	}
	return nil
}

// validKey holds keys to what a destination's prefix allows
// (destination.ValidatePrefix) and an object name: valid UTF-8, no
// control character or backslash (so that '"' is the only character the
// layout escapes), no leading '/', no empty, "." or ".." segment.
func validKey(field, k string) error {
	bad := func(reason string) error { return &audit.FieldError{Field: field, Value: k, Reason: reason} }
	switch {
	case k == "":
		return bad("must not be empty")
	case len(k) > 1024:
		return bad("must be at most 1024 bytes, an object key's limit")
	case !utf8.ValidString(k):
		return bad("must be valid UTF-8")
	case strings.ContainsFunc(k, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }):
		return bad("must not hold control characters or '\\'")
	}
	for _, seg := range strings.Split(k, "/") {
		switch seg {
		case "", ".", "..":
			return bad("must not start with '/' nor hold an empty, '.' or '..' segment")
		}
	}
	return nil
}

func validFormat(f string) bool {
	for _, g := range formats {
		if f == g {
			return true
		}
	}
	return false
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
