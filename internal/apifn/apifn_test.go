package apifn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/contentful/auditlogs/internal/apifn"
)

// seen is what the handler was handed.
type seen struct {
	method, uri, path, query, host, remote, proto string
	header                                        http.Header
	cookies                                       []*http.Cookie
	body                                          []byte
	length                                        int64
	ctx                                           context.Context
}

// recording is an http.Handler that records its request and answers with
// answer.
func recording(got *seen, answer http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			panic(err)
		}
		*got = seen{method: r.Method, uri: r.RequestURI, path: r.URL.Path, query: r.URL.RawQuery, host: r.Host, remote: r.RemoteAddr, proto: r.Proto,
			header: r.Header.Clone(), cookies: r.Cookies(), body: b, length: r.ContentLength, ctx: r.Context()}
		answer(w, r)
	})
}

// invoke runs payload through the handler as the Lambda runtime does
// (lambda.NewHandler: JSON in, JSON out) and decodes the response.
func invoke(t *testing.T, h http.Handler, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	raw, err := lambda.NewHandler((&apifn.Handler{HTTP: h}).Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func event(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(fixture(t, name), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestGetDestination: events/api-get-destination.json reaches the handler
// as the request it stands for, with API Gateway's request ID as
// X-Request-Id, and the JSON answer comes back as text.
func TestGetDestination(t *testing.T) {
	var got seen
	resp := invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
		io.WriteString(w, `{"org_id":"acme","kind":"s3"}`)
	}), fixture(t, "api-get-destination.json"))

	if got.method != "GET" || got.path != "/v1/organizations/acme/destination" || got.uri != "/v1/organizations/acme/destination" || got.query != "" {
		t.Errorf("request %s %s (path %s, query %q)", got.method, got.uri, got.path, got.query)
	}
	if got.header.Get("X-Request-Id") != "Fz3kQgR0joEEMXA=" {
		t.Errorf("X-Request-Id %q, want API Gateway's request ID", got.header.Get("X-Request-Id"))
	}
	if !strings.HasPrefix(got.header.Get("Authorization"), "Bearer ") || got.header.Get("Accept") != "application/json" {
		t.Error("the Authorization or Accept header did not reach the handler as sent")
	}
	if got.host != "abc123defg.execute-api.eu-west-1.amazonaws.com" || got.header.Get("Host") != "" {
		t.Errorf("host %q (header %q), want the request's host in Request.Host only", got.host, got.header.Get("Host"))
	}
	if got.remote != "198.51.100.7:0" || got.proto != "HTTP/1.1" {
		t.Errorf("remote address %q, protocol %q", got.remote, got.proto)
	}
	if len(got.cookies) != 1 || got.cookies[0].Name != "session" {
		t.Errorf("cookies %v, want the event's", got.cookies)
	}
	if len(got.body) != 0 || got.length != 0 {
		t.Errorf("a GET with a body of %d bytes (length %d)", len(got.body), got.length)
	}
	if resp.StatusCode != 200 || resp.IsBase64Encoded || resp.Body != `{"org_id":"acme","kind":"s3"}` ||
		resp.Headers["Content-Type"] != "application/json" || resp.Headers["X-Request-Id"] != "Fz3kQgR0joEEMXA=" {
		t.Errorf("response %+v", resp)
	}
}

// TestPutDestination: the PUT fixture's body, query and the caller's own
// request ID reach the handler; a 201 with a Location comes back.
func TestPutDestination(t *testing.T) {
	var got seen
	resp := invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", r.URL.Path)
		w.WriteHeader(http.StatusCreated)
		w.Write(bytes.ToUpper([]byte(`{"kind":"s3"}`)))
	}), fixture(t, "api-put-destination.json"))

	e := event(t, "api-put-destination.json")
	if got.method != "PUT" || got.query != "dry_run=false&note=a%20b" || got.uri != "/v1/organizations/acme/destination?dry_run=false&note=a%20b" {
		t.Errorf("request %s %s (query %q)", got.method, got.uri, got.query)
	}
	if string(got.body) != e.Body || got.length != int64(len(e.Body)) || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("body %q (length %d, type %q), want the event's", got.body, got.length, got.header.Get("Content-Type"))
	}
	var in struct {
		Kind string `json:"kind"`
		S3   struct {
			Bucket string `json:"bucket"`
		} `json:"s3"`
	}
	if err := json.Unmarshal(got.body, &in); err != nil || in.Kind != "s3" || in.S3.Bucket != "acme-audit-logs" {
		t.Errorf("the body does not decode as the destination: %+v, %v", in, err)
	}
	// The caller sent X-Request-Id: client-chosen-id-1. API Gateway's
	// replaces it: audit events are named by it.
	if got.header.Get("X-Request-Id") != "Fz3kRhT1joEEMXB=" || len(got.header.Values("X-Request-Id")) != 1 {
		t.Errorf("X-Request-Id %q, want API Gateway's request ID alone", got.header.Values("X-Request-Id"))
	}
	if resp.StatusCode != 201 || resp.Headers["Location"] != "/v1/organizations/acme/destination" || resp.Body != `{"KIND":"S3"}` {
		t.Errorf("response %+v", resp)
	}
}

