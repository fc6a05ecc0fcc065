package openapitest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records what a Checker reports, so that
// a test can hold the Checker to catching a fault. Only the methods the
// Checker calls are implemented; any other would panic on the nil TB.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic("Fatalf: " + fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errors)
}

// token is sent on the secured routes; it must never be reported.
const token = "Bearer eyJhbGciOiJSUzI1NiJ9.secret-claims.secret-signature"

// serve runs h on 127.0.0.1 for the test.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

// reply writes status, content type and body, with a request id.
func reply(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("X-Request-Id", "req-1")
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const (
	sha   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	keys  = `{"encryption_keys":[{"residency":"us","key_id":"arn:aws:kms:us-east-1:111122223333:key/k","key_spec":"RSA_4096","encryption_algorithm":"RSAES_OAEP_SHA_256","sha256":"` + sha + `","pem":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]}`
	view  = `{"org_id":"acme","kind":"s3","enabled":true,"prefix":"","format":"csv","layout":"flat","registered_at":"2026-10-01T09:30:00Z","updated_at":"2026-10-01T09:30:00Z","s3":{"bucket":"b-1","region":"eu-west-1","role_arn":"arn:aws:iam::123456789012:role/r","external_id":"acme","bucket_owner":"123456789012"}}`
	input = `{"kind":"s3","s3":{"bucket":"b-1","region":"eu-west-1","role_arn":"arn:aws:iam::123456789012:role/r"}}`
)

func problem(status int, code string) string {
	return fmt.Sprintf(`{"type":"https://docs.auditlogs.contentful.com/problems/%s","title":"t","status":%d,"code":"%s","request_id":"req-1"}`, code, status, code)
}

// exchange is one request sent through a Checker to a fake handler, and
// what the Checker must report about it.
type exchange struct {
	name          string
	method, path  string
	body          string
	contentType   string
	auth          bool
	expectInvalid bool
	handler       http.HandlerFunc
	// want are substrings that the one error reported must hold; none
	// means no error may be reported.
	want []string
	// seen is the operation that a valid response marks seen, whether
	// or not the request was valid.
	seen string
}

func TestTransport(t *testing.T) {
	okKeys := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		reply(w, 200, "application/json", keys)
	}
	status := func(code int, ct, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { reply(w, code, ct, body) }
	}
	org := "/v1/organizations/acme"
	for _, x := range []exchange{
		{name: "conforming keys", method: "GET", path: "/v1/keys", handler: okKeys, seen: "getKeys"},
		{name: "wrong type in the response", method: "GET", path: "/v1/keys",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=300")
				reply(w, 200, "application/json", `{"encryption_keys":"none"}`)
			},
			want: []string{"GET /v1/keys -> 200", "response invalid", "encryption_keys"}},
		{name: "no X-Request-Id", method: "GET", path: "/v1/keys",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=300")
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, keys)
			},
			want: []string{"GET /v1/keys -> 200", "X-Request-Id"}},
		{name: "undocumented status", method: "GET", path: "/v1/keys",
			handler: status(http.StatusTeapot, "application/problem+json", problem(418, "teapot")),
			want:    []string{"GET /v1/keys -> 418", "response invalid"}},
		{name: "error as application/json, not a problem", method: "GET", path: org + "/destination", auth: true,
			handler: status(404, "application/json", problem(404, "not_found")),
			want:    []string{"GET /v1/organizations/acme/destination -> 404", "response invalid"}},
		{name: "a secret in the view", method: "GET", path: org + "/destination", auth: true,
			handler: status(200, "application/json", strings.Replace(view, `"enabled"`, `"sas_cipher":"c2VjcmV0","enabled"`, 1)),
			want:    []string{"-> 200", "response invalid", "sas_cipher"}},
		{name: "conforming put", method: "PUT", path: org + "/destination", auth: true, body: input,
			handler: status(201, "application/json", view), seen: "putDestination"},
		{name: "unknown field not expected", method: "PUT", path: org + "/destination", auth: true,
			body:    strings.Replace(input, `"kind"`, `"colour":"red","kind"`, 1),
			handler: status(400, "application/problem+json", problem(400, "unknown_field")),
			want:    []string{"PUT /v1/organizations/acme/destination -> 400", "request invalid", "colour"}, seen: "putDestination"},
		{name: "unknown field expected", method: "PUT", path: org + "/destination", auth: true, expectInvalid: true,
			body:    strings.Replace(input, `"kind"`, `"colour":"red","kind"`, 1),
			handler: status(400, "application/problem+json", problem(400, "unknown_field")), seen: "putDestination"},
		{name: "s3 kind with azure fields", method: "PUT", path: org + "/destination", auth: true,
			body:    `{"kind":"s3","azure":{"residency":"eu","sas_cipher":"YQ=="}}`,
			handler: status(400, "application/problem+json", problem(400, "invalid_field")),
			want:    []string{"request invalid"}, seen: "putDestination"},
		{name: "body not JSON", method: "PUT", path: org + "/destination", auth: true, expectInvalid: true,
			body: "kind=s3", contentType: "text/plain",
			handler: status(415, "application/problem+json", problem(415, "unsupported_media_type")), seen: "putDestination"},
		{name: "oversized body not expected", method: "PUT", path: org + "/destination", auth: true,
			body:    input + strings.Repeat(" ", 64<<10),
			handler: status(413, "application/problem+json", problem(413, "body_too_large")),
			want:    []string{"PUT /v1/organizations/acme/destination -> 413", "request invalid", "x-max-body-bytes"}, seen: "putDestination"},
		{name: "oversized body expected", method: "PUT", path: org + "/destination", auth: true, expectInvalid: true,
			body:    input + strings.Repeat(" ", 64<<10),
			handler: status(413, "application/problem+json", problem(413, "body_too_large")), seen: "putDestination"},
		{name: "body at the limit", method: "PUT", path: org + "/destination", auth: true,
			body:    input + strings.Repeat(" ", 64<<10-len(input)),
			handler: status(200, "application/json", view), seen: "putDestination"},
		{name: "expected invalid but valid", method: "PUT", path: org + "/destination", auth: true, expectInvalid: true, body: input,
			handler: status(200, "application/json", view),
			want:    []string{"PUT /v1/organizations/acme/destination -> 200", "request expected invalid was valid"}, seen: "putDestination"},
		{name: "bad date", method: "GET", path: org + "/deliveries?from=2026-13-01&to=2026-10-02", auth: true,
			handler: status(400, "application/problem+json", problem(400, "invalid_query")),
			want:    []string{"GET /v1/organizations/acme/deliveries -> 400", "request invalid", "from"}, seen: "listDeliveries"},
		{name: "missing required query", method: "GET", path: org + "/deliveries?from=2026-10-01", auth: true, expectInvalid: true,
			handler: status(400, "application/problem+json", problem(400, "invalid_query")), seen: "listDeliveries"},
		{name: "limit out of range", method: "GET", path: org + "/deliveries?from=2026-10-01&to=2026-10-02&limit=101", auth: true,
			handler: status(400, "application/problem+json", problem(400, "invalid_query")),
			want:    []string{"request invalid", "limit"}, seen: "listDeliveries"},
		{name: "no token", method: "POST", path: org + "/destination/pause",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", "Bearer")
				reply(w, 401, "application/problem+json", problem(401, "unauthorized"))
			},
			want: []string{"POST /v1/organizations/acme/destination/pause -> 401", "request invalid", "Authorization"}, seen: "pauseDestination"},
		{name: "401 without WWW-Authenticate", method: "POST", path: org + "/destination/pause", auth: true,
			handler: status(401, "application/problem+json", problem(401, "unauthorized")),
			want:    []string{"-> 401", "response invalid", "WWW-Authenticate"}},
		{name: "204 delete", method: "DELETE", path: org + "/destination", auth: true,
			handler: status(204, "", ""), seen: "deleteDestination"},
		{name: "redeliver with an extra field", method: "POST", path: org + "/deliveries/redeliver", auth: true,
			body:    `{"from":"2026-10-01","to":"2026-10-02","force":true}`,
			handler: status(202, "application/json", `{"org_id":"acme","from":"2026-10-01","to":"2026-10-02","queued":["2026-10-01"]}`),
			want:    []string{"request invalid", "force"}, seen: "redeliver"},
		{name: "method the route lacks", method: "DELETE", path: "/v1/keys", expectInvalid: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", "GET")
				reply(w, 405, "application/problem+json", problem(405, "method_not_allowed"))
			}},
		{name: "405 without Allow", method: "DELETE", path: "/v1/keys", expectInvalid: true,
			handler: status(405, "application/problem+json", problem(405, "method_not_allowed")),
			want:    []string{"DELETE /v1/keys -> 405", "Allow"}},
		{name: "path the document lacks", method: "GET", path: "/v1/nothing", expectInvalid: true,
			handler: status(404, "application/problem+json", problem(404, "not_found"))},
		{name: "path the document lacks, answered 200", method: "GET", path: "/v1/nothing", expectInvalid: true,
			handler: status(200, "application/json", `{}`),
			want:    []string{"GET /v1/nothing -> 200", "must be 404"}},
	} {
		t.Run(x.name, func(t *testing.T) {
			var sent string
			base := serve(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				sent = string(b)
				x.handler(w, r)
			})
			rec := &recorder{}
			c := New(rec)
			var body io.Reader
			if x.body != "" {
				body = strings.NewReader(x.body)
			}
			req, err := http.NewRequest(x.method, base+x.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if x.body != "" {
				ct := x.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if x.auth {
				req.Header.Set("Authorization", token)
			}
			if x.expectInvalid {
				req = c.ExpectInvalidRequest(req)
			}
			resp, err := c.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}

			// The request reached the handler whole, and the caller reads
			// the response the handler wrote.
			if sent != x.body {
				t.Errorf("the handler read %q, want %q", sent, x.body)
			}
			want := httptest.NewRecorder()
			x.handler(want, req)
			if string(got) != want.Body.String() {
				t.Errorf("the caller read %q, want %q", got, want.Body.String())
			}

			reported := rec.reported()
			for _, e := range reported {
				t.Log(e)
			}
			for _, e := range reported {
				if strings.Contains(e, "secret") {
					t.Errorf("the token is in a report: %s", e)
				}
			}
			switch {
			case len(x.want) == 0 && len(reported) > 0:
				t.Errorf("reported, want nothing:\n%s", strings.Join(reported, "\n"))
			case len(x.want) > 0 && len(reported) != 1:
				t.Errorf("reported %d errors, want 1:\n%s", len(reported), strings.Join(reported, "\n"))
			case len(x.want) > 0:
				for _, w := range x.want {
					if !strings.Contains(reported[0], w) {
						t.Errorf("report does not hold %q:\n%s", w, reported[0])
					}
				}
			}
			var wantSeen []string
			if x.seen != "" {
				wantSeen = []string{x.seen}
			}
			if s := c.Seen(); !slices.Equal(s, wantSeen) {
				t.Errorf("seen %v, want %v", s, wantSeen)
			}
		})
	}
}

