// Package ddbtable creates the DynamoDB tables that tests, the local stack
// and the CLI create themselves (the CDK stack creates the deployment's),
// so that a CreateTable the SDK retried is not taken for a clash.
//
// It imports only the standard library and the AWS SDK's DynamoDB client,
// nothing of this module: the stores that own tables (ledger, registry)
// import it, so it must not import them.
package ddbtable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the part of the DynamoDB client Create uses.
type API interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Create creates the table in describes and waits up to wait until it is
// active. CreateTable is not idempotent, and the SDK retries it when an
// answer is lost or slow (a loaded emulator does that), so the retry may
// find the table its first attempt created: a table of that name with the
// same key schema counts as created; one with another schema is an error.
func Create(ctx context.Context, api API, in *dynamodb.CreateTableInput, wait time.Duration) error {
	name := aws.ToString(in.TableName)
	_, err := api.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		out, derr := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if derr != nil {
			return fmt.Errorf("%w (and describing it: %v)", err, derr)
		}
		if !slices.EqualFunc(out.Table.KeySchema, in.KeySchema, func(a, b types.KeySchemaElement) bool {
			return aws.ToString(a.AttributeName) == aws.ToString(b.AttributeName) && a.KeyType == b.KeyType
		}) {
			return fmt.Errorf("table %s exists with another key schema: %w", name, err)
		}
		err = nil
	}
	if err != nil {
		return err
	}
	w := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = time.Second })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, wait); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	return nil
}
