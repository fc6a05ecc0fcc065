package api

// These tests drive Server.Handler with in-memory fakes of every
// dependency: no emulator, no network beyond httptest's recorder. The
// fakes record what the handler asked of them, so that a refused request
// can be shown to have changed nothing and written no audit event.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/apiauth"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/signing"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
	"github.com/contentful/auditlogs/internal/verify"
)

// The tokens: distinctive strings, so that a test can look for them in
// the logs and answers.
const (
	aliceToken = "Bearer tok-alice-7c1f9e0d" // administers acme, acme-eu, acme-new
	bobToken   = "Bearer tok-bob-33aa81b2"   // administers bobs-org
	downToken  = "Bearer tok-keys-down"      // the IdP's keys cannot be read
	panicToken = "Bearer tok-panic"          // the authenticator panics
)

// testNow is the clock of every test server.
var testNow = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// testCipher is a well-formed cipher (512 bytes in base64), wrapped in
// lines as customers submit it.
var testCipher = func() string {
	var raw []byte
	for i := byte(0); len(raw) < destination.CipherBytes; i++ {
		sum := sha256.Sum256([]byte{i})
		raw = append(raw, sum[:]...)
	}
	return destination.EncodeCipher(raw[:destination.CipherBytes])
}()

// flatCipher is testCipher as stored: without line breaks.
var flatCipher = strings.ReplaceAll(testCipher, "\n", "")

type fakeAuth struct {
	mu    sync.Mutex
	calls int
}

func (a *fakeAuth) Verify(_ context.Context, authorization string) (apiauth.Principal, error) {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	switch authorization {
	case aliceToken:
		return apiauth.Principal{Subject: "alice", OrgIDs: []string{"acme", "acme-eu", "acme-new"}}, nil
	case bobToken:
		return apiauth.Principal{Subject: "bob", OrgIDs: []string{"bobs-org"}}, nil
	case downToken:
		return apiauth.Principal{}, fmt.Errorf("fetch the key set: %w", apiauth.ErrKeysUnavailable)
	case panicToken:
		panic("authenticator exploded")
	case "":
		return apiauth.Principal{}, fmt.Errorf("no Authorization header: %w", apiauth.ErrUnauthenticated)
	}
	return apiauth.Principal{}, fmt.Errorf("token is expired: %w", apiauth.ErrUnauthenticated)
}

type enabledCall struct {
	org     string
	enabled bool
}

type fakeRegistry struct {
	mu      sync.Mutex
	m       map[string]destination.Destination
	gets    []string
	enabled []enabledCall
	deleted []string
	err     error // every call fails with it (the registry unavailable)
	panics  bool
}

func (r *fakeRegistry) Get(_ context.Context, org string) (destination.Destination, error) {
	if r.panics {
		panic("registry exploded")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets = append(r.gets, org)
	if r.err != nil {
		return destination.Destination{}, r.err
	}
	d, ok := r.m[org]
	if !ok {
		return d, fmt.Errorf("org %s: %w", org, registry.ErrNotFound)
	}
	return d, nil
}

func (r *fakeRegistry) SetEnabled(_ context.Context, org string, enabled bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enabled = append(r.enabled, enabledCall{org, enabled})
	if r.err != nil {
		return r.err
	}
	d, ok := r.m[org]
	if !ok {
		return fmt.Errorf("org %s: %w", org, registry.ErrNotFound)
	}
	d.Enabled = enabled
	d.UpdatedAt = testNow
	r.m[org] = d
	return nil
}

func (r *fakeRegistry) DeleteExisting(_ context.Context, org string) (destination.Kind, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, org)
	d, ok := r.m[org]
	if !ok {
		return "", fmt.Errorf("org %s: %w", org, registry.ErrNotFound)
	}
	delete(r.m, org)
	return d.Kind, nil
}

type registerCall struct {
	d    destination.Destination
	opts registration.Options
}

// fakeRegistrar stores what it is given in the registry, or refuses it
// with err; notice, if set, is the warning code it reports.
type fakeRegistrar struct {
	reg    *fakeRegistry
	mu     sync.Mutex
	calls  []registerCall
	err    error
	notice string
}

func (f *fakeRegistrar) Register(_ context.Context, d destination.Destination, opts registration.Options) (destination.Destination, error) {
	f.mu.Lock()
	f.calls = append(f.calls, registerCall{d, opts})
	f.mu.Unlock()
	if f.err != nil {
		return d, f.err
	}
	if f.notice != "" && opts.Notice != nil {
		opts.Notice(f.notice, "org "+d.OrgID+": a warning for operators")
	}
	d.CreatedAt, d.UpdatedAt = testNow.Add(-time.Hour), testNow
	f.reg.mu.Lock()
	f.reg.m[d.OrgID] = d
	f.reg.mu.Unlock()
	return d, nil
}

func (f *fakeRegistrar) registered() []registerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type fakeVerifier struct {
	report verify.Report
	orgs   []string
}

func (v *fakeVerifier) Verify(_ context.Context, org string) verify.Report {
	v.orgs = append(v.orgs, org)
	return v.report
}

// fakeLedger pages through entries, sorted by org and day, as the
// ledger's Page does.
type fakeLedger struct {
	entries []ledger.Entry
	err     error
}

func (l *fakeLedger) Page(_ context.Context, org string, from, to audit.Day, limit int) ([]ledger.Entry, bool, error) {
	if l.err != nil {
		return nil, false, l.err
	}
	var out []ledger.Entry
	for _, e := range l.entries {
		if e.OrgID == org && !e.Day.Before(from) && !to.Before(e.Day) {
			out = append(out, e)
		}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

type fakeExports struct {
	mu     sync.Mutex
	queued []string // "org day"
	failOn string   // a day that fails to be queued
}

func (x *fakeExports) Queue(_ context.Context, org string, day audit.Day) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if day.String() == x.failOn {
		return errors.New("lambda: throttled")
	}
	x.queued = append(x.queued, org+" "+day.String())
	return nil
}

type fakeAuditLog struct {
	mu     sync.Mutex
	events []audit.Event
	err    error
}

func (a *fakeAuditLog) Write(_ context.Context, events []audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.events = append(a.events, events...)
	return nil
}

func (a *fakeAuditLog) written() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

type fakeKeys struct {
	ks  KeySet
	err error
}

func (k *fakeKeys) KeySet(context.Context) (KeySet, error) { return k.ks, k.err }

// testEnv is a server over fakes.
type testEnv struct {
	srv     *Server
	h       http.Handler
	auth    *fakeAuth
	reg     *fakeRegistry
	rar     *fakeRegistrar
	ver     *fakeVerifier
	led     *fakeLedger
	exp     *fakeExports
	auditL  *fakeAuditLog
	keys    *fakeKeys
	logs    *bytes.Buffer
	logsMu  *sync.Mutex
	builtAt time.Time
}

func s3Dest(org string) destination.Destination {
	d := destination.Destination{OrgID: org, Kind: destination.KindS3, Prefix: "audit/", Enabled: true,
		CreatedAt: testNow.Add(-48 * time.Hour), UpdatedAt: testNow.Add(-24 * time.Hour),
		S3: &destination.S3{Bucket: "acme-logs", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs"}}
	d.Normalize()
	return d
}

func azureDest(org string, expiry time.Time) destination.Destination {
	d := destination.Destination{OrgID: org, Kind: destination.KindAzure, Enabled: true,
		CreatedAt: testNow.Add(-48 * time.Hour), UpdatedAt: testNow.Add(-24 * time.Hour),
		Azure: &destination.Azure{SASCipher: testCipher, Residency: destination.ResidencyEU, SASExpiry: expiry,
			StorageAccount: "acct01", Container: "logs"}}
	d.Normalize()
	return d
}

// lockedWriter keeps the log buffer safe for the race detector.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	reg := &fakeRegistry{m: map[string]destination.Destination{
		"acme":     s3Dest("acme"),
		"acme-eu":  azureDest("acme-eu", testNow.Add(90*24*time.Hour)),
		"bobs-org": s3Dest("bobs-org"),
	}}
	e := &testEnv{auth: &fakeAuth{}, reg: reg, rar: &fakeRegistrar{reg: reg}, ver: &fakeVerifier{},
		led: &fakeLedger{}, exp: &fakeExports{}, auditL: &fakeAuditLog{}, keys: &fakeKeys{},
		logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}}
	e.srv = &Server{Auth: e.auth, Registry: reg, Registrar: e.rar, Verifier: e.ver, Ledger: e.led, Exports: e.exp,
		AuditLog: e.auditL, Keys: e.keys, Retention: 90 * 24 * time.Hour,
		Log: slog.New(slog.NewJSONHandler(lockedWriter{e.logsMu, e.logs}, nil)),
		Now: func() time.Time { return testNow }}
	e.h = e.srv.Handler()
	return e
}

