package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/fanoutfn"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
)

// inProcessLambda is the Lambda Invoke API for the fan-out: each Event
// invocation runs the export handler at once, in this process (as the
// Lambda emulator does), and is answered 202 as Lambda answers it.
type inProcessLambda struct {
	s     *suite
	h     *exportfn.Handler
	byOrg map[string]*fixture

	mu       sync.Mutex
	attempts map[string][]attempt
	unknown  []string // invocations for orgs that are no valid destination
}

func (l *inProcessLambda) Invoke(_ context.Context, in *awslambda.InvokeInput, _ ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error) {
	var p exportjob.Payload
	if err := json.Unmarshal(in.Payload, &p); err != nil {
		return nil, err
	}
	f := l.byOrg[p.OrgID]
	if f == nil {
		l.mu.Lock()
		l.unknown = append(l.unknown, p.OrgID)
		l.mu.Unlock()
		return nil, fmt.Errorf("invoked for org %s, which is no valid destination", p.OrgID)
	}
	a := l.s.invokeWith(l.h, f, f.name+"-fanout", p.Attempt)
	l.mu.Lock()
	l.attempts[f.org] = append(l.attempts[f.org], a)
	l.mu.Unlock()
	return &awslambda.InvokeOutput{StatusCode: 202}, nil
}

// malformedRegistryItem: a registry (of the scenario's own, the
// production schema) holds three valid destinations and, between them,
// three items no destination can be made of: a kind that does not exist,
// an S3 bucket name S3 refuses, an Azure destination without its cipher.
// The fan-out (its own identity, through the DynamoDB proxy) skips and
// names each, counts them in its metric, and invokes the export (the
// export's identity, the same registry) for every valid org: each is
// delivered once, complete.
func (s *suite) malformedRegistryItem(t *testing.T, r *row) {
	ctx := context.Background()
	table := testenv.UniqueName("rel-registry")
	admin := testenv.AWSConfig(t, testenv.Endpoints{Default: s.motoURL})
	admin.Credentials = s.st.AWS.Credentials
	adminDB := dynamodb.NewFromConfig(admin)
	if err := registry.CreateTable(ctx, adminDB, table); err != nil {
		t.Fatal(err)
	}
	cfg := s.cfg
	cfg.RegistryTable = table
	as := func(id grants.Identity) *app.App {
		a, err := app.New(ctx, cfg, config.WithCredentialsProvider(s.st.Config(id).Credentials))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	exporter, fanOut := as(grants.Export), as(grants.FanOut)

	var fixtures []*fixture
	put := func(f *fixture) {
		if _, err := exporter.Registry.Put(ctx, f.dest); err != nil {
			t.Fatal(err)
		}
		fixtures = append(fixtures, f)
	}
	bad := map[string]map[string]types.AttributeValue{
		"rel-bad-kind":   {registry.AttrKind: str("ftp")},
		"rel-bad-bucket": {registry.AttrKind: str("s3"), registry.AttrBucket: str("Bad_Bucket"), registry.AttrRegion: str("us-east-1"), registry.AttrRoleARN: str("arn:aws:iam::123456789012:role/x")},
		"rel-no-cipher":  {registry.AttrKind: str("azure"), registry.AttrResidency: str("us")},
	}
	put(s.newFixture(t, r.Scenario+"-a", destination.KindS3, false))
	for org, item := range bad {
		item[registry.AttrOrgID] = str(org)
		item[registry.AttrEnabled] = &types.AttributeValueMemberBOOL{Value: true}
		if _, err := adminDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(s.newFixture(t, r.Scenario+"-b", destination.KindAzure, false))
	put(s.newFixture(t, r.Scenario+"-c", destination.KindS3, false))

	lambda := &inProcessLambda{s: s, byOrg: map[string]*fixture{}, attempts: map[string][]attempt{},
		h: &exportfn.Handler{Delivery: exporter.Delivery(s.log)}}
	for _, f := range fixtures {
		lambda.byOrg[f.org] = f
	}
	var emf bytes.Buffer
	h := &fanoutfn.Handler{Registry: fanOut.Registry, Lambda: lambda, ExportFunction: "export", Concurrency: 2, Segments: 2,
		Log: s.log, Metrics: &emf}
	sum, err := h.Handle(ctx, fanoutfn.ManualRun(s.day))
	if err != nil {
		t.Errorf("fan-out: %v", err)
	}
	wantInvalid := []string{"rel-bad-bucket", "rel-bad-kind", "rel-no-cipher"}
	if got := slices.Sorted(slices.Values(sum.InvalidOrgs)); sum.InvalidItems != 3 || !slices.Equal(got, wantInvalid) {
		t.Errorf("fan-out skipped %d items %v, want %v", sum.InvalidItems, got, wantInvalid)
	}
	if sum.Seen != len(fixtures) || sum.Invoked != len(fixtures) || sum.Failed != 0 || len(lambda.unknown) != 0 {
		t.Errorf("fan-out: %+v, invocations for unknown orgs %v; want every valid org invoked once", sum, lambda.unknown)
	}
	if line := emf.String(); !strings.Contains(line, `"`+metrics.InvalidRegistryItems+`":3`) {
		t.Errorf("metrics %s, want %s = 3", line, metrics.InvalidRegistryItems)
	}
	logs := s.logs.String()
	for _, org := range wantInvalid {
		if !strings.Contains(logs, org) {
			t.Errorf("no log line names the skipped item of org %s", org)
		}
	}

	// One row for the three orgs: their counts added up.
	var outcomes []string
	for _, f := range fixtures {
		got := lambda.attempts[f.org]
		one := &row{}
		s.check(t, f, one, got, 1, 1)
		r.Attempts += len(got)
		r.Objects += one.Objects
		r.Rows += one.Rows
		r.Generated += one.Generated
		r.Lost += one.Lost
		r.Duplicated += one.Duplicated
		r.Partial += one.Partial
		r.Incomplete += one.Incomplete
		outcomes = append(outcomes, outcome(got))
	}
	r.Hits = sum.InvalidItems
	r.Outcome = fmt.Sprintf("%d items skipped and named; %d valid orgs: %s", sum.InvalidItems, len(fixtures), strings.Join(outcomes, ", "))
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
