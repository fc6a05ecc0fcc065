package stack_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/sas"
)

// designRoutes are the API's routes as its design lists them, written
// out here rather than taken from stack.APIRoutes: true for the routes
// that take a bearer token.
var designRoutes = map[string]bool{
	"GET /v1/keys": false,
	"GET /v1/organizations/{org_id}/destination":           true,
	"PUT /v1/organizations/{org_id}/destination":           true,
	"DELETE /v1/organizations/{org_id}/destination":        true,
	"POST /v1/organizations/{org_id}/destination/verify":   true,
	"POST /v1/organizations/{org_id}/destination/pause":    true,
	"POST /v1/organizations/{org_id}/destination/resume":   true,
	"GET /v1/organizations/{org_id}/deliveries":            true,
	"POST /v1/organizations/{org_id}/deliveries/redeliver": true,
}

// TestAPIRoutes: one route per route of the design and no other; the
// JWT authorizer, with the context's issuer and audience, on every route
// under an organization and not on the public keys; every route proxies
// to the api function with payload format 2.0.
func TestAPIRoutes(t *testing.T) {
	s := defaults(t)
	apiID := s.id(t, s.st.HTTPAPI)
	authorizers := s.resources("AWS::ApiGatewayV2::Authorizer")
	if len(authorizers) != 1 {
		t.Fatalf("%d authorizers, want the one JWT authorizer", len(authorizers))
	}
	var authID string
	for id, a := range authorizers {
		authID = id
		p := a["Properties"].(map[string]interface{})
		if p["AuthorizerType"] != "JWT" || render(p["ApiId"]) != "${Ref:"+apiID+"}" ||
			!reflect.DeepEqual(list(p["IdentitySource"]), []string{"$request.header.Authorization"}) ||
			render(prop(p, "JwtConfiguration", "Issuer")) != "https://idp.example.com" ||
			!reflect.DeepEqual(list(prop(p, "JwtConfiguration", "Audience")), []string{"auditlogs"}) {
			t.Errorf("authorizer %s: %v", id, p)
		}
	}
	integrations := s.resources("AWS::ApiGatewayV2::Integration")
	if len(integrations) != 1 {
		t.Fatalf("%d integrations, want one for every route", len(integrations))
	}
	var integrationID string
	for id, in := range integrations {
		integrationID = id
		p := in["Properties"].(map[string]interface{})
		if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" || render(p["IntegrationUri"]) != "${"+s.id(t, s.st.API)+".Arn}" {
			t.Errorf("integration %s: %v, want a 2.0 proxy to the api function", id, p)
		}
	}
	seen := map[string]bool{}
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := r["Properties"].(map[string]interface{})
		key, _ := p["RouteKey"].(string)
		authorized, ok := designRoutes[key]
		if !ok {
			t.Errorf("route %s: %q is not a route of the API", id, key)
			continue
		}
		if seen[key] {
			t.Errorf("route %q twice", key)
		}
		seen[key] = true
		if render(p["ApiId"]) != "${Ref:"+apiID+"}" || render(p["Target"]) != "integrations/${Ref:"+integrationID+"}" {
			t.Errorf("route %q: API %v, target %v", key, p["ApiId"], render(p["Target"]))
		}
		switch {
		case authorized && (p["AuthorizationType"] != "JWT" || render(p["AuthorizerId"]) != "${Ref:"+authID+"}"):
			t.Errorf("route %q: authorization %v by %v, want the JWT authorizer", key, p["AuthorizationType"], p["AuthorizerId"])
		case !authorized && (p["AuthorizationType"] != "NONE" || p["AuthorizerId"] != nil):
			t.Errorf("route %q: authorization %v by %v, want none (the public keys)", key, p["AuthorizationType"], p["AuthorizerId"])
		}
	}
	for key := range designRoutes {
		if !seen[key] {
			t.Errorf("no route %q", key)
		}
	}
	var keys []string
	for _, r := range stack.APIRoutes {
		keys = append(keys, r.Key())
	}
	if len(keys) != len(designRoutes) {
		t.Errorf("stack.APIRoutes %v, the design has %d routes", keys, len(designRoutes))
	}
}