func (e *testEnv) logText() string {
	e.logsMu.Lock()
	defer e.logsMu.Unlock()
	return e.logs.String()
}

// do sends a request; body "" sends none, a non-empty one as JSON unless
// a Content-Type header is given. Every answer must carry X-Request-Id.
func (e *testEnv) do(t *testing.T, method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, rd)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Header().Get("X-Request-Id") == "" {
		t.Errorf("%s %s: %d without X-Request-Id", method, path, w.Code)
	}
	return w
}

// problemOf reads a problem answer, checking its status, code, media
// type and that it names the request.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int, code string) Problem {
	t.Helper()
	var p Problem
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != ProblemType {
		t.Errorf("Content-Type %q, want %q", ct, ProblemType)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem %s: %v", w.Body, err)
	}
	if p.Code != code || p.Type != ProblemBase+code || p.Status != status {
		t.Errorf("problem code %q type %q status %d, want %q, %d; body %s", p.Code, p.Type, p.Status, code, status, w.Body)
	}
	if p.RequestID == "" || p.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("problem request_id %q, header X-Request-Id %q", p.RequestID, w.Header().Get("X-Request-Id"))
	}
	if p.Title == "" || p.Instance == "" {
		t.Errorf("problem without title or instance: %s", w.Body)
	}
	return p
}

// fieldOf checks that p names field with value.
func fieldOf(t *testing.T, p Problem, field, value string) {
	t.Helper()
	if len(p.Errors) != 1 || p.Errors[0].Field != field || p.Errors[0].Value != value || p.Errors[0].Reason == "" {
		t.Errorf("errors %+v, want one naming field %q value %q", p.Errors, field, value)
	}
}

func jsonOf[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

func (e *testEnv) noAudit(t *testing.T) {
	t.Helper()
	if ev := e.auditL.written(); len(ev) != 0 {
		t.Errorf("audit events written for a refused request: %+v", ev)
	}
}

// oneAudit checks the single audit event of a change.
func (e *testEnv) oneAudit(t *testing.T, w *httptest.ResponseRecorder, method, org, path, route string, status int) {
	t.Helper()
	ev := e.auditL.written()
	if len(ev) != 1 {
		t.Fatalf("%d audit events, want 1: %+v", len(ev), ev)
	}
	want := audit.Event{OrgID: org, RequestID: AuditRequestIDPrefix + w.Header().Get("X-Request-Id"), RequestTime: testNow,
		RequestMethod: method, RequestPath: path, ResponseStatus: status, Route: route, ActorID: "user:alice"}
	got := ev[0]
	got.ContentLength = 0
	if got != want {
		t.Errorf("audit event\n %+v\nwant\n %+v", got, want)
	}
}

const orgsPath = "/v1/organizations/"

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for _, token := range []string{"", "Bearer forged-token-9d8e", "Basic YWxpY2U6cHc="} {
		w := e.do(t, http.MethodGet, orgsPath+"acme/destination", token, "")
		p := problemOf(t, w, http.StatusUnauthorized, "unauthenticated")
		if h := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
			t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
		}
		if p.Fix == "" {
			t.Error("401 without a fix")
		}
		if token != "" && strings.Contains(w.Body.String(), strings.TrimPrefix(token, "Bearer ")) {
			t.Error("the refused token is echoed")
		}
	}
	w := e.do(t, http.MethodGet, orgsPath+"acme/destination", downToken, "")
	problemOf(t, w, http.StatusServiceUnavailable, "keys_unavailable")
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Error("503 with a WWW-Authenticate challenge: the token was not refused")
	}
	if len(e.reg.gets) != 0 {
		t.Errorf("registry read without a valid token: %v", e.reg.gets)
	}
}

// stripped is a problem body without its request_id and instance, the
// members that differ between any two requests.
func stripped(b []byte) []byte {
	b = regexp.MustCompile(`"request_id":"[^"]*",?`).ReplaceAll(b, nil)
	return regexp.MustCompile(`"instance":"[^"]*",?`).ReplaceAll(b, nil)
}

func TestOtherOrgIsNotFound(t *testing.T) {
	e := newEnv(t)
	// bobs-org exists; acme-new is alice's but has no destination.
	other := e.do(t, http.MethodGet, orgsPath+"bobs-org/destination", aliceToken, "")
	missing := e.do(t, http.MethodGet, orgsPath+"acme-new/destination", aliceToken, "")
	problemOf(t, other, http.StatusNotFound, "not_found")
	problemOf(t, missing, http.StatusNotFound, "not_found")
	if a, b := stripped(other.Body.Bytes()), stripped(missing.Body.Bytes()); !bytes.Equal(a, b) {
		t.Errorf("another org's 404 differs from a missing org's:\n%s\n%s", a, b)
	}
	if !bytes.Contains(other.Body.Bytes(), []byte(`"request_id"`)) || bytes.Contains(stripped(other.Body.Bytes()), []byte(`"request_id"`)) {
		t.Errorf("stripped does not strip: %s", other.Body)
	}
	for _, k := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate"} {
		if other.Header().Get(k) != missing.Header().Get(k) {
			t.Errorf("header %s: %q for another org, %q for a missing one", k, other.Header().Get(k), missing.Header().Get(k))
		}
	}
	if slices.Contains(e.reg.gets, "bobs-org") {
		t.Error("the registry was read for an org the caller does not administer")
	}

	// Every org route answers another org alike, and touches nothing.
	for _, rt := range []struct{ method, path, body string }{
		{http.MethodPut, "bobs-org/destination", `{"kind":"s3"}`},
		{http.MethodDelete, "bobs-org/destination", ""},
		{http.MethodPost, "bobs-org/destination/verify", ""},
		{http.MethodPost, "bobs-org/destination/pause", ""},
		{http.MethodPost, "bobs-org/destination/resume", ""},
		{http.MethodGet, "bobs-org/deliveries?from=2026-11-01&to=2026-11-02", ""},
		{http.MethodPost, "bobs-org/deliveries/redeliver", `{"from":"2026-11-01","to":"2026-11-02"}`},
	} {
		w := e.do(t, rt.method, orgsPath+rt.path, aliceToken, rt.body)
		problemOf(t, w, http.StatusNotFound, "not_found")
		if !bytes.Equal(stripped(w.Body.Bytes()), stripped(missing.Body.Bytes())) {
			t.Errorf("%s %s: body %s differs from a missing org's", rt.method, rt.path, w.Body)
		}
	}
	if len(e.rar.registered()) != 0 || len(e.reg.enabled) != 0 || len(e.reg.deleted) != 0 || len(e.ver.orgs) != 0 || len(e.exp.queued) != 0 {
		t.Errorf("another org's routes reached a dependency: %d registrations, %v, %v, %v, %v",
			len(e.rar.registered()), e.reg.enabled, e.reg.deleted, e.ver.orgs, e.exp.queued)
	}
	e.noAudit(t)
	if _, ok := e.reg.m["bobs-org"]; !ok {
		t.Error("another org's destination was deleted")
	}
}