// TestBase64Body: a body API Gateway sent in base64 reaches the handler
// decoded; a binary answer goes back in base64, a text one as text.
func TestBase64Body(t *testing.T) {
	e := event(t, "api-put-destination.json")
	raw := []byte{0x00, 0xff, 0x10, 'x'}
	e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(raw), true
	var got seen
	h := recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(raw)
	})
	resp := invoke(t, h, marshal(t, e))
	if !bytes.Equal(got.body, raw) {
		t.Errorf("body %x, want %x", got.body, raw)
	}
	if !resp.IsBase64Encoded || resp.Body != base64.StdEncoding.EncodeToString(raw) {
		t.Errorf("binary response %+v, want it in base64", resp)
	}
	// Text that is not valid UTF-8 is not text either.
	resp = invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte{0xff, 0xfe})
	}), marshal(t, e))
	if !resp.IsBase64Encoded {
		t.Errorf("invalid UTF-8 as text: %+v", resp)
	}
	e.Body = "%%%not base64"
	resp = invoke(t, h, marshal(t, e))
	if resp.StatusCode != 400 || resp.Headers["Content-Type"] != "application/problem+json" {
		t.Errorf("a body that is not base64: %+v", resp)
	}
}

// TestHeadersBack: repeated headers are joined with commas, as payload
// format 2.0 takes them; Set-Cookie goes back as cookies; the status is
// the first WriteHeader's, and a handler that writes nothing answers 200.
func TestHeadersBack(t *testing.T) {
	var got seen
	resp := invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("Set-Cookie", "b=2, c=3; Path=/")
		w.Header().Set("Allow", "GET, PUT, DELETE")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.WriteHeader(http.StatusOK)  // ignored, as net/http ignores it
		w.Header().Set("X-Late", "1") // after the status: not sent
	}), fixture(t, "api-get-destination.json"))
	if resp.StatusCode != 405 || resp.Headers["Vary"] != "Accept,Origin" || resp.Headers["Allow"] != "GET, PUT, DELETE" {
		t.Errorf("response %+v", resp)
	}
	if _, late := resp.Headers["X-Late"]; late {
		t.Error("a header set after WriteHeader was sent")
	}
	if len(resp.Cookies) != 2 || resp.Cookies[1] != "b=2, c=3; Path=/" {
		t.Errorf("cookies %q", resp.Cookies)
	}
	if _, ok := resp.Headers["Set-Cookie"]; ok {
		t.Error("Set-Cookie among the headers")
	}
	resp = invoke(t, recording(&got, func(http.ResponseWriter, *http.Request) {}), fixture(t, "api-get-destination.json"))
	if resp.StatusCode != 200 || resp.Body != "" || resp.IsBase64Encoded {
		t.Errorf("nothing written: %+v", resp)
	}
	// A 204 has no body, whatever the handler wrote.
	resp = invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		w.Write([]byte("ignored"))
	}), fixture(t, "api-get-destination.json"))
	if resp.StatusCode != 204 || resp.Body != "" {
		t.Errorf("204: %+v", resp)
	}
	// No Content-Type: sniffed, as net/http's server does.
	resp = invoke(t, recording(&got, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>hi</body></html>")
	}), fixture(t, "api-get-destination.json"))
	if !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || resp.IsBase64Encoded {
		t.Errorf("sniffed: %+v", resp)
	}
}

// TestTooLarge: a body over MaxBody is refused with a problem naming the
// request, without calling the handler; one of MaxBody is handed over.
func TestTooLarge(t *testing.T) {
	e := event(t, "api-put-destination.json")
	called := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })
	e.Body = strings.Repeat("a", apifn.MaxBody+1)
	resp := invoke(t, h, marshal(t, e))
	if called {
		t.Error("the handler was called with a body over the limit")
	}
	var p struct {
		Status    int    `json:"status"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
		Instance  string `json:"instance"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 || resp.Headers["Content-Type"] != "application/problem+json" || resp.Headers["X-Request-Id"] != "Fz3kRhT1joEEMXB=" ||
		p.Status != 413 || p.Code == "" || p.RequestID != "Fz3kRhT1joEEMXB=" || p.Instance != "/v1/organizations/acme/destination" {
		t.Errorf("response %d %v, problem %+v", resp.StatusCode, resp.Headers, p)
	}
	e.Body = strings.Repeat("a", apifn.MaxBody)
	if resp := invoke(t, h, marshal(t, e)); !called || resp.StatusCode != 200 {
		t.Errorf("a body of MaxBody: called %t, status %d", called, resp.StatusCode)
	}
}

// TestContext: the handler runs with the invocation's context.
func TestContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "invocation")
	var got seen
	h := &apifn.Handler{HTTP: recording(&got, func(http.ResponseWriter, *http.Request) {})}
	if _, err := h.Handle(ctx, event(t, "api-get-destination.json")); err != nil {
		t.Fatal(err)
	}
	if got.ctx.Value(key{}) != "invocation" {
		t.Error("the request's context is not the invocation's")
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
