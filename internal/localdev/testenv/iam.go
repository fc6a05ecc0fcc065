package testenv

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// JSON is v as JSON (policy documents).
func JSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// IAMUser creates IAM user name with an inline policy of statements and an
// access key, and returns the key's ID and secret: the callers of a moto
// that authenticates (INITIAL_NO_AUTH_ACTION_COUNT).
func IAMUser(ctx context.Context, tb testing.TB, ic *iam.Client, name string, statements ...map[string]any) (keyID, secret string) {
	tb.Helper()
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	doc := JSON(tb, map[string]any{"Version": "2012-10-17", "Statement": statements})
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
		tb.Fatalf("put user policy %s: %v", name, err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		tb.Fatalf("create access key %s: %v", name, err)
	}
	return aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
}