func TestMalformedOrgID(t *testing.T) {
	e := newEnv(t)
	missing := e.do(t, http.MethodGet, orgsPath+"acme-new/destination", aliceToken, "")
	for _, org := range []string{"a", "-acme", "acme.eu", "acme%20eu", "%2e%2e", strings.Repeat("a", 65)} {
		w := e.do(t, http.MethodGet, orgsPath+org+"/destination", aliceToken, "")
		problemOf(t, w, http.StatusNotFound, "not_found")
		if !bytes.Equal(stripped(w.Body.Bytes()), stripped(missing.Body.Bytes())) {
			t.Errorf("org %q: %s differs from a missing org's", org, w.Body)
		}
	}
	if len(e.reg.gets) != 1 {
		t.Errorf("registry read for malformed orgs: %v", e.reg.gets)
	}
}

func TestMethodsAndRoutes(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodPost, "/v1/keys", "GET"},
		{http.MethodDelete, "/v1/keys", "GET"},
		{http.MethodPatch, orgsPath + "acme/destination", "GET, PUT, DELETE"},
		{http.MethodPost, orgsPath + "acme/destination", "GET, PUT, DELETE"},
		{http.MethodGet, orgsPath + "acme/destination/verify", "POST"},
		{http.MethodGet, orgsPath + "acme/destination/pause", "POST"},
		{http.MethodPut, orgsPath + "acme/deliveries", "GET"},
		{http.MethodGet, orgsPath + "acme/deliveries/redeliver", "POST"},
	} {
		w := e.do(t, c.method, c.path, aliceToken, "")
		p := problemOf(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if !strings.Contains(p.Detail, c.method) {
			t.Errorf("%s %s: detail %q does not name the method", c.method, c.path, p.Detail)
		}
	}
	for _, path := range []string{"/", "/v1", "/v1/keys/", "/v2/keys", orgsPath + "acme", orgsPath + "acme/destination/delete", "/v1/organizations//destination"} {
		w := e.do(t, http.MethodGet, path, aliceToken, "")
		if strings.Contains(path, "//") && (w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect) {
			continue // the mux cleans a path with "//" by redirecting
		}
		p := problemOf(t, w, http.StatusNotFound, "not_found")
		if p.Instance != path && !strings.Contains(path, "//") {
			t.Errorf("%s: instance %q", path, p.Instance)
		}
	}
	e.noAudit(t)
}

func TestRequestID(t *testing.T) {
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, trust := range []bool{false, true} {
		e := newEnv(t)
		e.srv.TrustRequestID = trust
		h := e.srv.Handler()
		send := func(id string) string {
			req := httptest.NewRequest(http.MethodGet, "/v1/keys", nil)
			if id != "" {
				req.Header.Set("X-Request-Id", id)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Header().Get("X-Request-Id")
		}
		a, b := send(""), send("")
		if !hexID.MatchString(a) || a == b {
			t.Errorf("trust %t: request IDs %q, %q: want distinct random ones", trust, a, b)
		}
		got := send("gw-req-42")
		if trust && got != "gw-req-42" {
			t.Errorf("TrustRequestID: X-Request-Id %q, want the request's gw-req-42", got)
		}
		if !trust && (got == "gw-req-42" || !hexID.MatchString(got)) {
			t.Errorf("untrusted: X-Request-Id %q, want a random one, not the client's", got)
		}
		for _, bad := range []string{"has space", strings.Repeat("x", 65), "ctl\x01"} {
			if got := send(bad); !hexID.MatchString(got) {
				t.Errorf("trust %t: X-Request-Id %q taken from a malformed one", trust, got)
			}
		}
	}
}

// s3Input is a valid S3 PUT body.
const s3Input = `{"kind":"s3","prefix":"audit","format":"jsonl.gz","s3":{"bucket":"acme-logs","region":"eu-west-1","role_arn":"arn:aws:iam::123456789012:role/AuditLogs"}}`

func azureInput(cipher string, share ...string) string {
	b, _ := json.Marshal(map[string]any{"kind": "azure", "azure": map[string]any{"sas_cipher": cipher, "residency": "eu", "share_container_with": share}})
	return string(b)
}

func TestPutCreatesAndReplaces(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodPut, orgsPath+"acme-new/destination", aliceToken, s3Input)
	v := jsonOf[DestinationView](t, w, http.StatusCreated)
	wantS3 := S3View{Bucket: "acme-logs", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs", ExternalID: "acme-new", BucketOwner: "123456789012"}
	if v.OrgID != "acme-new" || v.Kind != destination.KindS3 || !v.Enabled || v.Prefix != "audit/" || v.Format != "jsonl.gz" || v.Layout != "flat" || v.S3 == nil || *v.S3 != wantS3 || v.Azure != nil {
		t.Errorf("view %+v (s3 %+v)", v, v.S3)
	}
	if len(v.Warnings) != 0 {
		t.Errorf("warnings %+v", v.Warnings)
	}
	calls := e.rar.registered()
	if len(calls) != 1 || calls[0].d.OrgID != "acme-new" || calls[0].opts.AllowNoExternalID || calls[0].opts.CipherSource != "azure.sas_cipher" {
		t.Fatalf("registrations %+v", calls)
	}
	e.oneAudit(t, w, http.MethodPut, "acme-new", orgsPath+"acme-new/destination", "/v1/organizations/:org_id/destination", http.StatusCreated)

	e = newEnv(t)
	w = e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, strings.Replace(s3Input, `"prefix":"audit"`, `"prefix":"other/", "enabled": false`, 1))
	v = jsonOf[DestinationView](t, w, http.StatusOK)
	if v.Prefix != "other/" || v.Enabled || len(v.Warnings) != 1 || v.Warnings[0].Code != WarnPaused {
		t.Errorf("replaced view %+v", v)
	}
	e.oneAudit(t, w, http.MethodPut, "acme", orgsPath+"acme/destination", "/v1/organizations/:org_id/destination", http.StatusOK)
}

func TestPutAzure(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodPut, orgsPath+"acme-new/destination", aliceToken, azureInput(testCipher, "acme"))
	v := jsonOf[DestinationView](t, w, http.StatusCreated)
	if v.Azure == nil || v.Azure.Residency != destination.ResidencyEU || v.Azure.CipherSHA256 == "" || v.Azure.CipherSHA256 == "invalid" {
		t.Errorf("view %+v", v)
	}
	for _, c := range []string{testCipher, flatCipher, flatCipher[:40]} {
		if strings.Contains(w.Body.String(), c) {
			t.Fatal("the view holds the cipher")
		}
	}
	// The residency is read as loosely as the CLI reads it.
	w = e.do(t, http.MethodPut, orgsPath+"acme-eu/destination", aliceToken, strings.Replace(azureInput(testCipher), `"eu"`, `" EU "`, 1))
	if v := jsonOf[DestinationView](t, w, http.StatusOK); v.Azure == nil || v.Azure.Residency != destination.ResidencyEU {
		t.Errorf("view %+v", v)
	}
	calls := e.rar.registered()
	if len(calls) != 2 || !slices.Equal(calls[0].opts.ShareContainerWith, []string{"acme"}) || calls[0].d.Azure.SASCipher != flatCipher {
		t.Errorf("registrations %+v", calls)
	}
}

