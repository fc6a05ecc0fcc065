package manifest_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/manifest"
)

func tp(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

var (
	sha1 = strings.Repeat("a1", 32)
	sha2 = strings.Repeat("b2", 32)
	sha3 = strings.Repeat("c3", 32)
	fpr  = strings.Repeat("f0", 32)
)

// full is a manifest with every optional part set, a prefix with a quote
// and a space included.
func full() *manifest.Manifest {
	return &manifest.Manifest{
		ManifestVersion: manifest.Version, SchemaVersion: 2, OrgID: "acme-1", Day: "2026-11-24",
		File: manifest.File{Key: `a "b" c/date=2026-11-24/contentful-audit-unstable-beta-acme-1-20261124T000000000Z.csv.gz`,
			Format: "csv.gz", Bytes: 1234, SHA256: sha1, Rows: 17},
		FirstEventTime: tp("2026-11-24T00:00:01.5Z"), LastEventTime: tp("2026-11-24T23:59:59.999Z"),
		DeliveredAt: *tp("2026-11-25T01:02:03.004Z"),
		Previous:    &manifest.Link{Key: "P/x.manifest.json", SHA256: sha2},
		Supersedes: &manifest.Supersedes{Key: "P/y.manifest.json", SHA256: sha3, History: []manifest.Superseded{
			{SHA256: sha2, Previous: nil},
			{SHA256: sha3, Previous: &manifest.Link{Key: `a "b" c/z.manifest.json`, SHA256: sha1}},
		}},
		SigningKeyFingerprint: fpr, SignatureAlgorithm: manifest.SignatureAlgorithm,
	}
}

// TestEncodeLayout pins the layout that docs/verify-deliveries.sh reads
// line by line: a change here must be a change there.
func TestEncodeLayout(t *testing.T) {
	b, err := manifest.Encode(full())
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "manifest_version": 1,
  "schema_version": 2,
  "org_id": "acme-1",
  "day": "2026-11-24",
  "file": {
    "key": "a \"b\" c/date=2026-11-24/contentful-audit-unstable-beta-acme-1-20261124T000000000Z.csv.gz",
    "format": "csv.gz",
    "bytes": 1234,
    "sha256": "` + sha1 + `",
    "rows": 17
  },
  "first_event_time": "2026-11-24T00:00:01.500Z",
  "last_event_time": "2026-11-24T23:59:59.999Z",
  "delivered_at": "2026-11-25T01:02:03.004Z",
  "previous": {
    "key": "P/x.manifest.json",
    "sha256": "` + sha2 + `"
  },
  "supersedes": {
    "key": "P/y.manifest.json",
    "sha256": "` + sha3 + `",
    "history": [
      {"sha256": "` + sha2 + `", "previous": null},
      {"sha256": "` + sha3 + `", "previous": {"key": "a \"b\" c/z.manifest.json", "sha256": "` + sha1 + `"}}
    ]
  },
  "signing_key_fingerprint": "` + fpr + `",
  "signature_algorithm": "RSASSA_PKCS1_V1_5_SHA_256"
}
`
	if string(b) != want {
		t.Fatalf("Encode:\n%s\nwant:\n%s", b, want)
	}

	// The nulls of an empty day, a first manifest, no redelivery.
	m := full()
	m.File.Rows, m.FirstEventTime, m.LastEventTime, m.Previous, m.Supersedes = 0, nil, nil, nil, nil
	b, err = manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\n  \"first_event_time\": null,\n  \"last_event_time\": null,\n", "\n  \"previous\": null,\n  \"supersedes\": null,\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("Encode of nulls lacks %q:\n%s", line, b)
		}
	}
}

// TestEncodeIsJSON: the layout is plain JSON, which any JSON reader
// reads to the same values.
func TestEncodeIsJSON(t *testing.T) {
	b, err := manifest.Encode(full())
	if err != nil {
		t.Fatal(err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("encoding/json: %v\n%s", err, b)
	}
	want := full()
	want.FirstEventTime = tp("2026-11-24T00:00:01.500Z")
	if !reflect.DeepEqual(&m, want) {
		t.Fatalf("encoding/json read\n%+v\nwant\n%+v", m, want)
	}
}

func TestRoundTrip(t *testing.T) {
	empty := full()
	empty.File.Rows, empty.FirstEventTime, empty.LastEventTime, empty.Previous, empty.Supersedes = 0, nil, nil, nil, nil
	empty.File.Key, empty.File.Format = "x.parquet", "parquet"
	fine := full()
	// Finer than milliseconds is truncated: the manifest's times are
	// written to the millisecond.
	fine.DeliveredAt = fine.DeliveredAt.Add(999 * time.Microsecond).In(time.FixedZone("X", 3600))
	for _, m := range []*manifest.Manifest{full(), empty, fine} {
		b, err := manifest.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := manifest.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(m)): %v\n%s", err, b)
		}
		m.DeliveredAt = m.DeliveredAt.UTC().Truncate(time.Millisecond)
		if !got.DeliveredAt.Equal(m.DeliveredAt) {
			t.Fatalf("delivered_at %v, want %v", got.DeliveredAt, m.DeliveredAt)
		}
		got.DeliveredAt = m.DeliveredAt
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("Decode(Encode(m)) =\n%+v\nwant\n%+v", got, m)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	for _, c := range []struct {
		field, value string
		edit         func(*manifest.Manifest)
	}{
		{"manifest_version", "2", func(m *manifest.Manifest) { m.ManifestVersion = 2 }},
		{"schema_version", "0", func(m *manifest.Manifest) { m.SchemaVersion = 0 }},
		{"org_id", "a", func(m *manifest.Manifest) { m.OrgID = "a" }},
		{"day", "2026-11-31", func(m *manifest.Manifest) { m.Day = "2026-11-31" }},
		{"file.key", `P\x.csv.gz`, func(m *manifest.Manifest) { m.File.Key = `P\x.csv.gz` }},
		{"file.key", "P/\tx.csv.gz", func(m *manifest.Manifest) { m.File.Key = "P/\tx.csv.gz" }},
		{"file.key", "/P/x.csv.gz", func(m *manifest.Manifest) { m.File.Key = "/P/x.csv.gz" }},
		{"file.key", "P//x.csv.gz", func(m *manifest.Manifest) { m.File.Key = "P//x.csv.gz" }},
		{"file.key", "P/x.csv", func(m *manifest.Manifest) { m.File.Key = "P/x.csv" }},
		{"file.format", "tsv", func(m *manifest.Manifest) { m.File.Format = "tsv" }},
		{"file.bytes", "-1", func(m *manifest.Manifest) { m.File.Bytes = -1 }},
		{"file.sha256", strings.ToUpper(sha1), func(m *manifest.Manifest) { m.File.SHA256 = strings.ToUpper(sha1) }},
		{"file.rows", "-1", func(m *manifest.Manifest) { m.File.Rows = -1 }},
		{"first_event_time", "null", func(m *manifest.Manifest) { m.FirstEventTime = nil }},
		{"first_event_time", "2026-11-24T00:00:01.500Z", func(m *manifest.Manifest) { m.File.Rows = 0 }},
		{"first_event_time", "null", func(m *manifest.Manifest) { m.FirstEventTime, m.LastEventTime = nil, nil }},
		{"first_event_time", "2026-11-23T23:59:59.999Z", func(m *manifest.Manifest) { m.FirstEventTime = tp("2026-11-23T23:59:59.999Z") }},
		{"last_event_time", "2026-11-25T00:00:00.000Z", func(m *manifest.Manifest) { m.LastEventTime = tp("2026-11-25T00:00:00Z") }},
		{"last_event_time", "2026-11-24T00:00:01.000Z", func(m *manifest.Manifest) { m.LastEventTime = tp("2026-11-24T00:00:01Z") }},
		{"delivered_at", "0001-01-01T00:00:00.000Z", func(m *manifest.Manifest) { m.DeliveredAt = time.Time{} }},
		{"previous.key", "P/x.csv", func(m *manifest.Manifest) { m.Previous.Key = "P/x.csv" }},
		{"previous.sha256", "abc", func(m *manifest.Manifest) { m.Previous.SHA256 = "abc" }},
		{"supersedes.history", "[]", func(m *manifest.Manifest) { m.Supersedes.History = nil }},
		{"supersedes.history[1].sha256", sha2, func(m *manifest.Manifest) { m.Supersedes.History[1].SHA256 = sha2 }},
		{"supersedes.history[1].sha256", sha1, func(m *manifest.Manifest) { m.Supersedes.History[1].SHA256 = sha1 }},
		{"supersedes.history[1].previous.key", "", func(m *manifest.Manifest) { m.Supersedes.History[1].Previous.Key = "" }},
		{"signing_key_fingerprint", "", func(m *manifest.Manifest) { m.SigningKeyFingerprint = "" }},
		{"signature_algorithm", "RSASSA_PSS_SHA_256", func(m *manifest.Manifest) { m.SignatureAlgorithm = "RSASSA_PSS_SHA_256" }},
	} {
		m := full()
		c.edit(m)
		_, err := manifest.Encode(m)
		var fe *audit.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value {
			t.Errorf("Encode with %s %q: err %v, want a FieldError naming the field and value", c.field, c.value, err)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := manifest.Encode(full())
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	for _, c := range []struct {
		name, text string
		want       []string // in the error
	}{
		{"version 2", strings.Replace(g, `"manifest_version": 1,`, `"manifest_version": 2,`, 1), []string{"manifest_version", `"2"`, "version 1"}},
		{"version 2 with new fields", strings.Replace(g, `"manifest_version": 1,`, `"manifest_version": 2, "x": 1,`, 1), []string{"manifest_version", `"2"`}},
		{"no version", strings.Replace(g, `"manifest_version": 1,`, ``, 1), []string{"manifest_version", "missing"}},
		{"unknown field", strings.Replace(g, `"schema_version": 2,`, `"schema_version": 2, "extra": true,`, 1), []string{"unknown field", `"extra"`}},
		{"wrong type", strings.Replace(g, `"bytes": 1234,`, `"bytes": "1234",`, 1), []string{"file.bytes", "int64"}},
		{"bad time", strings.Replace(g, `"delivered_at": "2026-11-25T01:02:03.004Z"`, `"delivered_at": "2026-11-25T01:02:03Z"`, 1), []string{"delivered_at", "2026-11-25T01:02:03Z"}},
		{"bad value", strings.Replace(g, sha1, strings.ToUpper(sha1), 1), []string{"file.sha256", strings.ToUpper(sha1)}},
		{"not JSON", strings.Replace(g, `{`, `[`, 1), []string{"not a JSON object"}},
		{"trailing data", g + "{}", []string{"after top-level value"}},
		{"no final newline", strings.TrimSuffix(g, "\n"), []string{"line 30"}},
		{"one more space", strings.Replace(g, `"rows": 17`, `"rows":  17`, 1), []string{"line 11", `rows\":  17`}},
		{"fields missing", `{"manifest_version":1}`, []string{"delivered_at"}},
		{"compact", strings.Join(strings.Fields(g), ""), []string{"line 1"}},
		{"escaped character", strings.Replace(g, `"org_id": "acme-1"`, `"org_id": "acme\u002d1"`, 1), []string{"line 4"}},
		{"fields reordered", strings.Replace(g, "  \"schema_version\": 2,\n  \"org_id\": \"acme-1\",\n", "  \"org_id\": \"acme-1\",\n  \"schema_version\": 2,\n", 1), []string{"line 3"}},
		{"field name case", strings.Replace(g, `"org_id"`, `"ORG_ID"`, 1), []string{"line 4", "ORG_ID"}},
		{"duplicate field", strings.Replace(g, `"org_id": "acme-1",`, `"org_id": "acme-1", "org_id": "other",`, 1), []string{"line 4"}},
	} {
		_, err := manifest.Decode([]byte(c.text))
		if err == nil {
			t.Errorf("%s: Decode accepted\n%s", c.name, c.text)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
	if _, err := manifest.Decode(good); err != nil {
		t.Fatalf("Decode of the good manifest: %v", err)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"P/contentful-audit-unstable-beta-ORG-20261124T000000000Z.csv":                    "P/contentful-audit-unstable-beta-ORG-20261124T000000000Z.manifest.json",
		"P/date=2026-11-24/contentful-audit-unstable-beta-ORG-20261124T000000000Z.csv.gz": "P/date=2026-11-24/contentful-audit-unstable-beta-ORG-20261124T000000000Z.manifest.json",
		"x.jsonl.gz":  "x.manifest.json",
		"x.parquet":   "x.manifest.json",
		"x.gz":        "x.gz.manifest.json",
		"x.csv.gz.gz": "x.csv.gz.gz.manifest.json",
	} {
		if got := manifest.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	if got := manifest.SignatureName("x.manifest.json"); got != "x.manifest.json.sig" {
		t.Errorf("SignatureName = %q", got)
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	for _, c := range []struct{ name, pem, want string }{
		{"empty", "", "no PEM block"},
		{"pkcs1", "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n", `"RSA PUBLIC KEY"`},
		{"garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a SubjectPublicKeyInfo"},
	} {
		if _, err := manifest.ParsePublicKeyPEM([]byte(c.pem)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one saying %q", c.name, err, c.want)
		}
	}
}
