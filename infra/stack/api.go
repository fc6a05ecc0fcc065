package stack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/sas"
)

// Gateway is the self-service HTTP API in front of the api function:
// API Gateway's HTTP API with one route per route of the API (docs of
// internal/api), a JWT authorizer on every route but GET /v1/keys, and
// its default stage, throttled, logging one JSON line per request. The
// function itself, its role and log group are the Lambdas' (API,
// APIRole).
type Gateway struct {
	HTTPAPI       awsapigatewayv2.HttpApi
	APIStage      awsapigatewayv2.HttpStage
	APIAuthorizer awsapigatewayv2authorizers.HttpJwtAuthorizer
	APIAccessLogs awslogs.LogGroup
	// APIRoutes by route key ("GET /v1/keys").
	APIRoutes map[string]awsapigatewayv2.HttpRoute
}

// The API's tuning.
const (
	// apiTimeout is the function's: under API Gateway's 30 s integration
	// timeout, so that the handler's own answer (a 503 problem with the
	// request ID) reaches the caller rather than the gateway's bare 504.
	apiTimeout = 28 * time.Second
	apiMemory  = 512
	// The stage's throttling of every route together: requests a second,
	// and the burst above that rate. More is API Gateway's 429.
	apiThrottleRate  = 50
	apiThrottleBurst = 100
)

// APIRoute is a route of the API: a method on a path, and whether it
// takes no token.
type APIRoute struct {
	Method awsapigatewayv2.HttpMethod
	Path   string
	Public bool
}

// Key is the route's key, as API Gateway names it.
func (r APIRoute) Key() string { return string(r.Method) + " " + r.Path }

// APIRoutes are the API's routes. Only the public keys are public;
// every route under an organization takes a bearer token that API
// Gateway checks before the function sees it (and the handler checks
// again, with the org_ids it grants).
var APIRoutes = []APIRoute{
	{awsapigatewayv2.HttpMethod_GET, "/v1/keys", true},
	{awsapigatewayv2.HttpMethod_GET, "/v1/organizations/{org_id}/destination", false},
	{awsapigatewayv2.HttpMethod_PUT, "/v1/organizations/{org_id}/destination", false},
	{awsapigatewayv2.HttpMethod_DELETE, "/v1/organizations/{org_id}/destination", false},
	{awsapigatewayv2.HttpMethod_POST, "/v1/organizations/{org_id}/destination/verify", false},
	{awsapigatewayv2.HttpMethod_POST, "/v1/organizations/{org_id}/destination/pause", false},
	{awsapigatewayv2.HttpMethod_POST, "/v1/organizations/{org_id}/destination/resume", false},
	{awsapigatewayv2.HttpMethod_GET, "/v1/organizations/{org_id}/deliveries", false},
	{awsapigatewayv2.HttpMethod_POST, "/v1/organizations/{org_id}/deliveries/redeliver", false},
}

// APIAccessLogFormat is the stage's access log line: who asked (the
// source IP), which route, what came of it and how long it took, and why
// it failed (the gateway's error, the authorizer's, the integration's).
// No header is logged, the Authorization header least of all, and no
// query string or body.
var APIAccessLogFormat = mustJSON(map[string]string{
	"requestId":          "$context.requestId",
	"ip":                 "$context.identity.sourceIp",
	"requestTime":        "$context.requestTimeEpoch",
	"httpMethod":         "$context.httpMethod",
	"routeKey":           "$context.routeKey",
	"path":               "$context.path",
	"protocol":           "$context.protocol",
	"status":             "$context.status",
	"responseLength":     "$context.responseLength",
	"latency":            "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationStatus":  "$context.integrationStatus",
	"errors":             "$context.error.message",
	"errorType":          "$context.error.responseType",
	"authorizerError":    "$context.authorizer.error",
	"integrationError":   "$context.integrationErrorMessage",
})

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// apiFunction builds the api function: the environment of
// config.API, its statements are grantAll's (grants.API).
func (s *Stack) apiFunction() {
	p := s.Props
	s.API = s.newFunction(APIFunction, "the self-service HTTP API (destinations, deliveries, public keys), behind API Gateway",
		s.APIRole, apiMemory, apiTimeout, 0, map[string]*string{
			// The log store: the lake, written through the Firehose
			// stream (the audit events of the API's own changes), as the
			// ingest writes it.
			config.EnvLogStore:      jsii.String(config.LogStoreLake),
			config.EnvLakeBucket:    s.LakeBucket.BucketName(),
			config.EnvLakeStream:    s.RawStream.Ref(),
			config.EnvRegistryTable: s.RegistryTable.TableName(),
			config.EnvLedgerTable:   s.LedgerTable.TableName(),
			// Redeliveries are invocations of the export.
			config.EnvExportFunction: s.Export.FunctionName(),
			// Ciphers checked at PUT; the public keys handed out.
			config.EnvKMSKeyUS:     s.SASKeys[sas.US].KeyArn(),
			config.EnvKMSKeyEU:     s.SASKeys[sas.EU].KeyArn(),
			config.EnvSigningKeyID: s.SigningKey.KeyArn(),
			// The oldest day a redelivery may ask for.
			config.EnvLogStoreRetentionDays: jsii.String(strconv.Itoa(p.LogStoreRetentionDays)),
			// The tokens: the authorizer's issuer and audience, and the
			// keys the handler checks them against again.
			config.EnvAPIIssuer:   jsii.String(p.APIIssuer),
			config.EnvAPIAudience: jsii.String(p.APIAudience),
			config.EnvAPIJWKSURL:  jsii.String(p.APIJWKSURL),
		})
}

