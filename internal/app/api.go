package app

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/api"
	"github.com/contentful/auditlogs/internal/apiauth"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/verify"
)

// APIServer builds the self-service HTTP API (internal/api) from the App:
// the token verifier of AUDITLOG_API_ISSUER, _AUDIENCE and _JWKS_URL, the
// registry and the registration's checks, the verifier, the ledger, the
// export function it queues redeliveries on, the log store it writes its
// audit events to, and the public keys. close releases the verifier's
// key refresh.
func (a *App) APIServer(ctx context.Context, log *slog.Logger) (s *api.Server, close func(), err error) {
	if log == nil {
		log = slog.Default()
	}
	auth, err := apiauth.New(ctx, apiauth.Config{Issuer: a.Config.APIIssuer, Audience: a.Config.APIAudience, JWKSURL: a.Config.APIJWKSURL, Log: log})
	if err != nil {
		return nil, nil, err
	}
	ids := KeyIDs(a.Config)
	keys := &api.KMSKeys{Encryption: &sas.PublicKeys{KMS: kms.NewFromConfig(a.AWS), KeyIDs: ids},
		Residencies: slices.Sorted(maps.Keys(ids))}
	if a.Config.SigningKeyID != "" {
		signer, err := a.Signer()
		if err != nil {
			auth.Close()
			return nil, nil, err
		}
		keys.Signing = signer
	}
	s = &api.Server{
		Auth:      auth,
		Registry:  a.Registry,
		Registrar: &registration.Registrar{Sinks: a.Sinks, SAS: a.SAS, Registry: a.Registry},
		Verifier:  &verify.Verifier{Destinations: a.Registry, Sinks: a.Sinks, Trust: a.Sinks},
		Ledger:    a.Ledger,
		Exports:   &api.LambdaExports{Lambda: awslambda.NewFromConfig(a.AWS), Function: a.Config.ExportFunction},
		AuditLog:  a.Store,
		Keys:      keys,
		Retention: a.Store.Retention(),
		Log:       log,
	}
	return s, auth.Close, nil
}

// APIHandler is the API function's handler: APIServer behind API Gateway,
// whose request ID (internal/apifn sets it as X-Request-Id) names each
// request and its audit event. It lives as long as the function.
func (a *App) APIHandler(ctx context.Context, log *slog.Logger) (http.Handler, error) {
	s, _, err := a.APIServer(ctx, log)
	if err != nil {
		return nil, err
	}
	s.TrustRequestID = true
	return s.Handler(), nil
}
