package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/api"
	"github.com/contentful/auditlogs/internal/api/openapitest"
	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/localdev/localidp"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sas/opensslenc"
)

// The package's tests share one local stack (moto_server, local-kms,
// Azurite), one local identity provider, and one API server built by the
// production wiring (app.APIServer) as the API function's identity, whose
// IAM policy is grants.API: a call it may not make fails here as in AWS.
// Its redeliveries and the fan-out invoke the export function's handler
// in this process (localstack.Exports), as the export identity.
var env struct {
	st      *localstack.Stack
	cfg     config.Config
	idp     *localidp.IdP
	url     string
	exports *localstack.Exports
	ops     *app.App // the operator's view, to check what the API changed
	logs    *testenv.SyncBuffer
}

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx := context.Background()
		st, err := localstack.Start(ctx)
		defer st.Stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "local stack:", err)
			if testenv.Required() {
				return 1
			}
			fmt.Fprintln(os.Stderr, "SKIPPED: the API's tests need the emulators (make tools)")
			return 0
		}
		if err := setUp(ctx, st); err != nil {
			fmt.Fprintln(os.Stderr, "set up:", err)
			return 1
		}
		return m.Run()
	}())
}

func setUp(ctx context.Context, st *localstack.Stack) error {
	idp, err := localidp.New()
	if err != nil {
		return err
	}
	base, stop, err := idp.Start(ctx)
	if err != nil {
		return err
	}
	_ = stop // lives as long as the process
	os.Setenv(config.EnvAPIIssuer, localidp.Issuer(base))
	os.Setenv(config.EnvAPIAudience, localidp.Audience)
	os.Setenv(config.EnvAPIJWKSURL, localidp.JWKSURL(base))
	if os.Getenv(config.EnvExportFunction) == "" {
		os.Setenv(config.EnvExportFunction, localstack.ExportFunctionName)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	exports, err := st.InProcessExports(ctx, cfg, log)
	if err != nil {
		return err
	}
	a, err := st.AppAs(ctx, cfg, grants.API)
	if err != nil {
		return err
	}
	s, _, err := a.APIServer(ctx, log)
	if err != nil {
		return err
	}
	s.Exports = &api.LambdaExports{Lambda: exports, Function: cfg.ExportFunction}
	srv := httptest.NewServer(s.Handler())
	ops, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	env.st, env.cfg, env.idp, env.url, env.exports, env.ops, env.logs = st, cfg, idp, srv.URL, exports, ops, logs
	return nil
}

// client calls the API as one user, checking every request and response
// against api/openapi.yaml, and keeps every response body and header for
// the checks that no secret is ever answered.
type client struct {
	t      *testing.T
	check  *openapitest.Checker
	http   *http.Client
	token  string
	mu     sync.Mutex
	answer bytes.Buffer
}

func newClient(t *testing.T, check *openapitest.Checker, sub string, orgs ...string) *client {
	t.Helper()
	tok, err := env.idp.Mint(localidp.Claims{Subject: sub, OrgIDs: orgs, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, check: check, http: &http.Client{Transport: check.Transport(http.DefaultTransport), Timeout: 3 * time.Minute}, token: tok}
}

// response is one answer, decoded.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != api.ProblemType {
		t.Errorf("status %d with Content-Type %q, want %s: %s", r.status, ct, api.ProblemType, r.body)
	}
	var p api.Problem
	r.json(t, &p)
	if p.Status != r.status || p.Code == "" || p.Type != api.ProblemBase+p.Code || p.Title == "" || p.RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("problem %+v of a %d answer: want status, code, type, title and the request's ID", p, r.status)
	}
	return p
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
// invalid marks a request the document must refuse (sent on purpose).
func (c *client) do(method, path string, body any, invalid ...bool) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, env.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if len(invalid) > 0 && invalid[0] {
		req = c.check.ExpectInvalidRequest(req)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	fmt.Fprintf(&c.answer, "%d %v\n%s\n", resp.StatusCode, resp.Header, b)
	c.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) answers() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answer.String()
}

func orgPath(org, rest string) string { return "/v1/organizations/" + org + rest }

