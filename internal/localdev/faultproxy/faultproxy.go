// Package faultproxy is a fault-injecting HTTP reverse proxy for tests: it
// listens on 127.0.0.1, forwards every request to one upstream (an
// emulator: moto_server, local-kms, Azurite) and, for requests that match
// one of its rules, answers an error of its own, resets the connection in
// the middle of the request or the response, or delays the request.
//
// A rule matches on the method, the path (substring or regexp), query
// parameters (partNumber, uploadId, comp=block, comp=blocklist), headers
// (X-Amz-Target: DynamoDB_20120810.Query, TrentService.Decrypt), the
// parameters of a form-encoded body (Action=AssumeRole) or a substring of
// the body. It fires for the first Times matches (or always) and counts
// its matches and hits.
//
// Forwarded requests keep their Host header (the one the client signed)
// and every end-to-end header, so a signature over the host, the path and
// the query (SigV4, an Azure SAS) is the same upstream as at the proxy.
// S3 clients must use path-style addressing: the proxy's host is an IP
// address and port, not a bucket subdomain.
//
// Tests only: production code imports it only from _test.go files. It
// imports only the standard library, so that any package's tests can put
// it in front of an emulator without a cycle.
package faultproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is what a firing rule does.
type Kind int

const (
	// Forward passes the request on (after Delay): a rule that only
	// counts or delays.
	Forward Kind = iota
	// Respond answers Status, Header and Body without forwarding; the
	// request body is read to its end first, as a server does before it
	// answers an upload.
	Respond
	// ResetRequest forwards the request with only the first AfterBytes
	// of its body, then resets the client's connection (TCP RST) and
	// drops the upstream request half-sent.
	ResetRequest
	// ResetResponse forwards the request whole, then sends the client the
	// upstream's status, headers and the first AfterBytes of the body
	// (announcing the full length) and resets the connection: the
	// upstream did the work, the client never learns it.
	ResetResponse
	// Serialize forwards the rule's requests one at a time: each waits
	// until the previous one was answered. It makes an emulator that
	// applies concurrent requests non-atomically (moto's conditional
	// writes) behave like the service, which applies them one by one.
	Serialize
)

func (k Kind) String() string {
	switch k {
	case Forward:
		return "forward"
	case Respond:
		return "respond"
	case ResetRequest:
		return "reset-request"
	case ResetResponse:
		return "reset-response"
	case Serialize:
		return "serialize"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Action is what a rule does when it fires.
type Action struct {
	Kind Kind
	// Delay is waited, once the request's body was read, before the rest
	// of the action (or before forwarding, for Forward); a client that
	// gives up meanwhile ends it, and nothing goes upstream.
	Delay time.Duration
	// Gate, when set, holds the request after Delay until it is closed,
	// or until the client gives up, which ends it (see Rule.Dropped): a
	// request held back until the test says so.
	Gate <-chan struct{}
	// Status, Header and Body are the answer of Respond.
	Status int
	Header http.Header
	Body   string
	// AfterBytes is how much of the request (ResetRequest) or response
	// (ResetResponse) body gets through before the reset.
	AfterBytes int64
}

// Rule matches requests and acts on the first Times of them. Set the
// matching fields and the action before adding the rule to a proxy; read
// its counters at any time.
type Rule struct {
	Name string
	// Method, when set, must equal the request's method.
	Method string
	// Path, when set, must be a substring of the request's path, decoded
	// or as sent.
	Path string
	// PathRegexp, when set, must match the request's path, decoded or as
	// sent.
	PathRegexp *regexp.Regexp
	// Query lists query parameters that must be present; a non-empty
	// value must also equal the parameter's value ({"partNumber": ""},
	// {"comp": "blocklist"}).
	Query map[string]string
	// Header lists headers that must equal the given values
	// ({"X-Amz-Target": "DynamoDB_20120810.Query"}).
	Header map[string]string
	// Form lists parameters of an application/x-www-form-urlencoded body
	// that must equal the given values ({"Action": "AssumeRole"}).
	Form map[string]string
	// BodyContains, when set, must be a substring of the request body.
	// Form and BodyContains buffer the body of requests up to
	// MaxMatchBody bytes; a larger body never matches them.
	BodyContains string
	// Times is how many matches fire the rule; 0 means every one.
	Times int
	Action

	mu      sync.Mutex
	matches int
	hits    int
	dropped int
	serial  sync.Mutex // held while a Serialize rule's request is forwarded
}

// MaxMatchBody is the largest request body that Form and BodyContains look
// into.
const MaxMatchBody = 1 << 20

// Matches is how many requests matched the rule, fired or not.
func (r *Rule) Matches() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.matches
}

// Hits is how many times the rule fired.
func (r *Rule) Hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

// Dropped is how many of the requests the rule held back (Delay, Gate)
// were given up by their client meanwhile, so that nothing of them went
// upstream.
func (r *Rule) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *Rule) String() string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("%s %s%s", r.Method, r.Path, r.Kind)
}