func TestPutRefused(t *testing.T) {
	withS3 := func(field, value string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(s3Input), &m)
		if f, ok := strings.CutPrefix(field, "s3."); ok {
			m["s3"].(map[string]any)[f] = value
		} else {
			m[field] = value
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		name, body, field, value string
	}{
		{"bucket", withS3("s3.bucket", "Bad_Bucket"), "s3.bucket", "Bad_Bucket"},
		{"region", withS3("s3.region", "moon-1"), "s3.region", "moon-1"},
		{"role", withS3("s3.role_arn", "arn:aws:iam::1:user/x"), "s3.role_arn", "arn:aws:iam::1:user/x"},
		{"owner", withS3("s3.bucket_owner", "12345"), "s3.bucket_owner", "12345"},
		{"format", withS3("format", "xml"), "format", "xml"},
		{"layout", withS3("layout", "tree"), "layout", "tree"},
		{"prefix", withS3("prefix", "/abs/"), "prefix", "/abs/"},
		{"kind", withS3("kind", "gcs"), "kind", "gcs"},
		{"kind without its object", `{"kind":"azure","s3":{}}`, "kind", "azure"},
		{"residency", `{"kind":"azure","azure":{"sas_cipher":` + fmt.Sprintf("%q", testCipher) + `,"residency":"mars"}}`, "azure.residency", "mars"},
		{"no residency", `{"kind":"azure","azure":{"sas_cipher":` + fmt.Sprintf("%q", testCipher) + `}}`, "azure.residency", ""},
		{"shared with itself", azureInput(testCipher, "acme-new"), "azure.share_container_with[0]", "acme-new"},
		{"shared with another's org", azureInput(testCipher, "acme", "bobs-org"), "azure.share_container_with[1]", "bobs-org"},
		{"shared with a malformed org", azureInput(testCipher, "x!"), "azure.share_container_with[0]", "x!"},
		{"a JSON number for a string", `{"kind":"s3","s3":{"bucket":5}}`, "s3.bucket", "a JSON number"},
		{"a JSON string for a boolean", `{"kind":"s3","enabled":"yes"}`, "enabled", "a JSON string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.do(t, http.MethodPut, orgsPath+"acme-new/destination", aliceToken, c.body)
			p := problemOf(t, w, http.StatusBadRequest, "invalid_field")
			if len(p.Errors) == 1 && strings.HasPrefix(c.value, "a JSON number") {
				c.value = p.Errors[0].Value // "a JSON number 5" or so: the kind is what matters
				if !strings.HasPrefix(c.value, "a JSON number") {
					t.Errorf("value %q, want a JSON number", c.value)
				}
			}
			fieldOf(t, p, c.field, c.value)
			if len(e.rar.registered()) != 0 {
				t.Error("the registrar was called for a refused body")
			}
			e.noAudit(t)
		})
	}
}

func TestPutBody(t *testing.T) {
	e := newEnv(t)
	path := orgsPath + "acme-new/destination"

	p := problemOf(t, e.do(t, http.MethodPut, path, aliceToken, `{"kind":"s3","colour":"blue"}`), http.StatusBadRequest, "unknown_field")
	fieldOf(t, p, "colour", "")
	p = problemOf(t, e.do(t, http.MethodPut, path, aliceToken, `{"kind":"s3","allow_no_external_id":true}`), http.StatusBadRequest, "unknown_field")
	fieldOf(t, p, "allow_no_external_id", "")
	// encoding/json names a nested unknown field without its path.
	p = problemOf(t, e.do(t, http.MethodPut, path, aliceToken, `{"kind":"s3","s3":{"acl":"public"}}`), http.StatusBadRequest, "unknown_field")
	if len(p.Errors) != 1 || !strings.HasSuffix(p.Errors[0].Field, "acl") {
		t.Errorf("errors %+v, want the field acl", p.Errors)
	}

	problemOf(t, e.do(t, http.MethodPut, path, aliceToken, `{"kind":`), http.StatusBadRequest, "invalid_json")
	problemOf(t, e.do(t, http.MethodPut, path, aliceToken, `{"kind":"s3"} {}`), http.StatusBadRequest, "invalid_json")
	problemOf(t, e.do(t, http.MethodPut, path, aliceToken, ""), http.StatusBadRequest, "missing_body")

	big := `{"kind":"s3","prefix":"` + strings.Repeat("a", MaxBody) + `"}`
	problemOf(t, e.do(t, http.MethodPut, path, aliceToken, big), http.StatusRequestEntityTooLarge, "body_too_large")

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx", "nonsense;;"} {
		problemOf(t, e.do(t, http.MethodPut, path, aliceToken, s3Input, "Content-Type", ct), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	// A charset parameter is still JSON.
	w := e.do(t, http.MethodPut, path, aliceToken, s3Input, "Content-Type", "application/json; charset=utf-8")
	jsonOf[DestinationView](t, w, http.StatusCreated)
}

func TestPutCipherNeverEchoed(t *testing.T) {
	const secret = "SECRETsig0123"
	sasURL := "https://acct.blob.core.windows.net/c?sv=2025-01-05&sr=c&sp=cw&sig=" + secret
	for _, c := range []struct{ name, cipher, hidden string }{
		{"not base64", "not//base64!!" + flatCipher[:60], flatCipher[:60]},
		{"wrong length", flatCipher[:400], flatCipher[:400]},
		{"a plain SAS URL", sasURL, secret},
		{"the base64 of a SAS URL", base64.StdEncoding.EncodeToString([]byte(sasURL)), base64.StdEncoding.EncodeToString([]byte(sasURL))[20:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.do(t, http.MethodPut, orgsPath+"acme-new/destination", aliceToken, azureInput(c.cipher))
			p := problemOf(t, w, http.StatusBadRequest, "invalid_field")
			if len(p.Errors) != 1 || p.Errors[0].Field != "azure.sas_cipher" || p.Errors[0].Value == c.cipher {
				t.Errorf("errors %+v", p.Errors)
			}
			for _, s := range []string{c.hidden, c.cipher} {
				if strings.Contains(w.Body.String(), s) || strings.Contains(e.logText(), s) {
					t.Error("the submitted value is echoed in the answer or the log")
				}
			}
			if strings.Contains(w.Body.String(), secret) || strings.Contains(e.logText(), secret) {
				t.Error("the SAS signature is echoed")
			}
			if len(e.rar.registered()) != 0 {
				t.Error("the registrar was called")
			}
			e.noAudit(t)
		})
	}
}

func TestPutRegistrarRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		body   string
		err    error
		status int
		code   string
		field  string
	}{
		{"a field", s3Input, fmt.Errorf("org acme-new: %w", &audit.FieldError{Field: "bucket", Value: "acme-logs", Reason: "is taken"}), 400, "invalid_field", "s3.bucket"},
		{"external ID not required", s3Input, fmt.Errorf("org acme-new: %w: fix the trust", s3sink.ErrExternalIDNotRequired), 422, string(verify.CauseExternalIDNotRequired), ""},
		{"SAS expired", azureInput(testCipher), fmt.Errorf("org acme-new: azure.sas_cipher: %w", sas.ErrExpired), 422, string(verify.CauseSASExpired), ""},
		{"unavailable", s3Input, errors.New("dial tcp 127.0.0.1:1: connection refused"), 503, string(verify.CauseUnavailable), ""},
		{"claimed", azureInput(testCipher), fmt.Errorf("org acme-new: %w: pass --share-container-with victim-org",
			&registry.ClaimedError{Org: "acme-new", Account: "acct01", Container: "logs", Holders: []string{"victim-org"}}), 422, string(verify.CauseContainerClaimed), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.rar.err = c.err
			w := e.do(t, http.MethodPut, orgsPath+"acme-new/destination", aliceToken, c.body)
			p := problemOf(t, w, c.status, c.code)
			if c.field != "" {
				fieldOf(t, p, c.field, "acme-logs")
			} else if p.Fix == "" || p.Stage != verify.StageOpen || p.Detail == "" {
				t.Errorf("a failed check without fix, stage or detail: %s", w.Body)
			}
			if strings.Contains(w.Body.String(), "victim-org") {
				t.Errorf("the refusal names the org that holds the container: %s", w.Body)
			}
			if _, ok := e.reg.m["acme-new"]; ok {
				t.Error("stored though refused")
			}
			e.noAudit(t)
		})
	}
}

