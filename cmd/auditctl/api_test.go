package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/localdev/localidp"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
)

// TestAPIServeAndToken runs `api serve --local-idp` against a local stack
// and calls it with a token of `api token`: the keys without a token, a
// destination with it, refusals without it or for another org, and a
// stop on cancel. The key file is the owner's alone.
func TestAPIServeAndToken(t *testing.T) {
	startStack(t)
	for _, k := range []string{config.EnvAPIIssuer, config.EnvAPIAudience, config.EnvAPIJWKSURL, config.EnvExportFunction} {
		t.Setenv(k, os.Getenv(k)) // serve sets them; restored after the test
	}
	os.Setenv(config.EnvExportFunction, localstack.ExportFunctionName)
	dir := filepath.Join(t.TempDir(), "idp")
	tok, err := run("api", "token", "--local-idp", dir, "--sub", "alice", "--org", localstack.DemoS3Org)
	if err != nil {
		t.Fatalf("api token: %v", err)
	}
	tok = strings.TrimSpace(tok)
	if fi, err := os.Stat(filepath.Join(dir, localidp.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v, want mode 0600", fi, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- runSplit(ctx, &stdout, &stderr, "api", "serve", "--listen", addr, "--local-idp", dir) }()
	base := "http://" + addr
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if status, _ := get("/v1/keys", ""); status == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer GET /v1/keys on %s\n%s", addr, stderr.String())
		}
	}
	if status, body := get("/v1/organizations/"+localstack.DemoS3Org+"/destination", tok); status != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("GET of an org without a destination: %d %s, want 404 not_found", status, body)
	}
	if status, _ := get("/v1/organizations/"+localstack.DemoS3Org+"/destination", ""); status != http.StatusUnauthorized {
		t.Errorf("GET without a token: %d, want 401", status)
	}
	if status, _ := get("/v1/organizations/"+localstack.DemoS3Org+"/deliveries?from=2026-11-01&to=2026-11-02", tok); status != http.StatusOK {
		t.Errorf("GET deliveries with the token: %d, want 200", status)
	}
	if status, _ := get("/v1/organizations/"+localstack.DemoAzureOrg+"/deliveries?from=2026-11-01&to=2026-11-02", tok); status != http.StatusNotFound {
		t.Errorf("GET deliveries of an org the token does not name: %d, want 404", status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
	if strings.Contains(stdout.String()+stderr.String(), tok) {
		t.Error("serve's output holds the token")
	}
	if !strings.Contains(stdout.String(), "serving the API on http://"+addr) {
		t.Errorf("serve's output: %q", stdout.String())
	}

	if _, err := run("api", "serve", "--listen", "0.0.0.0:8080"); !errors.As(err, new(usageError)) {
		t.Errorf("serve on a non-loopback address: %v, want a usage error", err)
	}
}
