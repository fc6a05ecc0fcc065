package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/localdev/localidp"
)

// newAPI: the self-service HTTP API served from this machine (against the
// local stack, or whatever the environment names), and tokens of the
// local identity provider for it.
func newAPI() *cobra.Command {
	cmd := &cobra.Command{Use: "api", Short: "Serve the self-service HTTP API locally, and mint local tokens for it", Args: cobra.NoArgs}
	cmd.AddCommand(newAPIServe(), newAPIToken())
	return cmd
}

func newAPIServe() *cobra.Command {
	var listen, idpDir string
	cmd := &cobra.Command{
		Use:   "serve --listen 127.0.0.1:PORT [--local-idp DIR]",
		Short: "Serve the self-service HTTP API (the API function's handler) on this machine",
		Long: `serve runs the API function's handler (internal/api) as an HTTP server,
with the environment's registry, ledger, keys, log store and export function:
after "make up" and ". .local/env", the local stack's. It trusts the tokens of
AUDITLOG_API_ISSUER for AUDITLOG_API_AUDIENCE, signed by a key of the JWKS at
AUDITLOG_API_JWKS_URL.

--local-idp DIR serves, in this process, the JWKS of the local identity
provider whose key DIR holds (created on first use, mode 0600), and trusts it
instead: mint its tokens with "auditctl api token --local-idp DIR". The server
listens only on a loopback address; it stops on Ctrl-C or SIGTERM.`,
		Example: `  make up && . .local/env
  auditctl api serve --listen 127.0.0.1:8080 --local-idp .local/idp &
  curl -s http://127.0.0.1:8080/v1/keys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil || !net.ParseIP(host).IsLoopback() {
				return usageError{fmt.Errorf("--listen %q: want a loopback address and port, such as 127.0.0.1:8080", listen)}
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			if idpDir != "" {
				stop, err := startLocalIdP(ctx, idpDir)
				if err != nil {
					return err
				}
				defer stop()
			}
			a, err := app.Load(ctx)
			if err != nil {
				return err
			}
			s, closeAuth, err := a.APIServer(ctx, log)
			if err != nil {
				return err
			}
			defer closeAuth()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "serving the API on http://%s (issuer %s, audience %s)\n", ln.Addr(), a.Config.APIIssuer, a.Config.APIAudience)
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
				shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.Shutdown(shut); err != nil {
					return err
				}
				if err := <-done; !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "loopback address and port to listen on")
	cmd.Flags().StringVar(&idpDir, "local-idp", "", "folder of the local identity provider's key: trust it instead of AUDITLOG_API_*")
	return cmd
}

// startLocalIdP serves the JWKS of the local identity provider of dir and
// points this process's API settings at it.
func startLocalIdP(ctx context.Context, dir string) (stop func(), err error) {
	idp, err := localIdP(dir)
	if err != nil {
		return nil, err
	}
	base, stop, err := idp.Start(ctx)
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{config.EnvAPIIssuer: localIssuer, config.EnvAPIAudience: localidp.Audience, config.EnvAPIJWKSURL: localidp.JWKSURL(base)} {
		os.Setenv(k, v)
	}
	return stop, nil
}

// localIssuer is the issuer of the local identity provider's tokens that
// serve --local-idp trusts: a name, not the JWKS server's URL, whose port
// changes with every serve, so that tokens minted before a restart still
// work.
const localIssuer = "auditlogs-local-idp"

// localIdP loads the identity provider of dir, creating it on first use.
func localIdP(dir string) (*localidp.IdP, error) {
	idp, err := localidp.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		if idp, err = localidp.New(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		err = idp.Save(dir)
	}
	return idp, err
}

func newAPIToken() *cobra.Command {
	var idpDir, sub string
	var orgs []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --local-idp DIR --sub USER --org ORG[,ORG...]",
		Short: "Mint a bearer token of the local identity provider (for auditctl api serve --local-idp)",
		Long: `token prints a JWT signed by the local identity provider's key in DIR, for
the subject --sub (the actor of audit events: user:<sub>) administering the
orgs of --org (its org_ids claim), valid for --ttl. Only a server started with
"auditctl api serve --local-idp DIR" trusts it.`,
		Example: `  TOKEN=$(auditctl api token --local-idp .local/idp --sub alice --org acme-s3)`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(sub) == "" {
				return usageError{errors.New("--sub: give the user the token is for")}
			}
			idp, err := localIdP(idpDir)
			if err != nil {
				return err
			}
			tok, err := idp.Mint(localidp.Claims{Subject: sub, OrgIDs: orgs, TTL: ttl, Issuer: localIssuer})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&idpDir, "local-idp", "", "folder of the local identity provider's key")
	cmd.Flags().StringVar(&sub, "sub", "", "the token's subject (a user ID)")
	cmd.Flags().StringSliceVar(&orgs, "org", nil, "orgs the subject administers (comma-separated or repeated)")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid")
	_ = cmd.MarkFlagRequired("local-idp")
	_ = cmd.MarkFlagRequired("sub")
	return cmd
}
