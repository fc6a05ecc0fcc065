package azuresink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/contentful/auditlogs/internal/sink"
)

const (
	sig    = "k3Y+q1Xv7s9w/zR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2="
	sigEnc = "k3Y%2Bq1Xv7s9w%2FzR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2%3D"
	query  = "se=2026-12-31T00%3A00%3A00Z&sig=" + sigEnc + "&sp=cw&sr=c&sv=2025-01-05"
)

func testSink() *Sink {
	return &Sink{account: "acct", container: "logs", secrets: newSecrets(query, sig, sigEnc)}
}

func noSig(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, sig) || strings.Contains(s, sigEnc) || strings.Contains(s, "zR0aB4cD5eF6") {
			t.Fatalf("signature leaked: %s", s)
		}
	}
}

func TestScrubURLError(t *testing.T) {
	for _, inner := range []error{
		errors.New("dial tcp 10.0.0.1:443: connect: connection refused"),
		context.DeadlineExceeded,
		fmt.Errorf("wrapped: %w", context.Canceled),
		// A message that repeats the signature outside a query.
		errors.New("bad token sig=" + sig + " and " + sigEnc),
	} {
		orig := &url.Error{Op: "Put", URL: "https://acct.blob.core.windows.net/logs/day.csv?comp=block&" + query, Err: inner}
		if !strings.Contains(orig.Error(), sigEnc) {
			t.Fatal("the url.Error does not hold the signature: the test proves nothing")
		}
		err := testSink().classify("day.csv", fmt.Errorf("stage: %w", orig))
		noSig(t, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		var ue *url.Error
		if errors.As(err, &ue) {
			t.Errorf("the unscrubbed *url.Error can still be reached with errors.As: %v", ue)
		}
		if !strings.Contains(err.Error(), `Put "https://acct.blob.core.windows.net/logs/day.csv?REDACTED"`) {
			t.Errorf("error = %v, want the scrubbed URL", err)
		}
		if sink.IsPermanent(err) {
			t.Errorf("network error classified permanent: %v", err)
		}
		for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
			if errors.Is(inner, ctxErr) != errors.Is(err, ctxErr) {
				t.Errorf("errors.Is(err, %v) = %v, want %v", ctxErr, errors.Is(err, ctxErr), errors.Is(inner, ctxErr))
			}
		}
		if errors.Is(inner, context.DeadlineExceeded) && !err.Timeout() {
			t.Error("a deadline is not reported as a timeout")
		}
	}
}

func TestClassifyResponse(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		kind   error
	}{
		{403, "AuthorizationPermissionMismatch", sink.ErrAccessDenied},
		{403, "AuthorizationFailure", sink.ErrAccessDenied},
		{403, "AuthenticationFailed", sink.ErrAccessDenied},
		{403, "AuthorizationSourceIPMismatch", sink.ErrAccessDenied},
		{404, "ContainerNotFound", sink.ErrNotFound},
		{404, "BlobNotFound", nil},
		{409, "BlobArchived", nil},
		{500, "InternalError", nil},
		{503, "ServerBusy", nil},
	} {
		req, _ := http.NewRequest(http.MethodPut, "https://acct.blob.core.windows.net/logs/day.csv?"+query, nil)
		body := "<?xml version=\"1.0\"?><Error><Code>" + tc.code + "</Code><Message>sig=" + sig + "</Message></Error>"
		resp := &http.Response{StatusCode: tc.status, Status: http.StatusText(tc.status), Request: req,
			Header: http.Header{"X-Ms-Error-Code": {tc.code}, "X-Ms-Request-Id": {"req-1"}}, Body: io.NopCloser(bytes.NewBufferString(body))}
		err := testSink().classify("day.csv", fmt.Errorf("upload: %w", runtime.NewResponseError(resp)))
		for _, k := range []error{sink.ErrAccessDenied, sink.ErrNotFound} {
			if errors.Is(err, k) != (k == tc.kind) {
				t.Errorf("%d %s: errors.Is(%v) = %v", tc.status, tc.code, k, errors.Is(err, k))
			}
		}
		want := fmt.Sprintf("azure: upload acct/logs/day.csv: status %d %s (request id req-1)", tc.status, tc.code)
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %q, want it to start %q", err, want)
		}
		noSig(t, err.Error(), fmt.Sprintf("%+v", err))
	}
}
