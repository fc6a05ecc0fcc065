// Package dynamotest gives a test a log-store table of its own on its
// package's shared moto_server, for the tests of dynamostore and of the
// code that writes to or reads from it.
//
// Tests only: production code imports it only from _test.go files. It may
// import dynamostore and testenv, and nothing that uses the log store:
// ingest's own tests import it, so an import of the ingest would be a cycle.
package dynamotest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
)

// Table creates a table with dynamostore's schema, named after prefix, on
// the package's shared moto_server and drops it when the test ends, so
// that moto (which scans a whole table per query) stays fast. It returns
// a client of that moto_server and the table's name.
func Table(tb testing.TB, prefix string) (*dynamodb.Client, string) {
	tb.Helper()
	client := dynamodb.NewFromConfig(testenv.AWSConfig(tb, testenv.Endpoints{Default: testenv.Moto(tb).URL}))
	name := testenv.UniqueName(prefix)
	if err := dynamostore.CreateTable(context.Background(), client, name); err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
	testenv.DropTableAtCleanup(tb, client, name)
	return client, name
}
