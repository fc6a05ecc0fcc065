package azuresink_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
)

// redactSig is a made-up signature; neither it, its escaped forms nor the
// query may show in any printing of a sink or of its errors.
const redactSig = "Zq9+Lm3Np5Rs7Tu/Vw1Xy2Ab4Cd6Ef8Gh0Ij1Kl2Mn3="

// failingTransport fails every request as net/http does, quoting the
// request URL, SAS and all; or, with status, answers it.
type failingTransport struct{ status int }

func (f failingTransport) Do(req *http.Request) (*http.Response, error) {
	if f.status == 0 {
		return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: errors.New("connection refused")}
	}
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Request: req,
		Header: http.Header{"X-Ms-Error-Code": {"AuthenticationFailed"}, "X-Ms-Request-Id": {"req-1"}},
		Body:   http.NoBody}, nil
}

// TestSinkNeverPrintsSignature prints a sink, structs holding it, and the
// errors its uploads return, in every way a log line or an API answer
// could, and finds the signature in none.
func TestSinkNeverPrintsSignature(t *testing.T) {
	raw := "https://acct01.blob.core.windows.net/audit-logs?sv=2025-01-05&sr=c&sp=cw&se=2099-12-31T00:00:00Z&sig=" + url.QueryEscape(redactSig)
	u, err := sas.Parse(raw, time.Now(), sas.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	forms := []string{redactSig, url.QueryEscape(redactSig), url.PathEscape(redactSig), "Lm3Np5Rs7Tu", strings.SplitN(raw, "?", 2)[1]}
	check := func(name, out string) {
		t.Helper()
		for _, f := range forms {
			if strings.Contains(out, f) {
				t.Errorf("%s shows the signature or the query (%q): %s", name, f, out)
			}
		}
	}

	newSink := func(tr policy.Transporter) *azuresink.Sink {
		t.Helper()
		s, err := azuresink.New(u, azuresink.Options{Prefix: "p/", Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := newSink(failingTransport{})
	var errs []error
	for _, tr := range []policy.Transporter{failingTransport{}, failingTransport{status: 403}} {
		err := newSink(tr).Upload(t.Context(), "day.csv", strings.NewReader("a,b\r\n"), sink.Object{})
		if err == nil {
			t.Fatal("upload through a failing transport succeeded")
		}
		errs = append(errs, err, fmt.Errorf("deliver: %w", err))
	}
	// The url.Error the transport returns does hold the signature: a
	// scrubbing that did nothing would show.
	if ue := (&url.Error{URL: raw}).Error(); !strings.Contains(ue, url.QueryEscape(redactSig)) {
		t.Fatal("the test's url.Error does not hold the signature: it proves nothing")
	}

	type holder struct {
		Ptr     *azuresink.Sink
		Value   azuresink.Sink
		private azuresink.Sink
		ptr     *azuresink.Sink
		Err     error
	}
	h := holder{Ptr: s, Value: *s, private: *s, ptr: s, Err: errs[0]}
	things := map[string]any{"sink": s, "sink value": *s, "holder": h, "holder pointer": &h}
	for i, e := range errs {
		things[fmt.Sprintf("error %d", i)] = e
	}
	for name, v := range things {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		js, err := json.Marshal(v)
		if err != nil && !strings.HasPrefix(name, "error") {
			t.Errorf("json of %s: %v", name, err)
		}
		check(name+" json", string(js))
		for _, handler := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(handler(&b)).Info("m", "v", v)
			check(name+" slog", b.String())
		}
	}
	if got := fmt.Sprint(s); !strings.Contains(got, "acct01/audit-logs") || !strings.Contains(got, `prefix "p/"`) {
		t.Errorf("the sink prints as %q, want its account, container and prefix", got)
	}
}