// ingest writes n events of org on day to the log store, as the ingest
// function does, and compacts the day's bucket, as the daily state
// machine does before the exports.
func ingest(t *testing.T, org string, day audit.Day, n int) {
	t.Helper()
	ctx := context.Background()
	in, err := env.st.AppAs(ctx, env.cfg, grants.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]audit.Event, n)
	for i := range events {
		events[i] = audit.Event{OrgID: org, RequestID: fmt.Sprintf("req-%s-%s-%d", org, day, i), RequestTime: day.Start().Add(time.Duration(i+1) * time.Minute),
			RequestMethod: "PUT", RequestPath: fmt.Sprintf("/spaces/s1/entries/e%d", i), ResponseStatus: 200, Route: "/spaces/:space_id/entries/:entry_id", ActorID: "user:platform", Space: "s1"}
	}
	if err := in.Store.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	compact(t, org, day)
}

func compact(t *testing.T, org string, day audit.Day) {
	t.Helper()
	if _, err := env.st.CompactOrgDay(context.Background(), env.cfg, org, day); err != nil {
		t.Fatal(err)
	}
}

// encrypt makes the cipher of a SAS URL as the product doc tells the
// customer to: openssl, with the residency's public key from GET /v1/keys.
func encrypt(t *testing.T, keys api.KeySet, residency, sasURL string) string {
	t.Helper()
	for _, k := range keys.EncryptionKeys {
		if string(k.Residency) == residency {
			c, err := opensslenc.Encrypt(context.Background(), []byte(k.PEM), sasURL)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatalf("GET /v1/keys has no %s key", residency)
	return ""
}

func getKeys(t *testing.T, c *client) api.KeySet {
	t.Helper()
	r := c.do(http.MethodGet, "/v1/keys", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/keys: %d %s", r.status, r.body)
	}
	var ks api.KeySet
	r.json(t, &ks)
	return ks
}

// registered is the registry's record of org, as the operator reads it.
func registered(t *testing.T, org string) (destination.Destination, bool) {
	t.Helper()
	d, err := env.ops.Registry.Get(context.Background(), org)
	if err != nil {
		return d, false
	}
	return d, true
}

// auditEvents reads org's audit events of day from the log store, after
// compacting its bucket: what the org's next file holds.
func auditEvents(t *testing.T, org string, day audit.Day) []audit.Event {
	t.Helper()
	compact(t, org, day)
	var got []audit.Event
	if err := env.ops.Store.ReadDay(context.Background(), org, day, func(e *audit.Event) error {
		if strings.HasPrefix(e.RequestID, api.AuditRequestIDPrefix) {
			got = append(got, *e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCustomerSetUpOverHTTP drives a customer's whole set-up through the
// API over HTTP: the keys, an S3 and an Azure destination, a check that
// fails and checks that pass, pause (the fan-out skips the org) and
// resume, the history after a delivery, a redelivery of a range that
// delivers each day once, and the audit events of every change.
func TestCustomerSetUpOverHTTP(t *testing.T) {
	ctx := context.Background()
	check := openapitest.New(t)
	const s3Org, azOrg, lateOrg = "api-s3", "api-azure", "api-later"
	alice := newClient(t, check, "alice", s3Org, azOrg, lateOrg)
	anon := &client{t: t, check: check, http: alice.http}
	today := audit.DayOf(time.Now())
	yesterday, before := today.AddDays(-1), today.AddDays(-2)

	keys := getKeys(t, anon)
	if len(keys.EncryptionKeys) != 2 || keys.SigningKey == nil || keys.SigningKey.PEM == "" {
		t.Fatalf("keys %+v: want the us and eu keys and the signing key", keys)
	}
	if r := anon.do(http.MethodGet, "/v1/keys", nil); r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("GET /v1/keys Cache-Control %q", r.header.Get("Cache-Control"))
	}

	// S3: the role as the customer creates it from the policies we give.
	role, err := env.st.CustomerRoleFor(ctx, s3Org, localstack.Bucket, "api/")
	if err != nil {
		t.Fatal(err)
	}
	s3In := map[string]any{"kind": "s3", "prefix": "api", "s3": map[string]any{"bucket": localstack.Bucket, "region": "us-east-1", "role_arn": role}}
	r := alice.do(http.MethodPut, orgPath(s3Org, "/destination"), s3In)
	var v api.DestinationView
	r.json(t, &v)
	if r.status != http.StatusCreated || v.S3 == nil || v.S3.ExternalID != s3Org || v.S3.RoleARN != role || v.Prefix != "api/" || !v.Enabled || len(v.Warnings) != 0 {
		t.Fatalf("PUT s3: %d %s", r.status, r.body)
	}
	if r := alice.do(http.MethodPut, orgPath(s3Org, "/destination"), s3In); r.status != http.StatusOK {
		t.Errorf("PUT s3 again: %d %s, want 200 (replaced)", r.status, r.body)
	}
	if r := alice.do(http.MethodGet, orgPath(s3Org, "/destination"), nil); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(role)) {
		t.Errorf("GET s3: %d %s", r.status, r.body)
	}

	// Azure: the SAS URL encrypted with openssl to the eu key of GET /v1/keys.
	sasURL, err := env.st.ContainerSAS(90 * 24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cipher := encrypt(t, keys, "eu", sasURL)
	r = alice.do(http.MethodPut, orgPath(azOrg, "/destination"), map[string]any{"kind": "azure", "format": "jsonl.gz", "azure": map[string]any{"sas_cipher": cipher, "residency": "eu"}})
	v = api.DestinationView{}
	r.json(t, &v)
	if r.status != http.StatusCreated || v.Azure == nil || v.Azure.Container != localstack.Container || v.Azure.SASExpires == nil || v.Azure.CipherSHA256 == "" || v.Format != "jsonl.gz" {
		t.Fatalf("PUT azure: %d %s", r.status, r.body)
	}
	if until := time.Until(*v.Azure.SASExpires); until < 89*24*time.Hour || until > 91*24*time.Hour {
		t.Errorf("sas_expires %s, want the SAS's, 90 days from now", v.Azure.SASExpires)
	}

	// A role the customer has not created yet: stored with a warning, and
	// the check fails with verify's code, message and fix.
	// (The role of another org: its trust requires that org's ID.)
	otherRole, err := env.st.CustomerRoleFor(ctx, "api-someone-else", localstack.OtherBucket, "")
	if err != nil {
		t.Fatal(err)
	}
	r = alice.do(http.MethodPut, orgPath(lateOrg, "/destination"), map[string]any{"kind": "s3", "s3": map[string]any{"bucket": localstack.OtherBucket, "region": "us-east-1", "role_arn": otherRole}})
	v = api.DestinationView{}
	r.json(t, &v)
	if r.status != http.StatusCreated || len(v.Warnings) != 1 || v.Warnings[0].Code != "role_not_assumable_yet" {
		t.Errorf("PUT of a role not created yet: %d %s, want 201 with the warning role_not_assumable_yet", r.status, r.body)
	}
	r = alice.do(http.MethodPost, orgPath(lateOrg, "/destination/verify"), nil)
	if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p.Code != "role_not_assumable" || p.Fix == "" || p.Report == nil || p.Report.OK || p.Stage != "open" {
		t.Errorf("verify of a role not created yet: %d %s, want 422 role_not_assumable with the fix and the report", r.status, r.body)
	}
	for _, org := range []string{s3Org, azOrg} {
		r := alice.do(http.MethodPost, orgPath(org, "/destination/verify"), nil)
		var rep struct {
			OK  bool   `json:"ok"`
			Key string `json:"key"`
		}
		r.json(t, &rep)
		if r.status != http.StatusOK || !rep.OK || rep.Key == "" {
			t.Errorf("verify %s: %d %s, want 200 ok with the probe's key", org, r.status, r.body)
		}
	}
	if r := alice.do(http.MethodDelete, orgPath(lateOrg, "/destination"), nil); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE: %d %q, want 204 without a body", r.status, r.body)
	}
	if _, ok := registered(t, lateOrg); ok {
		t.Error("DELETE left the destination in the registry")
	}
	if r := alice.do(http.MethodDelete, orgPath(lateOrg, "/destination"), nil); r.status != http.StatusNotFound {
		t.Errorf("DELETE again: %d, want 404", r.status)
	}

	// Pause: the fan-out skips the org; resume: it delivers again.
	ingest(t, s3Org, yesterday, 3)
	ingest(t, s3Org, before, 2)
	ingest(t, azOrg, yesterday, 4)
	r = alice.do(http.MethodPost, orgPath(s3Org, "/destination/pause"), nil)
	v = api.DestinationView{}
	r.json(t, &v)
	if r.status != http.StatusOK || v.Enabled || len(v.Warnings) == 0 || v.Warnings[0].Code != api.WarnPaused {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	if d, _ := registered(t, s3Org); d.Enabled {
		t.Fatal("pause left the destination enabled in the registry")
	}
	if r := alice.do(http.MethodPost, orgPath(s3Org, "/deliveries/redeliver"), map[string]any{"from": yesterday.String(), "to": yesterday.String()}); r.status != http.StatusConflict || r.problem(t).Code != "destination_paused" {
		t.Errorf("redeliver while paused: %d %s, want 409 destination_paused", r.status, r.body)
	}
	fanOut := func() []string {
		t.Helper()
		fa, err := env.st.AppAs(ctx, env.cfg, grants.FanOut)
		if err != nil {
			t.Fatal(err)
		}
		h, err := fa.FanOut()
		if err != nil {
			t.Fatal(err)
		}
		h.Lambda, h.Log = env.exports, slog.New(slog.DiscardHandler)
		if _, err := h.Handle(ctx, fanoutfn.ManualRun(yesterday)); err != nil {
			t.Fatalf("fan-out: %v", err)
		}
		var orgs []string
		for _, p := range env.exports.Invoked() {
			orgs = append(orgs, p.OrgID+" "+p.Day)
		}
		return orgs
	}
	if got := fanOut(); slices.Contains(got, s3Org+" "+yesterday.String()) || !slices.Contains(got, azOrg+" "+yesterday.String()) {
		t.Fatalf("fan-out while %s is paused invoked %v: want %s and not %s", s3Org, got, azOrg, s3Org)
	}
	if r := alice.do(http.MethodPost, orgPath(s3Org, "/destination/resume"), nil); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"enabled":true`)) {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	if got := fanOut(); !slices.Contains(got, s3Org+" "+yesterday.String()) {
		t.Fatalf("fan-out after resume invoked %v, want %s", got, s3Org)
	}

	// The history after the delivery: what the customer's bucket holds.
	r = alice.do(http.MethodGet, orgPath(s3Org, "/deliveries?from="+before.String()+"&to="+yesterday.String()), nil)
	var page api.DeliveryPage
	r.json(t, &page)
	if r.status != http.StatusOK || len(page.Deliveries) != 1 || page.NextCursor != "" {
		t.Fatalf("history: %d %s, want the one delivered day", r.status, r.body)
	}
	first := page.Deliveries[0]
	file, err := env.st.ReadS3(ctx, first.Key)
	if err != nil {
		t.Fatalf("the delivered file %s: %v", first.Key, err)
	}
	if first.Day != yesterday.String() || first.Status != "delivered" || first.Rows != 3 || first.Bytes != int64(len(file)) || first.SHA256 != sha256Hex(file) || first.Attempts != 1 || first.DeliveredAt == nil {
		t.Errorf("history entry %+v; the bucket holds %s, %d bytes, sha256 %s", first, first.Key, len(file), sha256Hex(file))
	}

	// Redelivery of two days: queued on the export function, each day
	// delivered once, the history paged a day at a time.
	r = alice.do(http.MethodPost, orgPath(s3Org, "/deliveries/redeliver"), map[string]any{"from": before.String(), "to": yesterday.String()})
	var res api.RedeliverResult
	r.json(t, &res)
	if r.status != http.StatusAccepted || !slices.Equal(res.Queued, []string{before.String(), yesterday.String()}) {
		t.Fatalf("redeliver: %d %s", r.status, r.body)
	}
	invoked := env.exports.Invoked()
	if len(invoked) != 2 || !invoked[0].Force || invoked[0].Day != before.String() || invoked[1].Day != yesterday.String() || invoked[0].OrgID != s3Org {
		t.Errorf("the redelivery invoked %+v, want one forced export of each day", invoked)
	}
	var days []api.Delivery
	cursor := ""
	for range 3 {
		q := "/deliveries?from=" + before.String() + "&to=" + yesterday.String() + "&limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := alice.do(http.MethodGet, orgPath(s3Org, q), nil)
		var page api.DeliveryPage
		r.json(t, &page)
		if r.status != http.StatusOK || len(page.Deliveries) != 1 {
			t.Fatalf("history page: %d %s", r.status, r.body)
		}
		days = append(days, page.Deliveries...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(days) != 2 || days[0].Day != before.String() || days[0].Rows != 2 || days[1].Day != yesterday.String() || days[1].Rows != 3 ||
		!days[1].DeliveredAt.After(*first.DeliveredAt) || days[0].Status != "delivered" {
		t.Errorf("history after the redelivery %+v: want both days delivered, yesterday a second time", days)
	}
	for _, d := range days {
		manifests := 0
		keys := listKeys(t, "api/")
		for _, k := range keys {
			if strings.Contains(k, strings.ReplaceAll(d.Day, "-", "")+"T") && strings.HasSuffix(k, ".csv") {
				manifests++
			}
		}
		if manifests != 1 {
			t.Errorf("%d files of %s in the bucket, want 1: %v", manifests, d.Day, keys)
		}
	}

	// Every change, in the org's own log.
	got := auditEvents(t, s3Org, today)
	var seen []string
	for _, e := range got {
		seen = append(seen, fmt.Sprintf("%s %s %d", e.RequestMethod, e.Route, e.ResponseStatus))
		if e.ActorID != "user:alice" || e.RequestPath != strings.Replace(e.Route, ":org_id", s3Org, 1) {
			t.Errorf("audit event %+v: want actor user:alice and the path of the route", e)
		}
	}
	want := []string{"PUT /v1/organizations/:org_id/destination 201", "PUT /v1/organizations/:org_id/destination 200",
		"POST /v1/organizations/:org_id/destination/pause 200", "POST /v1/organizations/:org_id/destination/resume 200",
		"POST /v1/organizations/:org_id/deliveries/redeliver 202"}
	if !slices.Equal(seen, want) {
		t.Errorf("audit events of %s:\n%s\nwant\n%s", s3Org, strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if got := auditEvents(t, lateOrg, today); len(got) != 2 || got[1].RequestMethod != http.MethodDelete || got[1].ResponseStatus != 204 {
		t.Errorf("audit events of %s: %+v, want its PUT and its DELETE", lateOrg, got)
	}

	if strings.Contains(alice.answers(), cipher) || strings.Contains(alice.answers(), "sig=") || strings.Contains(env.logs.String(), "sig=") {
		t.Error("an answer or a log line holds the cipher or a SAS signature")
	}
	check.RequireAllSeen(t)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// listKeys lists the keys under prefix in the local stack's customer
// bucket, as its administrator.
func listKeys(t *testing.T, prefix string) []string {
	t.Helper()
	c := s3.NewFromConfig(env.st.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(localstack.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// TestSecurity refuses, each with its status and a problem document and
// with nothing changed in the registry: a token for org A reading or
// changing org B, an expired token, a wrong audience or issuer, an
// unsigned token, a token signed by an unknown key (and by another key
// under our key's ID, and HS256 keyed with our public key), no token, a
// body over the size limit, an unknown field, a malformed cipher and a
// plain SAS URL in its place. No answer, log line or audit event holds a
// cipher, a SAS URL or a token.
func TestSecurity(t *testing.T) {
	ctx := context.Background()
	check := openapitest.New(t)
	const orgA, orgB = "sec-a", "sec-b"
	a := newClient(t, check, "mallory", orgA)
	b := newClient(t, check, "bob", orgB)

	// B's destination, set up by B's administrator.
	sasURL, err := env.st.NewContainer(ctx, "second-customer-container", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys := getKeys(t, b)
	cipher := encrypt(t, keys, "us", sasURL)
	if r := b.do(http.MethodPut, orgPath(orgB, "/destination"), map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": cipher, "residency": "us"}}); r.status != http.StatusCreated {
		t.Fatalf("B's PUT: %d %s", r.status, r.body)
	}
	role, err := env.st.CustomerRoleFor(ctx, orgA, localstack.OtherBucket, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := a.do(http.MethodPut, orgPath(orgA, "/destination"), map[string]any{"kind": "s3", "s3": map[string]any{"bucket": localstack.OtherBucket, "region": "us-east-1", "role_arn": role}}); r.status != http.StatusCreated {
		t.Fatalf("A's PUT: %d %s", r.status, r.body)
	}
	// The registry's records, the cipher by its digest (test output
	// shows no cipher).
	snapshot := func() string {
		t.Helper()
		var out []string
		for _, org := range []string{orgA, orgB} {
			d, ok := registered(t, org)
			if d.Azure != nil {
				az := *d.Azure
				az.SASCipher = sha256Hex([]byte(az.SASCipher))
				d.Azure = &az
			}
			j, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%t %s", ok, j))
		}
		return strings.Join(out, "\n")
	}
	before := snapshot()
	unchanged := func(what string) {
		t.Helper()
		if after := snapshot(); after != before {
			t.Errorf("%s changed the registry:\n%s\nwas\n%s", what, after, before)
		}
	}

	// A's token on B's org: the answers of an org that does not exist.
	strip := func(r response) string {
		var m map[string]any
		r.json(t, &m)
		delete(m, "request_id")
		delete(m, "instance")
		j, _ := json.Marshal(m)
		return fmt.Sprintf("%d %s", r.status, j)
	}
	missing := strip(a.do(http.MethodGet, orgPath("no-such-org", "/destination"), nil))
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/destination", nil},
		{http.MethodPut, "/destination", map[string]any{"kind": "s3", "s3": map[string]any{"bucket": localstack.OtherBucket, "region": "us-east-1", "role_arn": role}}},
		{http.MethodDelete, "/destination", nil},
		{http.MethodPost, "/destination/verify", nil},
		{http.MethodPost, "/destination/pause", nil},
		{http.MethodPost, "/destination/resume", nil},
		{http.MethodGet, "/deliveries?from=2026-11-01&to=2026-11-02", nil},
		{http.MethodPost, "/deliveries/redeliver", map[string]any{"from": audit.DayOf(time.Now()).AddDays(-2).String(), "to": audit.DayOf(time.Now()).AddDays(-1).String()}},
	} {
		r := a.do(c.method, orgPath(orgB, c.path), c.body)
		if got := strip(r); got != missing {
			t.Errorf("A's %s %s on B: %s, want what a missing org answers: %s", c.method, c.path, got, missing)
		}
		r.problem(t)
		unchanged("A's " + c.method + " " + c.path + " on B")
	}
	if got := env.exports.Invoked(); len(got) != 0 {
		t.Errorf("A's redelivery on B invoked %+v", got)
	}
	// Nor may A share B's container by naming B.
	r := a.do(http.MethodPut, orgPath(orgA, "/destination"), map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": cipher, "residency": "us", "share_container_with": []string{orgB}}})
	if p := r.problem(t); r.status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "azure.share_container_with[0]" {
		t.Errorf("A sharing B's container: %d %s, want 400 naming azure.share_container_with[0]", r.status, r.body)
	}
	unchanged("A sharing B's container")
	// B's cipher is safe to show, so A may hold it: registering it is
	// refused without naming B.
	r = a.do(http.MethodPut, orgPath(orgA, "/destination"), map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": cipher, "residency": "us"}})
	if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p.Code != "container_registered_for_another_org" || bytes.Contains(r.body, []byte(orgB)) {
		t.Errorf("A registering B's cipher: %d %s, want 422 container_registered_for_another_org without naming %s", r.status, r.body, orgB)
	}
	unchanged("A registering B's cipher")

	// Tokens that are not valid: 401, WWW-Authenticate, nothing changed.
	claims := localidp.Claims{Subject: "bob", OrgIDs: []string{orgB}, TTL: time.Hour}
	with := func(f func(*localidp.Claims)) localidp.Claims { c := claims; f(&c); return c }
	mint := func(f func(localidp.Claims) (string, error), c localidp.Claims) string {
		t.Helper()
		tok, err := f(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tokens := map[string]string{
		"expired":        mint(env.idp.Mint, with(func(c *localidp.Claims) { c.TTL = -time.Hour })),
		"wrong audience": mint(env.idp.Mint, with(func(c *localidp.Claims) { c.Audience = "another-api" })),
		"wrong issuer":   mint(env.idp.Mint, with(func(c *localidp.Claims) { c.Issuer = "https://idp.example.com" })),
		"unsigned":       mint(env.idp.MintUnsigned, claims),
		"unknown key":    mint(env.idp.MintWithUnknownKey, claims),
		"foreign key":    mint(env.idp.MintWithForeignKey, claims),
		"HS256":          mint(env.idp.MintHS256WithPublicKey, claims),
		"garbage":        "not.a.token",
		"none":           "",
	}
	for name, tok := range tokens {
		c := &client{t: t, check: check, http: b.http, token: tok}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/destination", nil},
			{http.MethodDelete, "/destination", nil},
			{http.MethodPost, "/destination/pause", nil},
		} {
			r := c.do(req.method, orgPath(orgB, req.path), req.body, tok == "")
			if p := r.problem(t); r.status != http.StatusUnauthorized || p.Code != "unauthenticated" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s token, %s: %d %s, want 401 unauthenticated with WWW-Authenticate", name, req.method, r.status, r.body)
			}
			if tok != "" && strings.Contains(string(r.body), tok) {
				t.Errorf("%s token: the answer quotes the token", name)
			}
		}
		unchanged(name + " token")
	}

	// Bodies that are refused before anything is read or changed.
	big := `{"kind":"s3","prefix":"` + strings.Repeat("a", api.MaxBody) + `"}`
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"over the size limit", big, http.StatusRequestEntityTooLarge, "body_too_large", ""},
		{"an unknown field", map[string]any{"kind": "s3", "s3": map[string]any{"bucket": localstack.OtherBucket, "region": "us-east-1", "role_arn": role, "external_id": "sec-b"}}, http.StatusBadRequest, "unknown_field", "external_id"},
		{"a malformed cipher", map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": "bm90IGEgY2lwaGVy", "residency": "eu"}}, http.StatusBadRequest, "invalid_field", "azure.sas_cipher"},
		{"a plain SAS URL as cipher", map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": sasURL, "residency": "eu"}}, http.StatusBadRequest, "invalid_field", "azure.sas_cipher"},
		{"a cipher of another key", map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": encrypt(t, keys, "us", sasURL), "residency": "eu"}}, http.StatusUnprocessableEntity, "sas_cipher_undecryptable", ""},
		{"a bad bucket name", map[string]any{"kind": "s3", "s3": map[string]any{"bucket": "Not_A_Bucket", "region": "us-east-1", "role_arn": role}}, http.StatusBadRequest, "invalid_field", "s3.bucket"},
	} {
		// The document refuses what its schema can tell: the size and the
		// fields; a name's or a cipher's rules are the handler's.
		invalid := c.code == "body_too_large" || c.code == "unknown_field"
		r := a.do(http.MethodPut, orgPath(orgA, "/destination"), c.body, invalid)
		p := r.problem(t)
		if r.status != c.status || p.Code != c.code || (c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field)) {
			t.Errorf("a PUT with %s: %d %s, want %d %s naming %q", c.name, r.status, r.body, c.status, c.code, c.field)
		}
		unchanged("a PUT with " + c.name)
	}

	// Nothing secret in any answer, log line or audit event.
	var events strings.Builder
	for _, org := range []string{orgA, orgB} {
		for _, e := range auditEvents(t, org, audit.DayOf(time.Now())) {
			fmt.Fprintf(&events, "%+v\n", e)
		}
	}
	if !strings.Contains(events.String(), "user:bob") {
		t.Errorf("no audit event of B's PUT: %s", events.String())
	}
	secrets := []string{cipher, strings.ReplaceAll(cipher, "\n", ""), sasURL, "sig=", a.token, b.token}
	for _, tok := range tokens {
		if tok != "" && tok != "not.a.token" {
			secrets = append(secrets, tok)
		}
	}
	for where, text := range map[string]string{"an answer": a.answers() + b.answers(), "a log line": env.logs.String(), "an audit event": events.String()} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%d characters starting %.8q)", where, len(s), s)
			}
		}
	}
}