func (r *Rule) needsBody() bool { return len(r.Form) > 0 || r.BodyContains != "" }

// match tells whether req (with body, when the rule needed it and it was
// small enough) matches.
func (r *Rule) match(req *http.Request, body []byte, bodyOK bool) bool {
	if r.Method != "" && !strings.EqualFold(r.Method, req.Method) {
		return false
	}
	// Clients escape differently (azblob sends "/" inside a blob name as
	// %2F): the path matches in its decoded or its escaped form.
	path, escaped := req.URL.Path, req.URL.EscapedPath()
	if r.Path != "" && !strings.Contains(path, r.Path) && !strings.Contains(escaped, r.Path) {
		return false
	}
	if r.PathRegexp != nil && !r.PathRegexp.MatchString(path) && !r.PathRegexp.MatchString(escaped) {
		return false
	}
	if len(r.Query) > 0 {
		q := req.URL.Query()
		for k, v := range r.Query {
			if !q.Has(k) || v != "" && q.Get(k) != v {
				return false
			}
		}
	}
	for k, v := range r.Header {
		if req.Header.Get(k) != v {
			return false
		}
	}
	if r.needsBody() {
		if !bodyOK {
			return false
		}
		if r.BodyContains != "" && !bytes.Contains(body, []byte(r.BodyContains)) {
			return false
		}
		if len(r.Form) > 0 {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return false
			}
			for k, v := range r.Form {
				if form.Get(k) != v {
					return false
				}
			}
		}
	}
	return true
}

// fire counts a match and tells whether the rule acts on it.
func (r *Rule) fire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.matches++
	if r.Times > 0 && r.hits >= r.Times {
		return false
	}
	r.hits++
	return true
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:port), Host its
	// host:port.
	URL  string
	Host string

	upstream  *url.URL
	ln        net.Listener
	srv       *http.Server
	rp        *httputil.ReverseProxy
	transport *http.Transport

	mu       sync.Mutex
	rules    []*Rule
	requests int
}

// Start starts a proxy on a free port of 127.0.0.1 in front of upstream
// (http://host:port). Close it when done.
func Start(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %q: %w", upstream, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q: want http://host:port", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{upstream: u, ln: ln, Host: ln.Addr().String()}
	p.URL = "http://" + p.Host
	p.transport = &http.Transport{
		Proxy:               nil, // never an HTTP_PROXY of the environment
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		// Pass bodies as they are: no Accept-Encoding added, nothing
		// decompressed on the way.
		DisableCompression: true,
		IdleConnTimeout:    30 * time.Second,
	}
	quiet := log.New(io.Discard, "", 0)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The Host the client signed, not the upstream's.
			pr.Out.Host = pr.In.Host
			// The proxy's server answered any 100-continue already.
			pr.Out.Header.Del("Expect")
		},
		Transport: p.transport,
		ErrorLog:  quiet,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ErrorLog: quiet, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	return err
}

// Add adds rules after those the proxy has; the first rule that matches a
// request and has hits left acts on it.
func (p *Proxy) Add(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rules...)
}

// Prepend adds rules before those the proxy has: they are tried first.
func (p *Proxy) Prepend(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(append([]*Rule(nil), rules...), p.rules...)
}

