package testenv

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

var (
	uniq  atomic.Int64
	envMu sync.Mutex
)

// Endpoints names the emulator for each AWS service a config will reach.
// Default is used for every service not named; KMS for KMS.
type Endpoints struct {
	Default string
	KMS     string
}

// AWSConfig loads an SDK config the way production code does
// (config.LoadDefaultConfig), with the endpoints given through the standard
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_KMS variables, static test
// credentials, and no shared profile, so nothing can reach a real cloud.
func AWSConfig(tb testing.TB, ep Endpoints, creds ...string) aws.Config {
	tb.Helper()
	key, secret := "test", "test"
	if len(creds) == 2 {
		key, secret = creds[0], creds[1]
	}
	cfg, err := WithEnv(map[string]string{
		"AWS_ENDPOINT_URL":            ep.Default,
		"AWS_ENDPOINT_URL_KMS":        ep.KMS,
		"AWS_ACCESS_KEY_ID":           key,
		"AWS_SECRET_ACCESS_KEY":       secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}, func() (aws.Config, error) { return config.LoadDefaultConfig(context.Background()) })
	if err != nil {
		tb.Fatalf("load AWS config: %v", err)
	}
	// The SDK reads AWS_ENDPOINT_URL_<SERVICE> when a client is created,
	// not when the config is loaded, and the variables are restored by
	// then. Keep what they said in the config's own sources, ahead of the
	// environment, so every client of this config reaches the emulators
	// whatever the process environment says later.
	cfg.ConfigSources = append([]any{pinnedEndpoints{def: ep.Default, kms: ep.KMS}}, cfg.ConfigSources...)
	return cfg
}

// pinnedEndpoints answers the SDK's per-service endpoint lookup
// (configsources.ServiceBaseEndpointProvider) for a test config.
type pinnedEndpoints struct{ def, kms string }

func (p pinnedEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if sdkID == "KMS" && p.kms != "" {
		return p.kms, true, nil
	}
	return p.def, p.def != "", nil
}

// WithEnv runs fn with the variables set (an empty value unsets one) and
// then restores them. Calls are serialized, so parallel tests can build
// configs for different emulators without racing on the environment.
func WithEnv[T any](vars map[string]string, fn func() (T, error)) (T, error) {
	envMu.Lock()
	defer envMu.Unlock()
	old := map[string]*string{}
	for k, v := range vars {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
		} else {
			old[k] = nil
		}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	defer func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}()
	return fn()
}

// DropTableAtCleanup deletes the DynamoDB table when the test ends, so that
// moto (which scans a whole table per query) stays fast for the next test.
// A table already gone counts as dropped: if the SDK retries a DeleteTable
// whose first attempt went through, the retry answers
// ResourceNotFoundException (seen once in CI, on a 2-core machine running
// every package's tests; not reproduced under load since). Any other error
// fails the test.
func DropTableAtCleanup(tb testing.TB, client *dynamodb.Client, name string) {
	tb.Helper()
	tb.Cleanup(func() {
		_, err := client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var gone *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &gone) {
			tb.Errorf("delete table %s: %v", name, err)
		}
	})
}

// NewStream creates a one-shard Kinesis data stream of the test's own on
// the emulator behind client and returns its ARN.
func NewStream(tb testing.TB, client *kinesis.Client) string {
	tb.Helper()
	ctx := context.Background()
	name := UniqueName("requests")
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		tb.Fatalf("create stream %s: %v", name, err)
	}
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		tb.Fatalf("describe stream %s: %v", name, err)
	}
	return aws.ToString(sum.StreamDescriptionSummary.StreamARN)
}