// TestAPIStage: the default stage, deployed on every change, throttled,
// its access log one JSON line per request in a log group with a
// retention, naming what an operator needs and no header at all.
func TestAPIStage(t *testing.T) {
	s := defaults(t)
	stages := s.resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want the default one", len(stages))
	}
	for id, st := range stages {
		p := st["Properties"].(map[string]interface{})
		if p["StageName"] != "$default" || p["AutoDeploy"] != true || render(p["ApiId"]) != "${Ref:"+s.id(t, s.st.HTTPAPI)+"}" {
			t.Errorf("stage %s: %v", id, p)
		}
		if prop(p, "DefaultRouteSettings", "ThrottlingBurstLimit") != float64(100) || prop(p, "DefaultRouteSettings", "ThrottlingRateLimit") != float64(50) {
			t.Errorf("stage %s: throttling %v, want burst 100, rate 50", id, p["DefaultRouteSettings"])
		}
		logs := s.id(t, s.st.APIAccessLogs)
		if dest := render(prop(p, "AccessLogSettings", "DestinationArn")); dest != "arn:${Ref:AWS::Partition}:logs:${Ref:AWS::Region}:${Ref:AWS::AccountId}:log-group:${Ref:"+logs+"}" {
			t.Errorf("access log destination %s, want the access log group's ARN", dest)
		}
		if g := s.resource(t, logs); prop(g, "Properties", "RetentionInDays") != float64(90) || g["DeletionPolicy"] != "Retain" {
			t.Errorf("access log group: %v", g)
		}
		format, _ := prop(p, "AccessLogSettings", "Format").(string)
		var fields map[string]string
		if err := json.Unmarshal([]byte(format), &fields); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		for name, want := range map[string]string{
			"requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "routeKey": "$context.routeKey",
			"status": "$context.status", "latency": "$context.responseLatency", "errors": "$context.error.message",
			"authorizerError": "$context.authorizer.error",
		} {
			if fields[name] != want {
				t.Errorf("access log field %s = %q, want %q", name, fields[name], want)
			}
		}
		lower := strings.ToLower(format)
		for _, banned := range []string{"authorization", "header", "$request.", "querystring", "body", "claims"} {
			if strings.Contains(lower, banned) {
				t.Errorf("access log format %s holds %q", format, banned)
			}
		}
	}
}

// TestAPIPermission: API Gateway may invoke the api function, from this
// API only, with one permission; nothing else may.
func TestAPIPermission(t *testing.T) {
	s := defaults(t)
	fn := s.id(t, s.st.API)
	var found int
	for id, perm := range s.resources("AWS::Lambda::Permission") {
		p := perm["Properties"].(map[string]interface{})
		if render(p["FunctionName"]) != "${"+fn+".Arn}" {
			continue
		}
		found++
		want := "arn:${Ref:AWS::Partition}:execute-api:${Ref:AWS::Region}:${Ref:AWS::AccountId}:${Ref:" + s.id(t, s.st.HTTPAPI) + "}/*/*/*"
		if p["Action"] != "lambda:InvokeFunction" || p["Principal"] != "apigateway.amazonaws.com" || render(p["SourceArn"]) != want {
			t.Errorf("permission %s: %v, want API Gateway from %s", id, p, want)
		}
	}
	if found != 1 {
		t.Errorf("%d permissions on the api function, want 1", found)
	}
}