func TestPutNotice(t *testing.T) {
	e := newEnv(t)
	e.rar.notice = registration.WarnRoleNotAssumable
	w := e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, strings.Replace(s3Input, `"format"`, `"enabled":false,"format"`, 1))
	v := jsonOf[DestinationView](t, w, http.StatusOK)
	var codes []string
	for _, n := range v.Warnings {
		codes = append(codes, n.Code)
	}
	if !slices.Equal(codes, []string{registration.WarnRoleNotAssumable, WarnPaused}) {
		t.Errorf("warnings %v", codes)
	}
	if !strings.Contains(v.Warnings[0].Message, "arn:aws:iam::123456789012:role/AuditLogs") || strings.Contains(v.Warnings[0].Message, "operators") {
		t.Errorf("warning %q: want the customer's wording naming the role", v.Warnings[0].Message)
	}
	e.oneAudit(t, w, http.MethodPut, "acme", orgsPath+"acme/destination", "/v1/organizations/:org_id/destination", http.StatusOK)
}

func TestPutRegistryUnavailable(t *testing.T) {
	e := newEnv(t)
	e.reg.err = errors.New("dynamodb: throttled")
	problemOf(t, e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, s3Input), http.StatusServiceUnavailable, "registry_unavailable")
	if len(e.rar.registered()) != 0 {
		t.Error("registered though the registry could not be read")
	}
	e.noAudit(t)
}

func TestAuditWriteFailure(t *testing.T) {
	// The change is made, its record is not: the answer says both and
	// how to record it, the log keeps the event.
	e := newEnv(t)
	e.auditL.err = errors.New("log store down")
	w := e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, s3Input)
	p := problemOf(t, w, http.StatusInternalServerError, "audit_not_recorded")
	if p.Fix == "" || !strings.Contains(p.Detail, "took effect") {
		t.Errorf("problem %+v: want what happened and the fix", p)
	}
	if l := e.logText(); !strings.Contains(l, "audit event not written") || !strings.Contains(l, w.Header().Get("X-Request-Id")) {
		t.Errorf("log %s: want the unwritten event", l)
	}
	// Repeating it, once the log store is back, records it.
	e.auditL.mu.Lock()
	e.auditL.err = nil
	e.auditL.mu.Unlock()
	w = e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, s3Input)
	jsonOf[DestinationView](t, w, http.StatusOK)
	if got := e.auditL.written(); len(got) != 1 || got[0].ResponseStatus != http.StatusOK {
		t.Errorf("audit events after the repeat: %+v", got)
	}
}

func TestView(t *testing.T) {
	for _, c := range []struct {
		name     string
		expiry   time.Time
		enabled  bool
		warnings []string
	}{
		{"far", testNow.Add(90 * 24 * time.Hour), true, nil},
		{"unknown expiry", time.Time{}, true, nil},
		{"soon", testNow.Add(destination.SASWarnBefore - time.Hour), true, []string{verify.WarnSASExpiresSoon}},
		{"expired", testNow.Add(-time.Minute), true, []string{WarnSASExpired}},
		{"expired now", testNow, true, []string{WarnSASExpired}},
		{"paused and soon", testNow.Add(24 * time.Hour), false, []string{WarnPaused, verify.WarnSASExpiresSoon}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := azureDest("acme-eu", c.expiry)
			d.Enabled = c.enabled
			e.reg.m["acme-eu"] = d
			w := e.do(t, http.MethodGet, orgsPath+"acme-eu/destination", aliceToken, "")
			v := jsonOf[DestinationView](t, w, http.StatusOK)
			var codes []string
			for _, n := range v.Warnings {
				codes = append(codes, n.Code)
			}
			if !slices.Equal(codes, c.warnings) {
				t.Errorf("warnings %v, want %v", codes, c.warnings)
			}
			switch {
			case c.expiry.IsZero() && v.Azure.SASExpires != nil:
				t.Errorf("sas_expires %v for an unknown expiry", v.Azure.SASExpires)
			case !c.expiry.IsZero() && (v.Azure.SASExpires == nil || !v.Azure.SASExpires.Equal(c.expiry)):
				t.Errorf("sas_expires %v, want %v", v.Azure.SASExpires, c.expiry)
			}
			if v.Azure.CipherSHA256 != d.Azure.CipherFingerprint() || v.Azure.StorageAccount != "acct01" || v.Azure.Container != "logs" {
				t.Errorf("azure view %+v", v.Azure)
			}
			if strings.Contains(w.Body.String(), flatCipher[:32]) || strings.Contains(w.Body.String(), `"sas_cipher"`) {
				t.Error("the view holds the cipher")
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodDelete, orgsPath+"acme/destination", aliceToken, "")
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("status %d body %q", w.Code, w.Body)
	}
	e.oneAudit(t, w, http.MethodDelete, "acme", orgsPath+"acme/destination", "/v1/organizations/:org_id/destination", http.StatusNoContent)

	e = newEnv(t)
	problemOf(t, e.do(t, http.MethodDelete, orgsPath+"acme-new/destination", aliceToken, ""), http.StatusNotFound, "not_found")
	e.noAudit(t)
}

func TestVerify(t *testing.T) {
	ok := verify.Report{OrgID: "acme", OK: true, CheckedAt: testNow, Kind: destination.KindS3, Enabled: true, Bucket: "acme-logs", Key: "audit/probe", Bytes: 42}
	t.Run("ok", func(t *testing.T) {
		e := newEnv(t)
		e.ver.report = ok
		got := jsonOf[verify.Report](t, e.do(t, http.MethodPost, orgsPath+"acme/destination/verify", aliceToken, ""), http.StatusOK)
		if got.OrgID != ok.OrgID || !got.OK || !got.CheckedAt.Equal(ok.CheckedAt) || got.Key != ok.Key || got.Bytes != 42 {
			t.Errorf("report %+v", got)
		}
		if !slices.Equal(e.ver.orgs, []string{"acme"}) {
			t.Errorf("verified %v", e.ver.orgs)
		}
		e.noAudit(t) // a check changes nothing
	})
	failed := func(cause verify.Cause, detail string) verify.Report {
		r := ok
		r.OK, r.Key, r.Bytes = false, "", 0
		r.Failure = &verify.Failure{Cause: cause, Stage: verify.StageUpload, Message: "it failed", Fix: "fix it", Detail: detail}
		return r
	}
	for _, c := range []struct {
		name   string
		rep    verify.Report
		status int
		code   string
	}{
		{"customer side", failed(verify.CausePutDenied, "AccessDenied"), 422, string(verify.CausePutDenied)},
		{"unavailable", failed(verify.CauseUnavailable, "timeout"), 503, string(verify.CauseUnavailable)},
		{"ours", failed(verify.CauseKMSUnavailable, "throttled"), 503, string(verify.CauseKMSUnavailable)},
		{"claimed", failed(verify.CauseContainerClaimed, "held by org victim-org"), 422, string(verify.CauseContainerClaimed)},
		{"no failure", verify.Report{OrgID: "acme", CheckedAt: testNow}, 503, string(verify.CauseUnknown)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.ver.report = c.rep
			w := e.do(t, http.MethodPost, orgsPath+"acme/destination/verify", aliceToken, "{}")
			p := problemOf(t, w, c.status, c.code)
			if p.Report == nil || p.Report.OrgID != "acme" || p.Report.OK || p.Stage == "" || p.Detail == "" {
				t.Errorf("problem %s: want the report, the stage and a detail", w.Body)
			}
			if c.rep.Failure != nil && (p.Stage != verify.StageUpload || p.Detail != "it failed" || p.Fix == "") {
				t.Errorf("stage %q detail %q fix %q", p.Stage, p.Detail, p.Fix)
			}
			if strings.Contains(w.Body.String(), "victim-org") {
				t.Errorf("the answer names the org that holds the container: %s", w.Body)
			}
			e.noAudit(t)
		})
	}
	t.Run("not registered", func(t *testing.T) {
		e := newEnv(t)
		e.ver.report = failed(verify.CauseNotRegistered, "no destination registered")
		w := e.do(t, http.MethodPost, orgsPath+"acme-new/destination/verify", aliceToken, "")
		problemOf(t, w, http.StatusNotFound, "not_found")
		missing := e.do(t, http.MethodGet, orgsPath+"bobs-org/destination", aliceToken, "")
		if !bytes.Equal(stripped(w.Body.Bytes()), stripped(missing.Body.Bytes())) {
			t.Errorf("%s differs from the 404 of another org", w.Body)
		}
	})
	t.Run("body", func(t *testing.T) {
		e := newEnv(t)
		problemOf(t, e.do(t, http.MethodPost, orgsPath+"acme/destination/verify", aliceToken, `{"deep":true}`), 400, "unknown_field")
		if len(e.ver.orgs) != 0 {
			t.Error("verified despite a refused body")
		}
	})
}

