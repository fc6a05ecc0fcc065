package ddbtable_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/ddbtable"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func schema(name string, keys ...string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
	for i, k := range keys {
		kt := types.KeyTypeHash
		if i > 0 {
			kt = types.KeyTypeRange
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k), AttributeType: types.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k), KeyType: kt})
	}
	return in
}

// TestRetriedCreateTable: the answer to a CreateTable that moto applied is
// lost (the connection is reset after the request went through, as a
// loaded machine made happen in CI); the SDK's retry finds the table, and
// Create takes it as the table it created. A table of the name with
// another key schema is still an error.
func TestRetriedCreateTable(t *testing.T) {
	moto := testenv.Moto(t)
	p, err := faultproxy.Start(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	rule := &faultproxy.Rule{Method: http.MethodPost, Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.CreateTable"},
		Times: 1, Action: faultproxy.ResetAfterResponse(0)}
	p.Add(rule)
	client := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: p.URL}))
	ctx := context.Background()
	name := testenv.UniqueName("ddbtable")
	testenv.DropTableAtCleanup(t, client, name)
	if err := ddbtable.Create(ctx, client, schema(name, "pk", "sk"), time.Minute); err != nil {
		t.Fatalf("create with its first answer lost: %v", err)
	}
	if rule.Hits() != 1 {
		t.Fatalf("the fault fired %d times, want once", rule.Hits())
	}
	if err := ddbtable.Create(ctx, client, schema(name, "pk", "sk"), time.Minute); err != nil {
		t.Errorf("create again with the same schema: %v", err)
	}
	err = ddbtable.Create(ctx, client, schema(name, "org_id"), time.Minute)
	var inUse *types.ResourceInUseException
	if err == nil || !strings.Contains(err.Error(), "another key schema") || !errors.As(err, &inUse) {
		t.Errorf("create with another schema: %v, want an error naming the clash", err)
	}
}