// apiGrants are the api function's statements as the template must hold
// them (TestIAMPolicies compares its role's): destinations read, changed
// and removed one at a time, the ledger read, ciphers checked with the
// one algorithm, the public keys read, customers' roles assumed but not
// ours, the export invoked, audit events through the lake's stream.
func apiGrants(t *testing.T, s *synthesized) []grant {
	t.Helper()
	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	keys := []string{arn(s.st.SASKeys[sas.US]), arn(s.st.SASKeys[sas.EU])}
	sort.Strings(keys)
	readKeys := append(slices.Clone(keys), arn(s.st.SigningKey))
	sort.Strings(readKeys)
	return []grant{
		{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.APIFunction]), ""},
		{"Allow", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::*:role/*", ""},
		{"Deny", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:role/*", ""},
		{"Allow", "dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:UpdateItem", arn(s.st.RegistryTable), ""},
		{"Allow", "dynamodb:GetItem,dynamodb:Query", arn(s.st.LedgerTable), ""},
		{"Allow", "kms:DescribeKey,kms:GetPublicKey", strings.Join(readKeys, ","), ""},
		{"Allow", "kms:Decrypt", strings.Join(keys, ","), `{"StringEquals":{"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}`},
		{"Allow", "lambda:InvokeFunction", arn(s.st.Export), ""},
		{"Allow", "firehose:PutRecordBatch", "${" + *s.st.GetLogicalId(s.st.RawStream) + ".Arn}", ""},
	}
}

// TestAPIPolicy: the api function's role holds exactly its grants, and
// none of what it must never do: sign, scan the registry, put whole
// items, read or write the lake's objects.
func TestAPIPolicy(t *testing.T) {
	s := defaults(t)
	sts := rolePolicies(t, s)[s.id(t, s.st.APIRole)]
	var got []grant
	for _, st := range sts {
		got = append(got, grantOf(st))
		for _, a := range list(st["Action"]) {
			switch a {
			case "kms:Sign", "dynamodb:Scan", "dynamodb:PutItem", "s3:GetObject", "s3:PutObject", "s3:ListBucket":
				t.Errorf("the api function may %s", a)
			}
		}
	}
	want := apiGrants(t, s)
	sortGrants(got)
	sortGrants(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("api role grants:\n got %v\nwant %v", got, want)
	}
}

// TestAPIAlarm: any 5xx of the API's stage in five minutes notifies.
func TestAPIAlarm(t *testing.T) {
	s := defaults(t)
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": "AWS/ApiGateway", "MetricName": "5xx", "Statistic": "Sum", "Period": 300, "Threshold": 1, "EvaluationPeriods": 1,
		"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching", "AlarmName": "auditlogs-dev-api-5xx",
		"Dimensions": []interface{}{
			map[string]interface{}{"Name": "ApiId", "Value": map[string]interface{}{"Ref": s.id(t, s.st.HTTPAPI)}},
			map[string]interface{}{"Name": "Stage", "Value": "$default"},
		},
		"AlarmActions": []interface{}{map[string]interface{}{"Ref": s.id(t, s.st.AlarmTopic)}},
	})
}

// TestAPICors: no CORS unless origins are given; with them, those
// origins, the API's methods, and the headers a browser needs to send
// a token and read the request ID.
func TestAPICors(t *testing.T) {
	for _, a := range defaults(t).resources("AWS::ApiGatewayV2::Api") {
		if c := prop(a, "Properties", "CorsConfiguration"); c != nil {
			t.Errorf("CORS without apiCorsOrigins: %v", c)
		}
	}
	s := synth(t, stack.StackProps{APICorsOrigins: []string{"https://console.example.com", "http://localhost:3000"}})
	has(t, s.tmpl, "AWS::ApiGatewayV2::Api", map[string]interface{}{
		"CorsConfiguration": map[string]interface{}{
			"AllowOrigins":  []string{"https://console.example.com", "http://localhost:3000"},
			"AllowMethods":  []string{"GET", "PUT", "POST", "DELETE"},
			"AllowHeaders":  []string{"authorization", "content-type"},
			"ExposeHeaders": []string{"x-request-id", "www-authenticate", "allow"},
			"MaxAge":        3600,
		},
	})
}

// TestAPIContext: the API's context keys; synth fails, naming them,
// without an issuer or an audience; the JWKS URL defaults to the
// issuer's well-known one; malformed values are refused.
func TestAPIContext(t *testing.T) {
	ctx := map[string]interface{}{
		stack.CtxAPIIssuer: "https://idp.example.com/", stack.CtxAPIAudience: "auditlogs",
		stack.CtxAPICorsOrigins: "https://a.example.com, https://b.example.com",
	}
	p, err := stack.PropsFromValues(func(k string) interface{} { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	p = p.Defaults()
	if p.APIIssuer != "https://idp.example.com/" || p.APIAudience != "auditlogs" || p.APIJWKSURL != "https://idp.example.com/.well-known/jwks.json" ||
		!reflect.DeepEqual(p.APICorsOrigins, []string{"https://a.example.com", "https://b.example.com"}) {
		t.Errorf("props %+v", p)
	}
	ctx[stack.CtxAPIJWKSURL] = "https://keys.example.com/jwks"
	if p, _ = stack.PropsFromValues(func(k string) interface{} { return ctx[k] }); p.Defaults().APIJWKSURL != "https://keys.example.com/jwks" {
		t.Errorf("apiJwksUrl given: %q", p.Defaults().APIJWKSURL)
	}

	dir := codeDir(t)
	for _, missing := range []string{stack.CtxAPIIssuer, stack.CtxAPIAudience} {
		p := withAPI(stack.StackProps{CodeDir: dir})
		if missing == stack.CtxAPIIssuer {
			p.APIIssuer = ""
		} else {
			p.APIAudience = ""
		}
		err := p.Defaults().Validate()
		if err == nil || !strings.Contains(err.Error(), stack.CtxAPIIssuer) || !strings.Contains(err.Error(), stack.CtxAPIAudience) {
			t.Errorf("without %s: %v, want an error naming both context keys", missing, err)
		}
		// As `cdk synth` runs it: stack.New refuses.
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		if _, err := stack.New(app, "test", p); err == nil {
			t.Errorf("without %s: the stack was built", missing)
		}
	}
	for name, p := range map[string]stack.StackProps{
		"http issuer":      {APIIssuer: "http://idp.example.com"},
		"issuer no URL":    {APIIssuer: "idp.example.com"},
		"http JWKS":        {APIJWKSURL: "http://idp.example.com/jwks"},
		"origin with path": {APICorsOrigins: []string{"https://console.example.com/app"}},
		"origin no scheme": {APICorsOrigins: []string{"console.example.com"}},
	} {
		p.CodeDir = dir
		if err := withAPI(p).Defaults().Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