func TestPauseResume(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodPost, orgsPath+"acme/destination/pause", aliceToken, "")
	v := jsonOf[DestinationView](t, w, http.StatusOK)
	if v.Enabled || len(v.Warnings) != 1 || v.Warnings[0].Code != WarnPaused {
		t.Errorf("paused view %+v", v)
	}
	e.oneAudit(t, w, http.MethodPost, "acme", orgsPath+"acme/destination/pause", "/v1/organizations/:org_id/destination/pause", http.StatusOK)

	e.auditL.events = nil
	w = e.do(t, http.MethodPost, orgsPath+"acme/destination/resume", aliceToken, "{}")
	v = jsonOf[DestinationView](t, w, http.StatusOK)
	if !v.Enabled || len(v.Warnings) != 0 {
		t.Errorf("resumed view %+v", v)
	}
	e.oneAudit(t, w, http.MethodPost, "acme", orgsPath+"acme/destination/resume", "/v1/organizations/:org_id/destination/resume", http.StatusOK)
	if want := []enabledCall{{"acme", false}, {"acme", true}}; !slices.Equal(e.reg.enabled, want) {
		t.Errorf("SetEnabled calls %v, want %v", e.reg.enabled, want)
	}

	e = newEnv(t)
	problemOf(t, e.do(t, http.MethodPost, orgsPath+"acme-new/destination/pause", aliceToken, ""), http.StatusNotFound, "not_found")
	problemOf(t, e.do(t, http.MethodPost, orgsPath+"acme/destination/resume", aliceToken, `{"x":1}`), http.StatusBadRequest, "unknown_field")
	problemOf(t, e.do(t, http.MethodPost, orgsPath+"acme/destination/resume", aliceToken, `{}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type")
	e.noAudit(t)
	if len(e.reg.enabled) != 1 {
		t.Errorf("SetEnabled calls %v: want only the missing org's", e.reg.enabled)
	}
}

// ledgerDays are entries of acme for days 2026-11-01 to -05, with another
// org's between them.
func ledgerDays(t *testing.T) []ledger.Entry {
	var out []ledger.Entry
	for i := 1; i <= 5; i++ {
		d, err := audit.ParseDay(fmt.Sprintf("2026-11-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out,
			ledger.Entry{OrgID: "acme", Day: d, Status: ledger.Delivered, Attempts: 1, Rows: int64(i), Bytes: int64(100 * i), Key: "audit/" + d.String() + ".jsonl.gz",
				DeliveredAt: d.End().Add(time.Hour), UpdatedAt: d.End().Add(time.Hour)},
			ledger.Entry{OrgID: "acme-eu", Day: d, Status: ledger.Failed, UpdatedAt: d.End()})
	}
	slices.SortFunc(out, func(a, b ledger.Entry) int { return strings.Compare(a.OrgID+a.Day.String(), b.OrgID+b.Day.String()) })
	return out
}

func TestDeliveriesParameters(t *testing.T) {
	e := newEnv(t)
	base := orgsPath + "acme/deliveries?"
	for _, c := range []struct{ query, field, value string }{
		{"to=2026-11-05", "from", ""},
		{"from=2026-11-01", "to", ""},
		{"from=2026-13-01&to=2026-11-05", "from", "2026-13-01"},
		{"from=2026-11-01&to=yesterday", "to", "yesterday"},
		{"from=2026-11-05&to=2026-11-01", "to", "2026-11-01"},
		{"from=2025-01-01&to=2026-01-02", "to", "2026-01-02"}, // 367 days
		{"from=2026-11-01&to=2026-11-05&limit=0", "limit", "0"},
		{"from=2026-11-01&to=2026-11-05&limit=101", "limit", "101"},
		{"from=2026-11-01&to=2026-11-05&limit=ten", "limit", "ten"},
		{"from=2026-11-01&to=2026-11-05&page=2", "page", "2"},
		{"from=2026-11-01&to=2026-11-05&cursor=%21%21", "cursor", "!!"},
	} {
		p := problemOf(t, e.do(t, http.MethodGet, base+c.query, aliceToken, ""), http.StatusBadRequest, "invalid_field")
		fieldOf(t, p, c.field, c.value)
	}
	// The bounds themselves are allowed.
	for _, q := range []string{"from=2025-01-01&to=2026-01-01", "from=2026-11-01&to=2026-11-01&limit=1", "from=2026-11-01&to=2026-11-05&limit=100"} {
		page := jsonOf[DeliveryPage](t, e.do(t, http.MethodGet, base+q, aliceToken, ""), http.StatusOK)
		if page.Deliveries == nil || page.NextCursor != "" {
			t.Errorf("%s: page %+v", q, page)
		}
	}
}

func TestDeliveriesPages(t *testing.T) {
	e := newEnv(t)
	e.led.entries = ledgerDays(t)
	query := orgsPath + "acme/deliveries?from=2026-11-01&to=2026-11-05&limit=2"
	var pages [][]string
	var cursors []string
	next := ""
	for i := 0; i < 5; i++ {
		q := query
		if next != "" {
			q += "&cursor=" + url.QueryEscape(next)
		}
		page := jsonOf[DeliveryPage](t, e.do(t, http.MethodGet, q, aliceToken, ""), http.StatusOK)
		if page.OrgID != "acme" || page.From != "2026-11-01" || page.To != "2026-11-05" {
			t.Errorf("page %+v", page)
		}
		var days []string
		for _, d := range page.Deliveries {
			days = append(days, d.Day)
			if d.Status != "delivered" || d.DeliveredAt == nil || d.Stale {
				t.Errorf("delivery %+v", d)
			}
		}
		pages = append(pages, days)
		if page.NextCursor == "" {
			break
		}
		next = page.NextCursor
		cursors = append(cursors, next)
	}
	want := [][]string{{"2026-11-01", "2026-11-02"}, {"2026-11-03", "2026-11-04"}, {"2026-11-05"}}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Fatalf("pages %v, want %v", pages, want)
	}
	// A cursor continues only its own listing.
	for _, q := range []string{
		orgsPath + "acme-eu/deliveries?from=2026-11-01&to=2026-11-05&cursor=" + cursors[0],
		orgsPath + "acme/deliveries?from=2026-11-01&to=2026-11-04&cursor=" + cursors[0],
		orgsPath + "acme/deliveries?from=2026-11-02&to=2026-11-05&cursor=" + cursors[0],
		orgsPath + "acme/deliveries?from=2026-11-01&to=2026-11-05&cursor=" + cursors[0][:len(cursors[0])-2],
		orgsPath + "acme/deliveries?from=2026-11-01&to=2026-11-05&cursor=" + cursor{Org: "acme", From: "2026-11-01", To: "2026-11-05", Next: "2026-12-01"}.encode(),
		orgsPath + "acme/deliveries?from=2026-11-01&to=2026-11-05&cursor=" + cursor{Org: "acme", From: "2026-11-01", To: "2026-11-05", Next: "soon"}.encode(),
	} {
		p := problemOf(t, e.do(t, http.MethodGet, q, aliceToken, ""), http.StatusBadRequest, "invalid_field")
		if len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
			t.Errorf("%s: errors %+v", q, p.Errors)
		}
	}
	// A page may be empty: a range with nothing in the ledger.
	page := jsonOf[DeliveryPage](t, e.do(t, http.MethodGet, orgsPath+"acme-new/deliveries?from=2026-11-01&to=2026-11-05", aliceToken, ""), http.StatusOK)
	if page.Deliveries == nil || len(page.Deliveries) != 0 || !strings.Contains(fmt.Sprint(page), "[]") {
		t.Errorf("empty page %+v", page)
	}

	e.led.err = errors.New("dynamodb down")
	problemOf(t, e.do(t, http.MethodGet, query, aliceToken, ""), http.StatusServiceUnavailable, "ledger_unavailable")
}

func TestDeliveriesRedactErrors(t *testing.T) {
	e := newEnv(t)
	day, _ := audit.ParseDay("2026-11-02")
	secrets := map[string]string{
		"SASSIG0123":     "PUT https://acct01.blob.core.windows.net/logs/audit/x?sv=2025-01-05&sp=cw&sig=SASSIG0123 failed: 403",
		"tok-abc-999":    "token refused: access_token=tok-abc-999",
		"CFPAT-xyz12345": "auth with CFPAT-xyz12345 failed",
		"s3cr3tpw":       `upstream said "password=s3cr3tpw"`,
	}
	for _, msg := range secrets {
		e.led.entries = append(e.led.entries, ledger.Entry{OrgID: "acme", Day: day, Status: ledger.Failed, Attempts: 3, LastError: msg, Permanent: true, UpdatedAt: testNow})
		day = day.AddDays(1)
	}
	w := e.do(t, http.MethodGet, orgsPath+"acme/deliveries?from=2026-11-01&to=2026-11-30", aliceToken, "")
	page := jsonOf[DeliveryPage](t, w, http.StatusOK)
	if len(page.Deliveries) != len(secrets) {
		t.Fatalf("%d deliveries, want %d", len(page.Deliveries), len(secrets))
	}
	for s := range secrets {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("a credential is in the history")
		}
	}
	for _, d := range page.Deliveries {
		if d.LastError == "" || !d.Permanent || d.Attempts != 3 {
			t.Errorf("delivery %+v", d)
		}
		// A signed URL's other parameters say which container it opens.
		if strings.Contains(d.LastError, "acct01") || strings.Contains(d.LastError, "sp=cw") {
			t.Errorf("last_error %q shows the signed URL", d.LastError)
		}
	}
}

func TestRedeliver(t *testing.T) {
	path := orgsPath + "acme/deliveries/redeliver"
	t.Run("queued", func(t *testing.T) {
		e := newEnv(t)
		w := e.do(t, http.MethodPost, path, aliceToken, `{"from":"2026-11-01","to":"2026-11-03"}`)
		res := jsonOf[RedeliverResult](t, w, http.StatusAccepted)
		want := []string{"2026-11-01", "2026-11-02", "2026-11-03"}
		if res.OrgID != "acme" || res.From != want[0] || res.To != want[2] || !slices.Equal(res.Queued, want) {
			t.Errorf("result %+v", res)
		}
		if !slices.Equal(e.exp.queued, []string{"acme 2026-11-01", "acme 2026-11-02", "acme 2026-11-03"}) {
			t.Errorf("queued %v", e.exp.queued)
		}
		e.oneAudit(t, w, http.MethodPost, "acme", path, "/v1/organizations/:org_id/deliveries/redeliver", http.StatusAccepted)
	})
	t.Run("bounds", func(t *testing.T) {
		e := newEnv(t)
		// Yesterday and the first day the 90 days' retention keeps.
		for _, body := range []string{`{"from":"2026-11-09","to":"2026-11-09"}`, `{"from":"2026-08-13","to":"2026-08-13"}`, `{"from":"2026-10-01","to":"2026-10-31"}`} {
			jsonOf[RedeliverResult](t, e.do(t, http.MethodPost, path, aliceToken, body), http.StatusAccepted)
		}
	})
	for _, c := range []struct{ name, body, field, value string }{
		{"32 days", `{"from":"2026-10-01","to":"2026-11-01"}`, "to", "2026-11-01"},
		{"today", `{"from":"2026-11-09","to":"2026-11-10"}`, "to", "2026-11-10"},
		{"future", `{"from":"2026-12-01","to":"2026-12-02"}`, "to", "2026-12-02"},
		{"before retention", `{"from":"2026-08-12","to":"2026-08-20"}`, "from", "2026-08-12"},
		{"to before from", `{"from":"2026-11-03","to":"2026-11-01"}`, "to", "2026-11-01"},
		{"bad from", `{"from":"11/01/2026","to":"2026-11-01"}`, "from", "11/01/2026"},
		{"no to", `{"from":"2026-11-01"}`, "to", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			p := problemOf(t, e.do(t, http.MethodPost, path, aliceToken, c.body), http.StatusBadRequest, "invalid_field")
			fieldOf(t, p, c.field, c.value)
			if len(e.exp.queued) != 0 {
				t.Errorf("queued %v", e.exp.queued)
			}
			e.noAudit(t)
		})
	}
	t.Run("body", func(t *testing.T) {
		e := newEnv(t)
		problemOf(t, e.do(t, http.MethodPost, path, aliceToken, `{"from":"2026-11-01","to":"2026-11-01","force":true}`), 400, "unknown_field")
		problemOf(t, e.do(t, http.MethodPost, path, aliceToken, ""), 400, "missing_body")
		e.noAudit(t)
	})
	t.Run("paused", func(t *testing.T) {
		e := newEnv(t)
		d := e.reg.m["acme"]
		d.Enabled = false
		e.reg.m["acme"] = d
		p := problemOf(t, e.do(t, http.MethodPost, path, aliceToken, `{"from":"2026-11-01","to":"2026-11-03"}`), http.StatusConflict, "destination_paused")
		if p.Fix == "" {
			t.Error("no fix")
		}
		if len(e.exp.queued) != 0 {
			t.Errorf("queued %v while paused", e.exp.queued)
		}
		e.noAudit(t)
	})
	t.Run("missing", func(t *testing.T) {
		e := newEnv(t)
		problemOf(t, e.do(t, http.MethodPost, orgsPath+"acme-new/deliveries/redeliver", aliceToken, `{"from":"2026-11-01","to":"2026-11-03"}`), http.StatusNotFound, "not_found")
		if len(e.exp.queued) != 0 {
			t.Errorf("queued %v", e.exp.queued)
		}
		e.noAudit(t)
	})
	t.Run("partly queued", func(t *testing.T) {
		e := newEnv(t)
		e.exp.failOn = "2026-11-03"
		w := e.do(t, http.MethodPost, path, aliceToken, `{"from":"2026-11-01","to":"2026-11-05"}`)
		p := problemOf(t, w, http.StatusServiceUnavailable, "redelivery_incomplete")
		var notQueued []string
		for _, n := range p.NotQueued {
			notQueued = append(notQueued, n.Day)
			if n.Reason == "" {
				t.Errorf("not queued %+v without a reason", n)
			}
		}
		if !slices.Equal(p.Queued, []string{"2026-11-01", "2026-11-02"}) || !slices.Equal(notQueued, []string{"2026-11-03", "2026-11-04", "2026-11-05"}) {
			t.Errorf("queued %v, not queued %v", p.Queued, notQueued)
		}
		if strings.Contains(w.Body.String(), "throttled") {
			t.Error("the answer holds the internal error")
		}
		e.oneAudit(t, w, http.MethodPost, "acme", path, "/v1/organizations/:org_id/deliveries/redeliver", http.StatusServiceUnavailable)
	})
	t.Run("nothing queued", func(t *testing.T) {
		e := newEnv(t)
		e.exp.failOn = "2026-11-01"
		p := problemOf(t, e.do(t, http.MethodPost, path, aliceToken, `{"from":"2026-11-01","to":"2026-11-02"}`), http.StatusServiceUnavailable, "redelivery_incomplete")
		if len(p.Queued) != 0 || len(p.NotQueued) != 2 {
			t.Errorf("queued %v not queued %v", p.Queued, p.NotQueued)
		}
		e.noAudit(t)
	})
}

type fakePublicKeys struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (f *fakePublicKeys) Get(_ context.Context, r sas.Residency) (*sas.PublicKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &sas.PublicKey{Residency: r, KeyID: "arn:aws:kms:eu-west-1:111122223333:key/" + string(r), DER: []byte("der of " + string(r)), KeySpec: types.KeySpecRsa4096}, nil
}

type fakeSigningKeys struct{ calls int }

func (f *fakeSigningKeys) PublicKey(context.Context) (signing.PublicKey, error) {
	f.calls++
	return signing.PublicKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/sign", KeySpec: "RSA_4096", DER: []byte("sign"), PEM: "PEM", Fingerprint: "ab"}, nil
}

func TestKMSKeysCache(t *testing.T) {
	pub, sign := &fakePublicKeys{}, &fakeSigningKeys{}
	clock := testNow
	k := &KMSKeys{Encryption: pub, Residencies: []sas.Residency{sas.US, sas.EU}, Signing: sign, Now: func() time.Time { return clock }}
	ctx := context.Background()
	get := func() (KeySet, error) { return k.KeySet(ctx) }

	ks, err := get()
	if err != nil || pub.calls != 2 || sign.calls != 1 {
		t.Fatalf("first: %v, %d and %d fetches", err, pub.calls, sign.calls)
	}
	sum := sha256.Sum256([]byte("der of us"))
	if len(ks.EncryptionKeys) != 2 || ks.EncryptionKeys[0].Residency != sas.US || ks.EncryptionKeys[0].SHA256 != fmt.Sprintf("%x", sum) ||
		ks.EncryptionKeys[1].KeyID != "arn:aws:kms:eu-west-1:111122223333:key/eu" || ks.EncryptionKeys[0].KeySpec != "RSA_4096" ||
		ks.EncryptionKeys[0].EncryptionAlgorithm != "RSAES_OAEP_SHA_256" || !strings.HasPrefix(ks.EncryptionKeys[0].PEM, "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("keys %+v", ks.EncryptionKeys)
	}
	if ks.SigningKey == nil || ks.SigningKey.KeyID != "arn:aws:kms:eu-west-1:111122223333:key/sign" || ks.SigningKey.SigningAlgorithm != signing.Algorithm {
		t.Errorf("signing key %+v", ks.SigningKey)
	}

	clock = clock.Add(KeysTTL - time.Second)
	if _, err := get(); err != nil || pub.calls != 2 || sign.calls != 1 {
		t.Errorf("within KeysTTL: %v, %d and %d fetches, want none more", err, pub.calls, sign.calls)
	}
	clock = clock.Add(time.Second)
	if _, err := get(); err != nil || pub.calls != 4 || sign.calls != 2 {
		t.Errorf("after KeysTTL: %v, %d and %d fetches, want a refetch", err, pub.calls, sign.calls)
	}

	clock = clock.Add(KeysTTL)
	pub.err = errors.New("kms throttled")
	if _, err := get(); err == nil {
		t.Error("an expired cache served when the fetch fails")
	}
	if _, err := get(); err == nil || pub.calls != 6 {
		t.Errorf("an error was cached: %v after %d fetches", err, pub.calls)
	}
	pub.err = nil
	if ks, err := get(); err != nil || pub.calls != 8 || len(ks.EncryptionKeys) != 2 {
		t.Errorf("after the error: %v, %d fetches", err, pub.calls)
	}

	// No signing key configured: none shown, not null.
	k = &KMSKeys{Encryption: &fakePublicKeys{}, Residencies: []sas.Residency{sas.EU}}
	ks, err = k.KeySet(ctx)
	b, _ := json.Marshal(ks)
	if err != nil || ks.SigningKey != nil || strings.Contains(string(b), "signing_key") {
		t.Errorf("without a signing key: %v, %s", err, b)
	}
}

func TestGetKeys(t *testing.T) {
	e := newEnv(t)
	e.keys.ks = KeySet{EncryptionKeys: []EncryptionKey{{Residency: sas.EU, KeyID: "k", KeySpec: "RSA_4096", EncryptionAlgorithm: "RSAES_OAEP_SHA_256", SHA256: "00", PEM: "pem"}}}
	w := e.do(t, http.MethodGet, "/v1/keys", "", "")
	ks := jsonOf[KeySet](t, w, http.StatusOK)
	if len(ks.EncryptionKeys) != 1 || ks.EncryptionKeys[0].KeyID != "k" {
		t.Errorf("keys %+v", ks)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	if e.auth.calls != 0 {
		t.Errorf("the key set asked for authentication %d times", e.auth.calls)
	}
	e.keys.err = errors.New("kms down")
	w = e.do(t, http.MethodGet, "/v1/keys", "", "")
	problemOf(t, w, http.StatusServiceUnavailable, "keys_unavailable")
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("an error's Cache-Control %q", cc)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	const sasSecret = "LOGSIG77"
	e.do(t, http.MethodPut, orgsPath+"acme-eu/destination", aliceToken, azureInput(testCipher))
	e.do(t, http.MethodPut, orgsPath+"acme-eu/destination", aliceToken, azureInput("https://acct01.blob.core.windows.net/logs?sv=1&sig="+sasSecret))
	e.do(t, http.MethodGet, orgsPath+"acme/destination", "Bearer forged-token-9d8e", "")
	e.do(t, http.MethodGet, orgsPath+"acme/deliveries?from=2026-11-01&to=2026-11-02&cursor=x&access_token=qs-secret-1", aliceToken, "")
	e.do(t, http.MethodPost, orgsPath+"acme/deliveries/redeliver", bobToken, `{"from":"2026-11-01","to":"body-secret-2"}`)
	e.rar.err = errors.New("boom")
	e.do(t, http.MethodPut, orgsPath+"acme/destination", aliceToken, strings.Replace(s3Input, "audit", "body-secret-3", 1))
	e.exp.failOn = "2026-11-01"
	e.do(t, http.MethodPost, orgsPath+"acme/deliveries/redeliver", aliceToken, `{"from":"2026-11-01","to":"2026-11-01"}`)

	logs := e.logText()
	if n := strings.Count(logs, `"msg":"api request"`); n != 7 {
		t.Errorf("%d request lines, want 7:\n%s", n, logs)
	}
	for _, s := range []string{
		strings.TrimPrefix(aliceToken, "Bearer "), strings.TrimPrefix(bobToken, "Bearer "), "forged-token-9d8e",
		flatCipher[:24], sasSecret, "qs-secret-1", "body-secret-2", "body-secret-3",
	} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a header value, query value or body (%d bytes of it)", len(s))
		}
	}
	if !strings.Contains(logs, `"actor":"user:alice"`) || !strings.Contains(logs, `"org_id":"acme"`) {
		t.Errorf("log lines without actor or org:\n%s", logs)
	}
}

func TestPanicIsInternalError(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodGet, orgsPath+"acme/destination", panicToken, "")
	p := problemOf(t, w, http.StatusInternalServerError, "internal_error")
	if strings.Contains(w.Body.String(), "exploded") {
		t.Errorf("the panic's value is in the answer: %s", p.Detail)
	}
	e.reg.panics = true
	problemOf(t, e.do(t, http.MethodGet, orgsPath+"acme/destination", aliceToken, ""), http.StatusInternalServerError, "internal_error")
	if l := e.logText(); strings.Count(l, "api: panic") != 2 || !strings.Contains(l, `"status":500`) {
		t.Errorf("log %s: want the panics and their 500s", l)
	}
	e.noAudit(t)
}