// TestRequireAllSeen: it names every operation no response exercised,
// and is satisfied once each was.
func TestRequireAllSeen(t *testing.T) {
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		reply(w, 200, "application/json", keys)
	})
	rec := &recorder{}
	c := New(rec)
	resp, err := c.Client().Get(base + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := rec.reported(); len(r) > 0 {
		t.Fatalf("a conforming exchange reported: %v", r)
	}

	check := &recorder{}
	c.RequireAllSeen(check)
	r := check.reported()
	if len(r) != 1 {
		t.Fatalf("RequireAllSeen reported %v, want one error", r)
	}
	for _, id := range c.Operations() {
		if strings.Contains(r[0], id) != (id != "getKeys") {
			t.Errorf("RequireAllSeen's report %q: %s named wrongly (only getKeys was seen)", r[0], id)
		}
	}

	for _, id := range c.Operations() {
		c.markSeen(id)
	}
	done := &recorder{}
	c.RequireAllSeen(done)
	if r := done.reported(); len(r) > 0 {
		t.Errorf("all seen, still reported %v", r)
	}
}

// TestParseRefusesInvalidDocuments: a document the checks could not rely
// on is refused, not half used.
func TestParseRefusesInvalidDocuments(t *testing.T) {
	const (
		head    = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
		problem = "components:\n  schemas:\n    Problem: {type: object}\n"
		op      = "paths:\n  /a:\n    post:\n      operationId: a\n      responses:\n        '200': {description: ok}\n"
	)
	if _, err := parse([]byte(head + op + problem)); err != nil {
		t.Fatalf("the smallest valid document: %v", err)
	}
	for name, c := range map[string]struct{ doc, want string }{
		"not OpenAPI":     {"hello: world\n", "parse"},
		"breaks the spec": {strings.Replace(head, ", version: '1'", "", 1) + op + problem, "invalid"},
		"no operationId":  {head + strings.Replace(op, "      operationId: a\n", "", 1) + problem, "no operationId"},
		"operationId twice": {head + op + "  /b:\n    get:\n      operationId: a\n      responses:\n        '200': {description: ok}\n" + problem,
			"used twice"},
		"no Problem": {head + op, "no Problem"},
		"bad body limit": {head + strings.Replace(op, "      responses:", "      requestBody:\n        x-max-body-bytes: lots\n        content:\n          application/json: {schema: {type: object}}\n      responses:", 1) + problem,
			"x-max-body-bytes"},
	} {
		_, err := parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one about %q", name, err, c.want)
		}
	}
}

// TestConcurrent: one Checker serves parallel tests (run with -race).
func TestConcurrent(t *testing.T) {
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			reply(w, 200, "application/json", view)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		reply(w, 200, "application/json", keys)
	})
	rec := &recorder{}
	c := New(rec)
	client := c.Client()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				var req *http.Request
				if i%2 == 0 {
					req, _ = http.NewRequest(http.MethodGet, base+"/v1/keys", nil)
				} else {
					req, _ = http.NewRequest(http.MethodPut, base+"/v1/organizations/acme/destination", strings.NewReader(input))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", token)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if r := rec.reported(); len(r) > 0 {
		t.Errorf("conforming exchanges reported: %v", r)
	}
	if s := c.Seen(); !slices.Equal(s, []string{"getKeys", "putDestination"}) {
		t.Errorf("seen %v", s)
	}
}
