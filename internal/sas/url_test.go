package sas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/failure"
	"github.com/contentful/auditlogs/internal/sas"
)

// testSig is a made-up signature; its raw and URL-encoded forms, and a
// distinctive piece of it, must never appear in an error or a redacted form.
const testSig = "k3Y+q1Xv7s9w/zR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2="

var (
	testSigEnc = url.QueryEscape(testSig)
	now        = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

const (
	azureHost = "https://acct01.blob.core.windows.net"
	emuHost   = "127.0.0.1:10000"
)

// query builds a SAS query from pairs, with sig added last unless given.
func query(pairs ...string) string {
	v := []string{}
	hasSig := false
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == "sig" {
			hasSig = true
		}
		v = append(v, pairs[i]+"="+pairs[i+1])
	}
	if !hasSig {
		v = append(v, "sig="+testSigEnc)
	}
	return strings.Join(v, "&")
}

var good = "sv=2025-01-05&sr=c&sp=cw&se=2026-12-31T00:00:00Z&sig=" + testSigEnc

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSig, testSigEnc, "zR0aB4cD5eF6", good} {
		if strings.Contains(s, secret) {
			t.Fatalf("%s contains the signature or the query (%q): %s", what, secret, s)
		}
	}
}

func TestParse(t *testing.T) {
	emu := sas.Policy{AllowedEmulatorHosts: []string{emuHost}}
	for _, tc := range []struct {
		name   string
		raw    string
		policy sas.Policy
		want   string // substring of the error; "" means accepted
	}{
		{"valid", azureHost + "/audit-logs?" + good, sas.Policy{}, ""},
		{"date-only expiry", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-12-31"), sas.Policy{}, ""},
		{"expiry with fraction", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-12-31T00:00:00.0000000Z"), sas.Policy{}, ""},
		{"expiry without seconds", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-12-31T00:00Z"), sas.Policy{}, ""},
		{"create, write and add", azureHost + "/audit-logs?" + query("sp", "acw", "se", "2026-12-31"), sas.Policy{}, ""},
		{"trailing slash", azureHost + "/audit-logs/?" + good, sas.Policy{}, ""},
		{"uppercase host", "https://ACCT01.Blob.Core.Windows.Net/audit-logs?" + good, sas.Policy{}, ""},
		{"start in the past", azureHost + "/audit-logs?" + query("sp", "cw", "st", "2026-05-01T00:00:00Z", "se", "2026-12-31"), sas.Policy{}, ""},
		{"start within clock skew", azureHost + "/audit-logs?" + query("sp", "cw", "st", "2026-06-01T12:04:00Z", "se", "2026-12-31"), sas.Policy{}, ""},
		{"emulator allowed", "http://" + emuHost + "/devstoreaccount1/audit-logs?" + good, emu, ""},
		{"emulator allowed https", "https://" + emuHost + "/devstoreaccount1/audit-logs?" + good, emu, ""},

		{"empty", "", sas.Policy{}, "SAS URL is empty"},
		{"leading space", " " + azureHost + "/audit-logs?" + good, sas.Policy{}, "leading or trailing white space"},
		{"trailing line break", azureHost + "/audit-logs?" + good + "\n", sas.Policy{}, "leading or trailing white space"},
		{"inner space", azureHost + "/audit logs?" + good, sas.Policy{}, "space, control or non-ASCII character at byte"},
		{"non-ASCII", azureHost + "/audit-lögs?" + good, sas.Policy{}, "non-ASCII"},
		{"fragment", azureHost + "/audit-logs?" + good + "#x", sas.Policy{}, "fragment"},
		{"bad port", "https://acct01.blob.core.windows.net:x/audit-logs?" + good, sas.Policy{}, "cannot be parsed"},
		{"relative", "acct01.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "must be absolute"},
		{"user info", "https://user:" + testSigEnc + "@acct01.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "user information"},
		{"http on Azure", "http://acct01.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, `SAS URL scheme "http" is not https`},
		{"other host", "https://evil.example.com/audit-logs?" + good, sas.Policy{}, `SAS host "evil.example.com" is not an Azure Blob host`},
		{"attacker suffix", "https://acct01.blob.core.windows.net.evil.example.com/audit-logs?" + good, sas.Policy{}, "is not an Azure Blob host"},
		{"nested subdomain", "https://a.acct01.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "is not an Azure Blob host"},
		{"port on Azure host", "https://acct01.blob.core.windows.net:8443/audit-logs?" + good, sas.Policy{}, "is not an Azure Blob host"},
		{"bare suffix", "https://blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "is not an Azure Blob host"},
		{"account too short", "https://ab.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, `storage account name "ab" must be 3 to 24`},
		{"account with hyphen", "https://my-acct.blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "storage account name"},
		{"account too long", "https://" + strings.Repeat("a", 25) + ".blob.core.windows.net/audit-logs?" + good, sas.Policy{}, "storage account name"},
		{"emulator not allowed", "http://" + emuHost + "/devstoreaccount1/audit-logs?" + good, sas.Policy{}, `SAS host "127.0.0.1:10000" is not an Azure Blob host`},
		{"emulator other port", "http://127.0.0.1:10001/devstoreaccount1/audit-logs?" + good, emu, "is not an Azure Blob host"},
		{"emulator without account", "http://" + emuHost + "/audit-logs?" + good, emu, "must have the path /<account>/<container> (found 1 path segments)"},
		{"emulator bad scheme", "ftp://" + emuHost + "/devstoreaccount1/audit-logs?" + good, emu, `scheme "ftp" is not http or https`},
		{"emulator bad account", "http://" + emuHost + "/Dev_Account/audit-logs?" + good, emu, "storage account name"},
		{"no container", azureHost + "/?" + good, sas.Policy{}, "names no container"},
		{"no path", azureHost + "?" + good, sas.Policy{}, "names no container"},
		{"blob path", azureHost + "/audit-logs/2026/x.csv?" + good, sas.Policy{}, "only a container, not a blob or folder in it (found 3 path segments)"},
		{"empty segment", azureHost + "//audit-logs?" + good, sas.Policy{}, "empty segment"},
		{"percent-encoded path", azureHost + "/audit%2Dlogs?" + good, sas.Policy{}, "percent-encoded"},
		{"query hidden in path", azureHost + "/audit-logs%3F" + good, sas.Policy{}, "percent-encoded"},
		{"container too short", azureHost + "/ab?" + good, sas.Policy{}, `SAS container name "ab" must be 3 to 63`},
		{"container too long", azureHost + "/" + strings.Repeat("a", 64) + "?" + good, sas.Policy{}, "container name"},
		{"container uppercase", azureHost + "/Audit?" + good, sas.Policy{}, `container name "Audit"`},
		{"container leading hyphen", azureHost + "/-audit?" + good, sas.Policy{}, "container name"},
		{"container trailing hyphen", azureHost + "/audit-?" + good, sas.Policy{}, "container name"},
		{"container double hyphen", azureHost + "/audit--logs?" + good, sas.Policy{}, "container name"},
		{"container underscore", azureHost + "/audit_logs?" + good, sas.Policy{}, "container name"},
		{"container is the signature", azureHost + "/k3Yq1Xv7s9wzR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2=?" + good, sas.Policy{}, "not shown"},
		{"no query", azureHost + "/audit-logs", sas.Policy{}, "has no query"},
		{"bad query", azureHost + "/audit-logs?" + good + "&x=%zz", sas.Policy{}, "query cannot be parsed"},
		{"duplicate parameter", azureHost + "/audit-logs?" + good + "&sp=r", sas.Policy{}, `SAS query parameter "sp" appears 2 times`},
		{"no signature", azureHost + "/audit-logs?sv=2025-01-05&sr=c&sp=cw&se=2026-12-31", sas.Policy{}, "has no signature (sig)"},
		{"blob SAS", azureHost + "/audit-logs?" + query("sr", "b", "sp", "cw", "se", "2026-12-31"), sas.Policy{}, `resource type (sr) "b" is not a container (c)`},
		{"no permissions", azureHost + "/audit-logs?" + query("se", "2026-12-31"), sas.Policy{}, "has no permissions (sp)"},
		{"write only", azureHost + "/audit-logs?" + query("sp", "w", "se", "2026-12-31"), sas.Policy{}, `SAS permissions "w" lack create (c)`},
		{"create only", azureHost + "/audit-logs?" + query("sp", "c", "se", "2026-12-31"), sas.Policy{}, `SAS permissions "c" lack write (w)`},
		{"read only", azureHost + "/audit-logs?" + query("sp", "r", "se", "2026-12-31"), sas.Policy{}, `SAS permissions "r" lack create (c) and write (w)`},
		{"read, delete and list too", azureHost + "/audit-logs?" + query("sp", "racwdl", "se", "2026-12-31"), sas.Policy{}, `SAS permissions (sp) "racwdl" grant more than create, write and add: remove read (r), delete (d) and list (l)`},
		{"read too", azureHost + "/audit-logs?" + query("sp", "rcw", "se", "2026-12-31"), sas.Policy{}, `SAS permissions (sp) "rcw" grant more than create, write and add: remove read (r)`},
		{"permanent delete and tags too", azureHost + "/audit-logs?" + query("sp", "cwyt", "se", "2026-12-31"), sas.Policy{}, "remove permanent delete (y) and tags (t)"},
		{"unknown letter too", azureHost + "/audit-logs?" + query("sp", "cwq", "se", "2026-12-31"), sas.Policy{}, "remove an unknown permission (q)"},
		{"read and list, no write", azureHost + "/audit-logs?" + query("sp", "rl", "se", "2026-12-31"), sas.Policy{}, `SAS permissions "rl" lack create (c) and write (w), and grant read (r) and list (l) that we must not hold`},
		{"account SAS", azureHost + "/audit-logs?" + query("ss", "b", "srt", "co", "sp", "cw", "se", "2026-12-31"), sas.Policy{}, "SAS URL is an account SAS (it has the parameter ss)"},
		{"account SAS with srt only", azureHost + "/audit-logs?" + query("srt", "co", "sp", "cw", "se", "2026-12-31"), sas.Policy{}, "it has the parameter srt"},
		{"account SAS with sr", azureHost + "/audit-logs?" + query("sr", "c", "ss", "b", "sp", "cw", "se", "2026-12-31"), sas.Policy{}, "create a container SAS instead (sr=c, no ss or srt parameter)"},
		{"permissions not letters", azureHost + "/audit-logs?" + query("sp", "c%26w", "se", "2026-12-31"), sas.Policy{}, "are not permission letters"},
		{"https-only SAS over http", "http://" + emuHost + "/devstoreaccount1/audit-logs?" + query("spr", "https", "sp", "cw", "se", "2026-12-31"), emu, `protocol (spr) "https" does not allow http`},
		{"no expiry", azureHost + "/audit-logs?" + query("sp", "cw"), sas.Policy{}, "has no expiry (se)"},
		{"bad expiry", azureHost + "/audit-logs?" + query("sp", "cw", "se", "tomorrow"), sas.Policy{}, `SAS expiry (se) "tomorrow" is not a time Azure accepts`},
		{"expired", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-01-02T00:00:00Z"), sas.Policy{}, "SAS URL expired at 2026-01-02T00:00:00Z"},
		{"expired date only", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-06-01"), sas.Policy{}, "SAS URL expired at 2026-06-01T00:00:00Z"},
		{"expires right now", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-06-01T12:00:00Z"), sas.Policy{}, "expired at"},
		{"start in the future", azureHost + "/audit-logs?" + query("sp", "cw", "st", "2026-06-01T12:06:00Z", "se", "2026-12-31"), sas.Policy{}, "not valid before its start time (st) 2026-06-01T12:06:00Z"},
		{"bad start", azureHost + "/audit-logs?" + query("sp", "cw", "st", "soon", "se", "2026-12-31"), sas.Policy{}, `SAS start (st) "soon" is not a time`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := sas.Parse(tc.raw, now, tc.policy)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse refused a valid SAS URL: %v", err)
				}
				if u.Reveal() != tc.raw {
					t.Fatalf("Reveal() differs from the parsed URL")
				}
				assertNoSecret(t, "String()", u.String())
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted it, want an error containing %q", tc.want)
			}
			if !errors.Is(err, failure.ErrInvalidConfig) {
				t.Errorf("error does not wrap failure.ErrInvalidConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
		})
	}
}

func TestURLAccessors(t *testing.T) {
	raw := azureHost + "/audit-logs?" + query("sv", "2025-01-05", "sr", "c", "sp", "acw", "st", "2026-05-01T00:00:00Z", "se", "2026-12-31T10:30:00Z")
	u, err := sas.Parse(raw, now, sas.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Account() != "acct01" || u.Container() != "audit-logs" || u.Permissions() != "acw" || u.Host() != "acct01.blob.core.windows.net" || u.Emulator() {
		t.Errorf("account %q container %q permissions %q host %q emulator %v", u.Account(), u.Container(), u.Permissions(), u.Host(), u.Emulator())
	}
	if want := time.Date(2026, 12, 31, 10, 30, 0, 0, time.UTC); !u.Expiry().Equal(want) {
		t.Errorf("Expiry() = %v, want %v", u.Expiry(), want)
	}
	if want := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC); !u.Start().Equal(want) {
		t.Errorf("Start() = %v, want %v", u.Start(), want)
	}

	e, err := sas.Parse("http://"+emuHost+"/devstoreaccount1/audit-logs?"+good, now, sas.Policy{AllowedEmulatorHosts: []string{emuHost}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Account() != "devstoreaccount1" || e.Container() != "audit-logs" || e.Host() != emuHost || !e.Emulator() {
		t.Errorf("emulator: account %q container %q host %q emulator %v", e.Account(), e.Container(), e.Host(), e.Emulator())
	}
}

// TestURLNeverPrintsSignature tries every way a URL could reach a log or an
// API response by accident.
func TestURLNeverPrintsSignature(t *testing.T) {
	raw := azureHost + "/audit-logs?" + good + "&sip=10.0.0.1"
	u, err := sas.Parse(raw, now, sas.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	wantRedacted := "https://acct01.blob.core.windows.net/audit-logs?se=2026-12-31T00:00:00Z&sig=REDACTED&sip=REDACTED&sp=cw&sr=c&sv=2025-01-05"
	if u.String() != wantRedacted {
		t.Errorf("String() = %s\nwant       %s", u, wantRedacted)
	}

	type holder struct {
		Public  *sas.URL
		Value   sas.URL
		private sas.URL
		ptr     *sas.URL
	}
	h := holder{Public: u, Value: *u, private: *u, ptr: u}
	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", u),
		"%s":         fmt.Sprintf("%s", u),
		"%+v":        fmt.Sprintf("%+v", u),
		"%#v":        fmt.Sprintf("%#v", u),
		"%q":         fmt.Sprintf("%q", u),
		"%x":         fmt.Sprintf("%x", u),
		"value %v":   fmt.Sprintf("%v", *u),
		"value %#v":  fmt.Sprintf("%#v", *u),
		"holder %v":  fmt.Sprintf("%v", h),
		"holder %+v": fmt.Sprintf("%+v", h),
		"holder %#v": fmt.Sprintf("%#v", h),
		// Verbs that do not fit a struct: fmt prints its fields anyway,
		// pointers included.
		"holder %s":       fmt.Sprintf(badVerb("s"), h),
		"holder %q":       fmt.Sprintf(badVerb("q"), h),
		"holder %x":       fmt.Sprintf(badVerb("x"), h),
		"holder ptr %s":   fmt.Sprintf(badVerb("s"), &h),
		"Sprint":          fmt.Sprint(u, *u),
		"error wrapping":  fmt.Errorf("deliver to %v: %w", u, errors.New("x")).Error(),
		"GoString":        u.GoString(),
		"slog.Any":        logJSON(slog.Any("sas", u)),
		"slog value":      logJSON(slog.Any("sas", *u)),
		"slog text":       logText(slog.Any("sas", u)),
		"slog holder":     logJSON(slog.Any("h", h)),
		"slog text group": logText(slog.Any("h", h)),
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json holder"] = string(js)
	txt, _ := u.MarshalText()
	outputs["MarshalText"] = string(txt)

	for name, out := range outputs {
		assertNoSecret(t, name, out)
		if !strings.Contains(out, "sig=REDACTED") && !strings.HasPrefix(name, "holder") {
			t.Errorf("%s = %s, want the redacted form", name, out)
		}
	}
	if u.Reveal() != raw {
		t.Error("Reveal() does not return the real URL")
	}
}

// badVerb is "%" + v, out of vet's sight: the test means to print a struct
// with a verb that does not fit it, as careless code would.
func badVerb(v string) string { return "%" + v }

func logJSON(a slog.Attr) string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("m", a)
	return b.String()
}

func logText(a slog.Attr) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("m", a)
	return b.String()
}