// httpAPI builds the HTTP API in front of the api function, its default
// stage and access logs.
func (s *Stack) httpAPI(name func(string) *string) {
	st, p := s.Stack, s.Props
	props := &awsapigatewayv2.HttpApiProps{
		ApiName:     name("api"),
		Description: jsii.String("auditlogs " + p.StageName + ": the self-service HTTP API"),
		// The stage is built below, with its throttling and access logs.
		CreateDefaultStage: jsii.Bool(false),
	}
	if len(p.APICorsOrigins) > 0 {
		// Browsers of these origins may call the API with a bearer token
		// (no cookies: no credentials); API Gateway answers the
		// preflights itself, as no route takes OPTIONS.
		props.CorsPreflight = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(p.APICorsOrigins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_PUT,
				awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_DELETE},
			AllowHeaders:  jsii.Strings("authorization", "content-type"),
			ExposeHeaders: jsii.Strings("x-request-id", "www-authenticate", "allow"),
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	s.HTTPAPI = awsapigatewayv2.NewHttpApi(st, jsii.String("HttpApi"), props)

	// API Gateway checks the token's signature (the issuer's OpenID
	// discovery document names its keys), issuer, audience and expiry
	// before invoking the function: a request without a valid token costs
	// no invocation. The handler checks it again (AUDITLOG_API_JWKS_URL)
	// and reads the org_ids it grants.
	s.APIAuthorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("ApiAuthorizer"), jsii.String(p.APIIssuer),
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			AuthorizerName: name("api-jwt"),
			JwtAudience:    jsii.Strings(p.APIAudience),
			IdentitySource: jsii.Strings("$request.header.Authorization"),
		})
	// One integration for every route, and one invoke permission for
	// this API's routes only (not one per route).
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), s.API,
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
			PayloadFormatVersion:   awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			ScopePermissionToRoute: jsii.Bool(false),
		})
	s.APIRoutes = map[string]awsapigatewayv2.HttpRoute{}
	for _, r := range APIRoutes {
		var auth awsapigatewayv2.IHttpRouteAuthorizer = s.APIAuthorizer
		if r.Public {
			auth = awsapigatewayv2.NewHttpNoneAuthorizer()
		}
		routes := s.HTTPAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path: jsii.String(r.Path), Methods: &[]awsapigatewayv2.HttpMethod{r.Method}, Integration: integration, Authorizer: auth,
		})
		s.APIRoutes[r.Key()] = (*routes)[0]
	}

	s.APIAccessLogs = awslogs.NewLogGroup(st, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     logRetention[p.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.APIStage = awsapigatewayv2.NewHttpStage(st, jsii.String("ApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    s.HTTPAPI,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle:   &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(apiThrottleRate), BurstLimit: jsii.Number(apiThrottleBurst)},
	})
	// The access log settings on the resource itself: the L2's take a
	// format object this stack does not need; the destination is the
	// log group's ARN without the ":*" of LogGroupArn.
	s.APIStage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: st.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: s.APIAccessLogs.LogGroupName(),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}),
		Format: jsii.String(APIAccessLogFormat),
	})
}

// checkAPI checks the API's props: the tokens' issuer (an https URL, as
// API Gateway's JWT authorizer fetches its discovery document from it)
// and audience are required, the JWKS URL is https, and CORS origins are
// origins (scheme and host, no path).
func (p StackProps) checkAPI() error {
	if p.APIIssuer == "" || p.APIAudience == "" {
		return fmt.Errorf("the HTTP API needs the identity provider's token issuer and audience: set the CDK context %s and %s (e.g. -c %s=https://idp.example.com -c %s=auditlogs; docs/deploy.md)",
			CtxAPIIssuer, CtxAPIAudience, CtxAPIIssuer, CtxAPIAudience)
	}
	if u, err := url.Parse(p.APIIssuer); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("context %s=%q: want the issuer's https URL, as the tokens' iss claim names it", CtxAPIIssuer, p.APIIssuer)
	}
	if u, err := url.Parse(p.APIJWKSURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("context %s=%q: want an https URL", CtxAPIJWKSURL, p.APIJWKSURL)
	}
	for _, o := range p.APICorsOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("context %s: %q is not an origin (scheme://host[:port])", CtxAPICorsOrigins, o)
		}
	}
	return nil
}

// DefaultJWKSURL is where the JWKS is unless apiJwksUrl says otherwise:
// the well-known path under the issuer.
func DefaultJWKSURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"
}
