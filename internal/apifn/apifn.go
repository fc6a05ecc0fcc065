// Package apifn is the HTTP API Lambda's handler, a thin adapter between
// API Gateway's HTTP API (payload format 2.0) and a plain net/http
// handler (internal/api, which `auditctl api serve` serves locally as it
// is): it turns the event into an *http.Request (method, raw path and
// query, headers, cookies, body, the source IP, and API Gateway's request
// ID as X-Request-Id, replacing whatever the caller sent), runs the handler, and
// turns what it wrote back into the response API Gateway expects.
//
// apifn holds no API logic: routes, tokens and problems are the handler's.
// It refuses only what it cannot hand over (a body it cannot decode, or
// one over MaxBody), with a problem of its own. Only functions/api (and
// tests) import it; it imports nothing of the module.
package apifn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBody is the largest request body handed to the handler. API Gateway
// takes up to 10 MB; the API's bodies are small (its handler refuses more
// than 64 KiB with its own problem), so a body this large is no request
// of the API's and is refused here, before it is copied again.
const MaxBody = 1 << 20

// RequestIDHeader carries the request's ID: API Gateway's (the one its
// access log holds), never the caller's. The API names the audit event
// of a change by it, and the log store keeps one event per org and
// request ID: a caller who chose the ID could replace the record of an
// earlier change.
const RequestIDHeader = "X-Request-Id"

// Handler serves HTTP API events with HTTP.
type Handler struct {
	HTTP http.Handler
}

// Handle runs one request. It returns no error: whatever goes wrong is a
// response, which carries the request ID; an error would be API
// Gateway's bare 500 without one.
func (h *Handler) Handle(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, status, err := request(ctx, e)
	if err != nil {
		return problem(status, err.Error(), e), nil
	}
	w := newRecorder()
	h.HTTP.ServeHTTP(w, req)
	return w.response(req.Method), nil
}

// request is the *http.Request of e, with ctx; on error, the status to
// answer with.
func request(ctx context.Context, e events.APIGatewayV2HTTPRequest) (*http.Request, int, error) {
	body := []byte(e.Body)
	if e.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return nil, http.StatusBadRequest, errBadEncoding
		}
		body = b
	}
	if len(body) > MaxBody {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge
	}
	path := e.RawPath
	if path == "" {
		path = e.RequestContext.HTTP.Path
	}
	target := path
	if e.RawQueryString != "" {
		target += "?" + e.RawQueryString
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, http.StatusBadRequest, errBadTarget
	}
	method := e.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, http.StatusBadRequest, errBadTarget
	}
	req.URL, req.RequestURI = u, target
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	proto := e.RequestContext.HTTP.Protocol
	if major, minor, ok := http.ParseHTTPVersion(proto); ok {
		req.Proto, req.ProtoMajor, req.ProtoMinor = proto, major, minor
	}
	// API Gateway sends each header once, lowercased, with repeated
	// values joined by commas, which is how HTTP joins them too.
	for k, v := range e.Headers {
		req.Header.Set(k, v)
	}
	if len(e.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(e.Cookies, "; "))
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	} else if e.RequestContext.DomainName != "" {
		req.Host = e.RequestContext.DomainName
	}
	req.Header.Del("Host") // as net/http's server does: it is req.Host
	req.Header.Del(RequestIDHeader)
	if e.RequestContext.RequestID != "" {
		req.Header.Set(RequestIDHeader, e.RequestContext.RequestID)
	}
	if ip := e.RequestContext.HTTP.SourceIP; ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "0") // "IP:port", as net/http's server sets it; Lambda knows no port
	}
	return req, 0, nil
}

type adapterError string

func (e adapterError) Error() string { return string(e) }

const (
	errBadEncoding adapterError = "the request body is not valid base64"
	errTooLarge    adapterError = "the request body is larger than 1 MiB"
	errBadTarget   adapterError = "the request's path or query is malformed"
)

// problem is an RFC 9457 problem for a request the adapter refused, in
// the shape of the handler's own.
func problem(status int, detail string, e events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	id := e.RequestContext.RequestID
	code := map[int]string{http.StatusBadRequest: "bad_request", http.StatusRequestEntityTooLarge: "body_too_large"}[status]
	path := e.RawPath
	if path == "" {
		path = e.RequestContext.HTTP.Path
	}
	b, _ := json.Marshal(map[string]any{
		"type": "https://docs.auditlogs.contentful.com/problems/" + code, "title": http.StatusText(status), "status": status,
		"detail": detail, "instance": path, "code": code, "request_id": id,
	})
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/problem+json", RequestIDHeader: id},
		Body:       string(b),
	}
}

// recorder is the http.ResponseWriter the handler writes to: the status
// of the first WriteHeader (200 at the first Write), the headers as they
// were then, and the body.
type recorder struct {
	header  http.Header
	sent    http.Header
	status  int
	body    bytes.Buffer
	written bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.written || status < 100 || status > 999 {
		return
	}
	if status < 200 { // informational: not the response (net/http sends them ahead)
		return
	}
	r.written, r.status, r.sent = true, status, r.header.Clone()
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.written {
		if r.header.Get("Content-Type") == "" && r.header.Get("Transfer-Encoding") == "" {
			// What net/http's server does: the local server and Lambda
			// answer alike.
			r.header.Set("Content-Type", http.DetectContentType(b))
		}
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(b)
}

// response is what was written, as API Gateway takes it: one value per
// header (repeated values joined with commas, as payload format 2.0 has
// no multi-value headers), Set-Cookie as the cookies (which a comma would
// break), and the body as text if it is text, base64 otherwise.
func (r *recorder) response(method string) events.APIGatewayV2HTTPResponse {
	if !r.written {
		r.WriteHeader(http.StatusOK)
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: r.status, Headers: map[string]string{}}
	for k, vs := range r.sent {
		if k == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ",")
	}
	body := r.body.Bytes()
	if method == http.MethodHead || r.status == http.StatusNoContent || r.status == http.StatusNotModified {
		return out // no body, as net/http's server sends none
	}
	if textual(r.sent.Get("Content-Type")) && utf8.Valid(body) {
		out.Body = string(body)
	} else {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return out
}

// textual reports a media type whose bodies are text: text/*, JSON and
// XML (with their +json and +xml kinds, problem+json among them), and
// none at all (an empty body).
func textual(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), mt == "application/json", mt == "application/xml", mt == "application/javascript",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}
