package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// seen is what the upstream received.
type seen struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
	Body                         []byte
	BodyErr                      error
}

type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	// answer, when set, writes the response.
	answer func(w http.ResponseWriter, r *http.Request, body []byte)
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{Method: r.Method, Host: r.Host, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, BodyErr: err})
		answer := u.answer
		u.mu.Unlock()
		if err != nil {
			return
		}
		if answer != nil {
			answer(w, r, body)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "upstream:"+string(body))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) received() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func startProxy(t *testing.T, upstreamURL string) *Proxy {
	t.Helper()
	p, err := Start(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func do(t *testing.T, method, u string, body string, hdr map[string]string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// A fresh connection per request, so a reset is seen by this one.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestForwardKeepsHostPathQueryHeadersBody(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	// A SAS-like query with escapes that must reach the upstream byte for
	// byte (its signature covers the resource path and the query).
	rawQuery := "comp=block&blockid=QUJD%2BZA%3D%3D&sv=2024-08-04&sig=a%2Fb%2Bc%3D&sp=cw"
	resp, body, err := do(t, http.MethodPut, p.URL+"/devstoreaccount1/box/dir%20x/file.csv?"+rawQuery, "hello", map[string]string{"X-Custom": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != "upstream:hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	got := up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	r := got[0]
	if r.Host != p.Host {
		t.Errorf("upstream saw Host %q, want the proxy's %q (the one the client signed)", r.Host, p.Host)
	}
	if r.Path != "/devstoreaccount1/box/dir%20x/file.csv" || r.RawQuery != rawQuery {
		t.Errorf("upstream saw %s?%s", r.Path, r.RawQuery)
	}
	if r.Header.Get("X-Custom") != "1" || r.Header.Get("X-Forwarded-For") != "" {
		t.Errorf("upstream headers %v", r.Header)
	}
	if p.Requests() != 1 {
		t.Errorf("Requests = %d", p.Requests())
	}
}

func TestRespondFirstTimesThenForward(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	r := &Rule{Method: http.MethodPut, Query: map[string]string{"partNumber": "2"}, Times: 2, Action: S3Error(503, "SlowDown", "Please reduce your request rate.")}
	p.Add(r)
	for i, want := range []int{503, 503, 200} {
		resp, body, err := do(t, http.MethodPut, p.URL+"/bucket/key?partNumber=2&uploadId=u1", "part", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if want == 503 && (!strings.Contains(body, "<Code>SlowDown</Code>") || resp.Header.Get("Content-Type") != "application/xml") {
			t.Fatalf("request %d: body %q, type %q", i, body, resp.Header.Get("Content-Type"))
		}
	}
	// Another part number does not match.
	if resp, _, err := do(t, http.MethodPut, p.URL+"/bucket/key?partNumber=1&uploadId=u1", "part", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("part 1: %v %v", resp, err)
	}
	if r.Hits() != 2 || r.Matches() != 3 {
		t.Errorf("hits %d matches %d, want 2 and 3", r.Hits(), r.Matches())
	}
	if n := len(up.received()); n != 2 {
		t.Errorf("upstream got %d requests, want 2 (the faults never reach it)", n)
	}
}

func TestMatching(t *testing.T) {
	body := "Action=AssumeRole&ExternalId=org-1&Version=2011-06-15"
	req := func(method, target string, hdr map[string]string, body string) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	cases := []struct {
		name string
		rule *Rule
		req  *http.Request
		want bool
	}{
		{"comp=block", &Rule{Method: "PUT", Query: map[string]string{"comp": "block"}}, req("PUT", "/a/c/b?comp=block&blockid=x", nil, ""), true},
		{"comp=block is not blocklist", &Rule{Method: "PUT", Query: map[string]string{"comp": "block"}}, req("PUT", "/a/c/b?comp=blocklist", nil, ""), false},
		{"comp=blocklist", &Rule{Query: map[string]string{"comp": "blocklist"}}, req("PUT", "/a/c/b?comp=blocklist", nil, ""), true},
		{"complete: POST uploadId", &Rule{Method: "POST", Query: map[string]string{"uploadId": ""}}, req("POST", "/b/k?uploadId=abc", nil, ""), true},
		{"create is not complete", &Rule{Method: "POST", Query: map[string]string{"uploadId": ""}}, req("POST", "/b/k?uploads", nil, ""), false},
		{"method", &Rule{Method: "PUT"}, req("GET", "/", nil, ""), false},
		{"path substring", &Rule{Path: "/customer-audit-bucket/"}, req("PUT", "/customer-audit-bucket/x", nil, ""), true},
		{"path with an escaped slash", &Rule{Path: "/acct/box/faults/x/"}, req("PUT", "/acct/box/faults%2Fx%2Fday.csv?comp=block", nil, ""), true},
		{"path regexp", &Rule{PathRegexp: regexp.MustCompile(`\.csv$`)}, req("PUT", "/b/x.csv?partNumber=1", nil, ""), true},
		{"path regexp no", &Rule{PathRegexp: regexp.MustCompile(`\.csv$`)}, req("PUT", "/b/x.txt", nil, ""), false},
		{"X-Amz-Target", &Rule{Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.Query"}}, req("POST", "/", map[string]string{"X-Amz-Target": "DynamoDB_20120810.Query"}, "{}"), true},
		{"X-Amz-Target other", &Rule{Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.Query"}}, req("POST", "/", map[string]string{"X-Amz-Target": "DynamoDB_20120810.GetItem"}, "{}"), false},
		{"form Action", &Rule{Form: map[string]string{"Action": "AssumeRole"}}, req("POST", "/", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body), true},
		{"form Action other", &Rule{Form: map[string]string{"Action": "GetCallerIdentity"}}, req("POST", "/", nil, body), false},
		{"body contains", &Rule{BodyContains: `"org-7#2026-11-24#00"`}, req("POST", "/", nil, `{"pk":"org-7#2026-11-24#00"}`), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			ok := true
			if c.rule.needsBody() {
				b, ok = readSmallBody(c.req)
			}
			if got := c.rule.match(c.req, b, ok); got != c.want {
				t.Fatalf("match = %v, want %v", got, c.want)
			}
			if c.rule.needsBody() {
				// The body is put back whole for forwarding.
				rest, _ := io.ReadAll(c.req.Body)
				if !bytes.Equal(rest, b) {
					t.Fatalf("body after matching %q, want %q", rest, b)
				}
			}
		})
	}
}

func TestResetRequestMidBody(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	r := &Rule{Method: http.MethodPut, Times: 1, Action: Reset(1000)}
	p.Add(r)
	big := strings.Repeat("x", 1<<20)
	if _, _, err := do(t, http.MethodPut, p.URL+"/b/k?partNumber=1&uploadId=u", big, nil); err == nil {
		t.Fatal("no error from a reset connection")
	}
	// The upstream saw the request start and its body break off.
	deadline := time.Now().Add(5 * time.Second)
	for len(up.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := up.received()
	if len(got) != 1 || got[0].BodyErr == nil || len(got[0].Body) != 1000 {
		t.Fatalf("upstream got %d requests; %+v", len(got), summarize(got))
	}
	// The rule is spent: the next request goes through.
	if resp, body, err := do(t, http.MethodPut, p.URL+"/b/k", "ok", nil); err != nil || resp.StatusCode != 200 || body != "upstream:ok" {
		t.Fatalf("after the reset: %v %q %v", resp, body, err)
	}
	if r.Hits() != 1 {
		t.Errorf("hits %d", r.Hits())
	}
}

func summarize(s []seen) []string {
	var out []string
	for _, r := range s {
		out = append(out, r.Method+" "+r.Path+" body "+string(rune('0'+len(r.Body)%10))+" err "+errString(r.BodyErr))
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestResetResponseAfterUpstreamDidTheWork(t *testing.T) {
	up := startUpstream(t)
	up.answer = func(w http.ResponseWriter, _ *http.Request, body []byte) {
		_, _ = io.WriteString(w, strings.Repeat("r", 5000))
	}
	p := startProxy(t, up.URL)
	p.Add(&Rule{Method: http.MethodPost, Query: map[string]string{"uploadId": ""}, Times: 1, Action: ResetAfterResponse(100)})
	_, _, err := do(t, http.MethodPost, p.URL+"/b/k?uploadId=u", "<CompleteMultipartUpload/>", nil)
	if err == nil {
		t.Fatal("no error from a response cut short")
	}
	if got := up.received(); len(got) != 1 || string(got[0].Body) != "<CompleteMultipartUpload/>" {
		t.Fatalf("the upstream did not get the whole request: %d", len(got))
	}
}

func TestDelay(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	r := &Rule{Times: 1, Action: Delay(300 * time.Millisecond)}
	p.Add(r)
	start := time.Now()
	if resp, _, err := do(t, http.MethodGet, p.URL+"/x", "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	// A lower bound only: a loaded machine can make any request slow.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delayed request took %s", d)
	}
	if _, _, err := do(t, http.MethodGet, p.URL+"/x", "", nil); err != nil {
		t.Fatal(err)
	}
	// The rule was spent: the second request was not delayed (counted,
	// not timed).
	if n := r.Hits(); n != 1 {
		t.Errorf("the delay fired %d times, want once", n)
	}
}

func TestRemoveAndClear(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	a := &Rule{Action: Error(500, "text/plain", "a")}
	b := &Rule{Action: Error(502, "text/plain", "b")}
	p.Add(a, b)
	status := func() int {
		resp, _, err := do(t, http.MethodGet, p.URL+"/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if s := status(); s != 500 {
		t.Fatalf("first rule first: %d", s)
	}
	p.Remove(a)
	if s := status(); s != 502 {
		t.Fatalf("after remove: %d", s)
	}
	p.Clear()
	if s := status(); s != 200 {
		t.Fatalf("after clear: %d", s)
	}
}

// sdkConfig is an AWS config whose every service goes to endpoint.
func sdkConfig(t *testing.T, endpoint string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		})),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(1),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSigV4SurvivesTheProxy: the upstream recomputes the SDK's SigV4
// signature from what it received and gets the same one, for path-style
// S3 (whose canonical request holds the Host, path and query).
func TestSigV4SurvivesTheProxy(t *testing.T) {
	up := startUpstream(t)
	var verified, mismatched, tamperSeen int
	var mu sync.Mutex
	up.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		ok := verifySigV4(r, body)
		// The check is not vacuous: the upstream's own host would not do.
		other := r.Clone(context.Background())
		other.Host = up.Listener.Addr().String()
		tampered := !verifySigV4(other, body)
		mu.Lock()
		if ok {
			verified++
		} else {
			mismatched++
		}
		if tampered {
			tamperSeen++
		}
		mu.Unlock()
		w.Header().Set("ETag", `"abc"`)
	}
	p := startProxy(t, up.URL)
	client := s3.NewFromConfig(sdkConfig(t, p.URL), func(o *s3.Options) { o.UsePathStyle = true })
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("customer-audit-bucket"), Key: aws.String("dir/a b+c.csv"), Body: strings.NewReader("a,b\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if verified != 1 || mismatched != 0 || tamperSeen != 1 {
		t.Fatalf("signatures verified %d, mismatched %d; a rewritten Host detected %d times", verified, mismatched, tamperSeen)
	}
}

// verifySigV4 re-signs the request with the signed headers only.
func verifySigV4(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	m := regexp.MustCompile(`SignedHeaders=([^,]+), Signature=([0-9a-f]+)`).FindStringSubmatch(auth)
	if m == nil {
		return false
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	req.Host = r.Host
	for _, h := range strings.Split(m[1], ";") {
		if h == "host" {
			continue
		}
		req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, req, r.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", when)
	if err != nil {
		return false
	}
	return strings.Contains(req.Header.Get("Authorization"), "Signature="+m[2])
}

// TestSDKSeesTheInjectedErrors: the SDKs parse the canned errors into the
// codes their retryers and our classifiers look at.
func TestSDKSeesTheInjectedErrors(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	cfg := sdkConfig(t, p.URL)
	ctx := context.Background()
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return "no API error: " + errString(err)
	}

	p.Add(&Rule{Form: map[string]string{"Action": "AssumeRole"}, Action: STSError(403, "AccessDenied", "not authorized to perform sts:AssumeRole")})
	_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/x"), RoleSessionName: aws.String("s"), ExternalId: aws.String("org-1")})
	if c := code(err); c != "AccessDenied" {
		t.Errorf("STS: %s", c)
	}
	p.Clear()

	p.Add(&Rule{Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.Query"}, Action: DynamoDBError(400, "ProvisionedThroughputExceededException", "slow down")})
	_, err = dynamodb.NewFromConfig(cfg).Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t")})
	if c := code(err); c != "ProvisionedThroughputExceededException" {
		t.Errorf("DynamoDB: %s", c)
	}
	p.Clear()

	p.Add(&Rule{Method: "PUT", Action: S3Error(500, "InternalError", "We encountered an internal error. Please try again.")})
	_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if c := code(err); c != "InternalError" {
		t.Errorf("S3: %s", c)
	}
}

// TestSerialize: requests of a Serialize rule reach the upstream one at a
// time; others still pass side by side.
func TestSerialize(t *testing.T) {
	up := startUpstream(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	up.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	p := startProxy(t, up.URL)
	r := &Rule{Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.UpdateItem"}, Action: Serial()}
	p.Add(r)
	run := func(target string) int {
		mu.Lock()
		most = 0
		mu.Unlock()
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := do(t, http.MethodPost, p.URL+"/", "{}", map[string]string{"X-Amz-Target": target}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return most
	}
	if n := run("DynamoDB_20120810.UpdateItem"); n != 1 {
		t.Errorf("%d serialized requests at once at the upstream, want 1", n)
	}
	if n := run("DynamoDB_20120810.GetItem"); n < 2 {
		t.Errorf("other requests: at most %d at once, want them side by side", n)
	}
	if r.Hits() != 5 {
		t.Errorf("hits %d", r.Hits())
	}
}

// TestHoldAndPrepend: a prepended rule is tried before the others; Hold
// keeps its request from the upstream until the gate is closed, and a
// request whose client gives up meanwhile never reaches it (Dropped).
func TestHoldAndPrepend(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, up.URL)
	p.Add(&Rule{Path: "/held", Action: Error(500, "text/plain", "the later rule")})
	gate := make(chan struct{})
	hold := &Rule{Path: "/held", Action: Hold(gate)}
	p.Prepend(hold)

	send := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, p.URL+"/held", strings.NewReader("body"))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			done <- err
		}()
		return done
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Given up while held: nothing goes upstream, even once the gate opens.
	ctx, cancel := context.WithCancel(context.Background())
	first := send(ctx)
	waitFor("held request", func() bool { return hold.Matches() == 1 })
	cancel()
	if err := <-first; err == nil {
		t.Fatal("the cancelled request was answered")
	}
	waitFor("dropped request", func() bool { return hold.Dropped() == 1 })

	second := send(context.Background())
	waitFor("second held request", func() bool { return hold.Matches() == 2 })
	if n := len(up.received()); n != 0 {
		t.Fatalf("the upstream received %d requests while the gate was shut", n)
	}
	close(gate)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := up.received(); len(got) != 1 || string(got[0].Body) != "body" {
		t.Fatalf("upstream received %+v, want the second request only", got)
	}
	if hold.Hits() != 2 || hold.Dropped() != 1 {
		t.Errorf("hits %d, dropped %d; want 2 and 1", hold.Hits(), hold.Dropped())
	}
}