// Remove removes a rule; its counters stay readable.
func (p *Proxy) Remove(r *Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.rules {
		if x == r {
			p.rules = append(p.rules[:i:i], p.rules[i+1:]...)
			return
		}
	}
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Requests is how many requests the proxy received.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// ServeHTTP applies the first firing rule, or forwards.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	p.requests++
	rules := append([]*Rule(nil), p.rules...)
	p.mu.Unlock()

	var body []byte
	bodyOK, bodyRead := false, false
	for _, r := range rules {
		if r.needsBody() && !bodyRead {
			bodyRead = true
			body, bodyOK = readSmallBody(req)
		}
		if r.match(req, body, bodyOK) && r.fire() {
			if r.Kind == Serialize {
				r.serial.Lock()
				defer r.serial.Unlock()
			}
			p.act(w, req, r)
			return
		}
	}
	p.rp.ServeHTTP(w, req)
}

// readSmallBody reads a body of up to MaxMatchBody bytes and puts it back
// for forwarding; a larger one is put back unread as far as possible.
func readSmallBody(req *http.Request) ([]byte, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true
	}
	if req.ContentLength > MaxMatchBody {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, MaxMatchBody+1))
	rest := req.Body
	req.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rest), rest}
	if err != nil || len(b) > MaxMatchBody {
		return nil, false
	}
	return b, true
}

func (p *Proxy) act(w http.ResponseWriter, req *http.Request, r *Rule) {
	a := r.Action
	gone := func() {
		r.mu.Lock()
		r.dropped++
		r.mu.Unlock()
	}
	if a.Delay > 0 || a.Gate != nil {
		// The request is read whole first, as a server reads an upload
		// before it answers: then the held request is the client's
		// waiting for the answer, and the server notices when the
		// client gives up (net/http cancels the request's context once
		// it has read the body and sees the connection close).
		b, err := io.ReadAll(req.Body)
		if err != nil {
			gone()
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	if a.Delay > 0 {
		t := time.NewTimer(a.Delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			gone()
			return
		}
	}
	if a.Gate != nil {
		select {
		case <-a.Gate:
		case <-req.Context().Done():
			gone()
			return
		}
	}
	switch a.Kind {
	case Respond:
		_, _ = io.Copy(io.Discard, req.Body)
		for k, vs := range a.Header {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
	case ResetRequest:
		p.resetRequest(w, req, a.AfterBytes)
	case ResetResponse:
		p.resetResponse(w, req, a.AfterBytes)
	default:
		p.rp.ServeHTTP(w, req)
	}
}

var errCut = errors.New("faultproxy: request body cut")

// cutReader passes n bytes, then fails.
type cutReader struct {
	r io.Reader
	n int64
}

func (c *cutReader) Read(b []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	if int64(len(b)) > c.n {
		b = b[:c.n]
	}
	n, err := c.r.Read(b)
	c.n -= int64(n)
	if err == io.EOF && c.n > 0 {
		return n, io.EOF // the whole body was shorter than the cut
	}
	return n, err
}

// outRequest is req as sent upstream, with body.
func (p *Proxy) outRequest(ctx context.Context, req *http.Request, body io.Reader) (*http.Request, error) {
	u := *p.upstream
	u.Path, u.RawPath = req.URL.Path, req.URL.RawPath
	u.RawQuery = req.URL.RawQuery
	out, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	out.Header = req.Header.Clone()
	out.Header.Del("Expect")
	out.Host = req.Host
	out.ContentLength = req.ContentLength
	if req.ContentLength == 0 || body == nil {
		out.Body = http.NoBody
	}
	return out, nil
}

func (p *Proxy) resetRequest(w http.ResponseWriter, req *http.Request, after int64) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	out, err := p.outRequest(ctx, req, &cutReader{r: req.Body, n: after})
	if err == nil {
		// Fails once the cut is reached: the upstream sees the request
		// start and its connection drop.
		if resp, rerr := p.transport.RoundTrip(out); rerr == nil {
			resp.Body.Close()
		}
	}
	reset(w)
}

func (p *Proxy) resetResponse(w http.ResponseWriter, req *http.Request, after int64) {
	out, err := p.outRequest(req.Context(), req, req.Body)
	if err != nil {
		reset(w)
		return
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		reset(w)
		return
	}
	full, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn, buf, err := hijack(w)
	if err != nil {
		return
	}
	defer abort(conn)
	h := resp.Header.Clone()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(full)))
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\n", resp.Status)
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(full[:min(int64(len(full)), after)])
	_ = buf.Flush()
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("faultproxy: connection cannot be hijacked")
	}
	return hj.Hijack()
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := hijack(w)
	if err != nil {
		return
	}
	abort(conn)
}

func abort(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
