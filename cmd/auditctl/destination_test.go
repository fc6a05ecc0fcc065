package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
)

// secrets collects what must never be printed: SAS URLs, their
// signatures (raw and escaped) and the ciphers (whole, per submitted line
// and in 40-character pieces of the one-line form the registry keeps).
type secrets []string

func (s *secrets) addSAS(t *testing.T, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("sig")
	if sig == "" {
		t.Fatalf("SAS without sig")
	}
	*s = append(*s, raw, u.RawQuery, sig, url.QueryEscape(sig))
}

func (s *secrets) addCipher(submitted string) {
	for _, line := range strings.Fields(submitted) {
		*s = append(*s, line)
	}
	one := strings.Join(strings.Fields(submitted), "")
	for i := 0; i+40 <= len(one); i += 40 {
		*s = append(*s, one[i:i+40])
	}
}

func (s secrets) check(t *testing.T, what, out string) {
	t.Helper()
	for _, sec := range s {
		if strings.Contains(out, sec) {
			t.Fatalf("%s prints a secret (%.12s...):\n%s", what, sec, out)
		}
	}
}

// TestDestinationCommands runs put, get, list, disable, enable and delete
// against a local stack (moto for the registry, local-kms for the SAS
// ciphers, Azurite's SAS URLs), with status's expiry warnings and the
// fan-out skipping a disabled org.
func TestDestinationCommands(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	dir := t.TempDir()
	var secret secrets
	// cipherFile makes a SAS valid for validity (or takes raw), encrypts
	// it to residency's key as the customer would and writes the file.
	cipherFile := func(name, residency, raw string) string {
		t.Helper()
		secret.addSAS(t, raw)
		c, err := st.EncryptSAS(residency, raw)
		if err != nil {
			t.Fatal(err)
		}
		secret.addCipher(c)
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	containerSAS := func(validity time.Duration) (string, time.Time) {
		t.Helper()
		raw, err := st.ContainerSAS(validity)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(raw)
		se, err := time.Parse(time.RFC3339, u.Query().Get("se"))
		if err != nil {
			t.Fatal(err)
		}
		return raw, se
	}
	// every output is checked for secrets at the end.
	var outputs []string
	cli := func(args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr syncBuffer // apart: --json output next to warnings
		err := runSplit(ctx, &stdout, &stderr, args...)
		o, e := stdout.String(), stderr.String()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		outputs = append(outputs, strings.Join(args, " ")+"\n"+o+e+msg)
		return o, e, err
	}
	mustCLI := func(args ...string) (string, string) {
		t.Helper()
		o, e, err := cli(args...)
		if err != nil {
			t.Fatalf("auditctl %s: %v\n%s%s", strings.Join(args, " "), err, o, e)
		}
		return o, e
	}
	failure := func(err error) bool { return err != nil && !isUsage(err) } // exit code 1

	// --- put ---------------------------------------------------------------
	role, err := st.CustomerRole(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	mustCLI("destination", "put", "--org", "acme", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--prefix", "logs")
	soonSAS, soonExpiry := containerSAS(29 * 24 * time.Hour)
	o, e := mustCLI("destination", "put", "--org", "globex", "--azure-sas-cipher-file", cipherFile("globex.b64", "us", soonSAS), "--residency", "US")
	if !strings.Contains(o, "SAS URL expires "+soonExpiry.Format(time.RFC3339)) || !strings.Contains(e, "warning: org globex: SAS URL expires") {
		t.Fatalf("put of a SAS expiring in 29 days: want the expiry and a warning:\n%s%s", o, e)
	}
	if !strings.Contains(o, "SAS URL writes to storage account "+localstack.DevAccount+", container "+localstack.Container) {
		t.Fatalf("put: want the storage account and container recorded:\n%s", o)
	}
	// Another org registering globex's own cipher (safe to show, so it may
	// be anyone's): refused, naming globex and the flag, never the SAS.
	_, _, err = cli("destination", "put", "--org", "copycat", "--azure-sas-cipher-file", filepath.Join(dir, "globex.b64"), "--residency", "us")
	if !failure(err) || !strings.Contains(err.Error(), "already registered for org globex") || !strings.Contains(err.Error(), "--share-container-with globex") {
		t.Fatalf("put of another org's cipher: %v, want exit code 1 naming globex and --share-container-with", err)
	}
	// The same container for a second org: refused, naming the org that
	// holds it and the flag; stored with the flag.
	farSAS, farExpiry := containerSAS(31 * 24 * time.Hour)
	initechFile := cipherFile("initech.b64", "eu", farSAS)
	_, _, err = cli("destination", "put", "--org", "initech", "--azure-sas-cipher-file", initechFile, "--residency", "eu", "--prefix", "audit")
	if !failure(err) || !strings.Contains(err.Error(), `container "`+localstack.Container+`" is already registered for org globex`) || !strings.Contains(err.Error(), "--share-container-with globex") {
		t.Fatalf("put of a container another org holds: %v, want exit code 1 naming globex and --share-container-with", err)
	}
	if _, _, err := cli("destination", "get", "--org", "initech"); !failure(err) {
		t.Fatalf("a refused put stored the destination: %v", err)
	}
	o, e = mustCLI("destination", "put", "--org", "initech", "--azure-sas-cipher-file", initechFile, "--residency", "eu", "--prefix", "audit", "--share-container-with", "globex")
	if !strings.Contains(o, "in 30 days") || e != "" {
		t.Fatalf("put of a SAS expiring in 31 days: want no warning:\n%s%s", o, e)
	}

	// Refused at put, naming the problem, storing nothing.
	expiredSAS, _ := containerSAS(-time.Hour)
	readOnly := st.AzuriteURL + "/" + localstack.DevAccount + "/" + localstack.Container +
		"?sv=2025-01-05&se=" + time.Now().Add(90*24*time.Hour).UTC().Format(time.RFC3339) + "&sr=c&sp=rl&sig=ReadOnlySignatureThatMustNotLeak%2Bx%3D"
	tooBroad := strings.Replace(readOnly, "sp=rl", "sp=racwdl", 1)
	accountSAS := strings.Replace(readOnly, "sp=rl", "ss=b&srt=co&sp=cw", 1)
	for _, c := range []struct {
		name, file, residency, want string
	}{
		{"expired", cipherFile("expired.b64", "us", expiredSAS), "us", "SAS URL expired at"},
		{"read-only", cipherFile("readonly.b64", "us", readOnly), "us", `SAS permissions "rl" lack create (c) and write (w)`},
		{"too broad", cipherFile("toobroad.b64", "us", tooBroad), "us", `SAS permissions (sp) "racwdl" grant more than create, write and add: remove read (r), delete (d) and list (l)`},
		{"account", cipherFile("account.b64", "us", accountSAS), "us", "SAS URL is an account SAS (it has the parameter ss)"},
		{"wrong key", cipherFile("wrongkey.b64", "eu", farSAS), "us", "cannot be decrypted with the us key"},
	} {
		_, _, err := cli("destination", "put", "--org", "refused-"+strings.ReplaceAll(c.name, " ", "-"), "--azure-sas-cipher-file", c.file, "--residency", c.residency)
		if !failure(err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("put of a %s SAS: err = %v, want exit code 1 naming the file and %q", c.name, err, c.want)
		}
	}
	// The bucket owner: another account than the role's is stored as
	// given; a malformed one is refused, naming the field and the value.
	o, _ = mustCLI("destination", "put", "--org", "owned", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--bucket-owner", "210987654321")
	if !strings.Contains(o, "deliveries write only if account 210987654321 owns bucket "+localstack.Bucket) {
		t.Errorf("put --bucket-owner: %s", o)
	}
	if o, _ = mustCLI("destination", "get", "--org", "owned", "--json"); !strings.Contains(o, `"bucket_owner":"210987654321"`) {
		t.Errorf("get --json after put --bucket-owner: %s", o)
	}
	mustCLI("destination", "delete", "--org", "owned", "--yes")
	if _, _, err := cli("destination", "put", "--org", "owned", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--bucket-owner", "2109-8765"); !failure(err) ||
		!strings.Contains(err.Error(), `bucket_owner "2109-8765": must be a 12-digit AWS account ID`) {
		t.Errorf("put with a malformed --bucket-owner: %v", err)
	}
	if _, _, err := cli("destination", "put", "--org", "acme", "--azure-sas-cipher-file", filepath.Join(dir, "none.b64"), "--residency", "us"); !isUsage(err) {
		t.Errorf("put with a missing cipher file: %v, want a usage error", err)
	}

	// --- get ---------------------------------------------------------------
	o, _ = mustCLI("destination", "get", "--org", "acme")
	words := strings.Join(strings.Fields(o), " ") // the columns' padding aside
	for _, want := range []string{"bucket " + localstack.Bucket, "region us-east-1", "role arn " + role, "external id acme", "bucket owner 123456789012", `prefix "logs/"`, "enabled true"} {
		if !strings.Contains(words, want) {
			t.Errorf("get acme lacks %q:\n%s", want, o)
		}
	}
	o, e = mustCLI("destination", "get", "--org", "globex", "--json")
	var v destinationView
	if err := json.Unmarshal([]byte(o), &v); err != nil {
		t.Fatalf("get --json: %v\n%s", err, o)
	}
	fp := (&destination.Azure{SASCipher: readFile(t, filepath.Join(dir, "globex.b64"))}).CipherFingerprint()
	if v.OrgID != "globex" || v.Kind != destination.KindAzure || !v.Enabled || v.Azure == nil || v.Azure.Residency != "us" ||
		v.Azure.CipherSHA256 != fp || len(fp) != 12 || v.Azure.SASExpires == nil || !v.Azure.SASExpires.Equal(soonExpiry) ||
		!strings.Contains(v.Warning, "expires") || v.CreatedAt.IsZero() || v.S3 != nil {
		t.Fatalf("get --json globex = %s", o)
	}
	if o, _ = mustCLI("destination", "get", "--org", "globex"); !strings.Contains(o, "sha256:"+fp) || !strings.Contains(o, soonExpiry.Format(time.RFC3339)) {
		t.Fatalf("get globex:\n%s", o)
	}
	if _, _, err := cli("destination", "get", "--org", "nope"); !failure(err) || !strings.Contains(err.Error(), "org nope") || !strings.Contains(err.Error(), "no destination registered") {
		t.Errorf("get of an unknown org: %v, want exit code 1 naming it", err)
	}
	if _, _, err := cli("destination", "get", "--org", "bad org!"); !isUsage(err) || !strings.Contains(err.Error(), "bad org!") {
		t.Errorf("get of a malformed org ID: %v, want a usage error naming it", err)
	}

	// --- list --------------------------------------------------------------
	o, e = mustCLI("destination", "list", "--json")
	var list destinationList
	if err := json.Unmarshal([]byte(o), &list); err != nil || list.Invalid == nil || len(list.Invalid) != 0 {
		t.Fatalf("list --json: %v\n%s", err, o)
	}
	views := list.Destinations
	if len(views) != 3 || views[0].OrgID != "acme" || views[1].OrgID != "globex" || views[2].OrgID != "initech" ||
		views[1].Warning == "" || views[2].Warning != "" || !views[2].Azure.SASExpires.Equal(farExpiry) || views[0].S3.Bucket != localstack.Bucket {
		t.Fatalf("list --json = %s", o)
	}
	if !strings.Contains(e, "warning: org globex") || strings.Contains(e, "initech") {
		t.Fatalf("list warnings: want globex (29 days) only:\n%s", e)
	}
	o, _ = mustCLI("destination", "list")
	if !strings.Contains(o, "s3://"+localstack.Bucket+"/logs/ (us-east-1)") || !strings.Contains(o, "azure eu, cipher sha256:") || strings.Count(o, "\n") != 4 {
		t.Fatalf("list:\n%s", o)
	}

	// --- status warns at 29 days, not at 31 ---------------------------------
	o, e = mustCLI("status", "--days", "1", "--json")
	var sl statusList
	if err := json.Unmarshal([]byte(o), &sl); err != nil || len(sl.Rows) != 3 {
		t.Fatalf("status --json: %v\n%s", err, o)
	}
	for _, r := range sl.Rows {
		if (r.Warning != "") != (r.OrgID == "globex") || (r.SASExpires != nil) != (r.OrgID != "acme") {
			t.Errorf("status row %s: warning %q, sas_expires %v", r.OrgID, r.Warning, r.SASExpires)
		}
	}
	if !strings.Contains(e, "warning: org globex: SAS URL expires at "+soonExpiry.Format(time.RFC3339)+" (in 28 days)") || strings.Contains(e, "initech") {
		t.Fatalf("status warnings:\n%s", e)
	}

	// --- disable: the fan-out skips the org; enable resumes --------------
	day := audit.DayOf(time.Now()).AddDays(-1)
	invoked := fanOutEndpoint(t, day)
	o, _ = mustCLI("destination", "disable", "--org", "globex")
	if !strings.Contains(o, "delivery stopped for org globex") {
		t.Fatalf("disable: %s", o)
	}
	if o, _ = mustCLI("destination", "get", "--org", "globex", "--json"); !strings.Contains(o, `"enabled":false`) || strings.Contains(o, `"warning"`) {
		t.Fatalf("get after disable: %s", o)
	}
	if _, e = mustCLI("status", "--days", "1"); strings.Contains(e, "globex") {
		t.Fatalf("status warns of a disabled org:\n%s", e)
	}
	if o, _ = mustCLI("run", "--day", day.String(), "--json"); !strings.Contains(o, `"invoked":2`) || !strings.Contains(o, `"sas_expiring_soon":0`) {
		t.Fatalf("run with globex disabled: %s", o)
	}
	if got := invoked(); got["globex"] != 0 || got["acme"] != 1 || got["initech"] != 1 {
		t.Fatalf("invocations with globex disabled: %v", got)
	}
	if _, _, err := cli("export", "--org", "globex", "--day", day.String()); !failure(err) || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("export of a disabled org: %v, want it refused", err)
	}
	mustCLI("destination", "enable", "--org", "globex")
	if o, _ = mustCLI("run", "--day", day.String(), "--json"); !strings.Contains(o, `"invoked":3`) || !strings.Contains(o, `"sas_expiring_soon":1`) {
		t.Fatalf("run with globex enabled again: %s", o)
	}
	if got := invoked(); got["globex"] != 1 {
		t.Fatalf("invocations after enable: %v", got)
	}
	for _, cmd := range []string{"disable", "enable"} {
		if _, _, err := cli("destination", cmd, "--org", "nope"); !failure(err) || !strings.Contains(err.Error(), "org nope") {
			t.Errorf("%s of an unknown org: %v, want exit code 1 naming it", cmd, err)
		}
	}

	// --- delete asks for --yes ---------------------------------------------
	if _, _, err := cli("destination", "delete", "--org", "initech"); !isUsage(err) || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("delete without --yes: %v, want a usage error asking for it", err)
	}
	if _, _, err := cli("destination", "get", "--org", "initech"); err != nil {
		t.Fatalf("delete without --yes deleted: %v", err)
	}
	if o, _ = mustCLI("destination", "delete", "--org", "initech", "--yes"); !strings.Contains(o, "deleted the azure destination of org initech") {
		t.Fatalf("delete: %s", o)
	}
	if _, _, err := cli("destination", "get", "--org", "initech"); !failure(err) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, _, err := cli("destination", "delete", "--org", "initech", "--yes"); !failure(err) || !strings.Contains(err.Error(), "org initech") {
		t.Fatalf("delete of an unknown org: %v, want exit code 1 naming it", err)
	}
	// The delete released initech's share of the container, not globex's:
	// a new org naming initech alone is still refused, naming globex.
	_, _, err = cli("destination", "put", "--org", "hooli", "--azure-sas-cipher-file", initechFile, "--residency", "eu", "--share-container-with", "initech")
	if !failure(err) || !strings.Contains(err.Error(), "--share-container-with globex") || strings.Contains(err.Error(), "initech") {
		t.Fatalf("put after initech's delete: %v, want only globex named", err)
	}
	// Once globex is deleted too, the container is free.
	mustCLI("destination", "delete", "--org", "globex", "--yes")
	mustCLI("destination", "put", "--org", "hooli", "--azure-sas-cipher-file", initechFile, "--residency", "eu")

	// Credentials the key policy does not let decrypt (as an operator's
	// are in the deployed stack unless the policy names them): local-kms
	// has no IAM, so a stand-in answers as KMS does.
	kmsDenied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/operator is not authorized to perform: kms:Decrypt"}`))
	}))
	defer kmsDenied.Close()
	t.Setenv("AWS_ENDPOINT_URL_KMS", kmsDenied.URL)
	_, _, err = cli("destination", "put", "--org", "denied", "--azure-sas-cipher-file", filepath.Join(dir, "initech.b64"), "--residency", "eu")
	if !failure(err) || !strings.Contains(err.Error(), "may not decrypt with the eu SAS key") {
		t.Fatalf("put without kms:Decrypt: %v, want exit code 1 saying so", err)
	}

	for _, out := range outputs {
		secret.check(t, "auditctl", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fanOutEndpoint points `auditctl run` at a local Lambda Invoke endpoint
// that accepts Event invocations as Lambda does; the function returned
// gives the invocations per org since its last call.
func fanOutEndpoint(t *testing.T, day audit.Day) func() map[string]int {
	var mu sync.Mutex
	invoked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Org string `json:"org_id"`
			Day string `json:"day"`
		}
		if r.URL.Path != "/2015-03-31/functions/export-fn/invocations" || r.Header.Get("X-Amz-Invocation-Type") != "Event" ||
			json.NewDecoder(r.Body).Decode(&p) != nil || p.Day != day.String() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		invoked[p.Org]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL)
	t.Setenv("AUDITLOG_EXPORT_FUNCTION", "export-fn")
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		got := invoked
		invoked = map[string]int{}
		return got
	}
}
