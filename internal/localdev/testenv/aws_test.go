package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestAWSConfigPinsEndpoints: clients made from the config after it was
// loaded (when the variables are back to what they were) still reach the
// endpoints given, per service, never a real cloud.
func TestAWSConfigPinsEndpoints(t *testing.T) {
	var toDefault, toKMS atomic.Int32
	def := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { toDefault.Add(1); w.WriteHeader(400) }))
	defer def.Close()
	k := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { toKMS.Add(1); w.WriteHeader(400) }))
	defer k.Close()
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:1")
	cfg := AWSConfig(t, Endpoints{Default: def.URL, KMS: k.URL})
	cfg.RetryMaxAttempts = 1
	_, _ = kms.NewFromConfig(cfg).ListKeys(context.Background(), &kms.ListKeysInput{})
	_, _ = dynamodb.NewFromConfig(cfg).ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if toKMS.Load() != 1 || toDefault.Load() != 1 {
		t.Fatalf("requests: kms endpoint %d, default endpoint %d; want 1 and 1", toKMS.Load(), toDefault.Load())
	}
}
