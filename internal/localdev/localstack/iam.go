package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/grants"
)

// The local stack enforces IAM as AWS does, within what moto checks: once
// its set-up is done, moto authenticates every request and evaluates the
// caller's policies, and a role's trust policy with its sts:ExternalId
// condition. The functions and the CLI run as IAM users (there are no
// Lambda roles to assume here) whose inline policies are rendered from
// internal/grants, the statements the CDK stack gives the functions' roles
// and the operators; the customers' set-up runs as an administrator of the
// account, as a customer's console would.
//
// Where moto cannot check what AWS checks, the rendering says so:
//   - moto authorizes DynamoDB and Kinesis requests against the resource
//     "*" (it does not resolve the table or stream), so statements on
//     tables and streams name "*" here: their actions are still the
//     stack's, and an action the stack does not grant is refused, but a
//     grant on the wrong table is not noticed locally (the stack's tests
//     check every resource);
//   - moto checks a trust policy only when the role is in the caller's
//     account, so the customers' roles and our users share moto's one
//     account, and the Deny on "this account's roles" names an account of
//     its own (OwnAccount) that holds no role here;
//   - moto names some batch APIs as actions of their own
//     (sqs:SendMessageBatch), which AWS authorizes as the single action,
//     and a DynamoDB transaction as dynamodb:TransactWriteItems, which is
//     no IAM action (AWS authorizes each of its items as its own action:
//     the registry's transactions hold UpdateItems and, for a delete, a
//     DeleteItem); motoAliases adds them next to the actions AWS checks;
//   - local-kms and the Lambda emulator check no permission at all.

// MotoAccount is moto's account: ours and the customers' on the local stack.
const MotoAccount = "123456789012"

// OwnAccount stands for the account our functions' roles live in, which
// the delivery's Deny names (see above); no role of it exists locally.
const OwnAccount = "000000000000"

// AdminUser is the customers' administrator of the local account
// (customer.env): it creates buckets, roles and policies, as a customer
// does in their console, and tests read what was delivered with it.
const AdminUser = "local-admin"

// UserName is the IAM user an identity runs as on the local stack.
func UserName(id grants.Identity) string { return "auditlogs-" + string(id) }

// Credentials are an IAM user's access key.
type Credentials struct {
	User            string `json:"user"`
	ARN             string `json:"arn"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// provider gives the static credentials to an SDK configuration.
func (c Credentials) provider() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")
}

// env are the shell variables that make a process act as c.
func (c Credentials) env() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": c.AccessKeyID, "AWS_SECRET_ACCESS_KEY": c.SecretAccessKey}
}

// Environ is env as KEY=value entries, for a process started as c (the
// export function under the Lambda emulator).
func (c Credentials) Environ() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey}
}

// motoAliases are moto's names for batch APIs that AWS authorizes as the
// single action.
var motoAliases = map[string][]string{
	"sqs:SendMessage":             {"sqs:SendMessageBatch"},
	"sqs:DeleteMessage":           {"sqs:DeleteMessageBatch"},
	"sqs:ChangeMessageVisibility": {"sqs:ChangeMessageVisibilityBatch"},
	"dynamodb:UpdateItem":         {"dynamodb:TransactWriteItems"},
}

// localARNs are the local resources' ARNs of a grants.Name, for the
// function fn ("" for the operators).
func (s *Stack) localARNs(fn grants.Identity, n grants.Name) []string {
	region := "us-east-1"
	switch n {
	case grants.RegistryTable, grants.LedgerTable, grants.RequestLogs:
		return []string{"*"} // moto does not resolve them (see above)
	case grants.SASKeys:
		var keys []string
		for _, res := range []string{"us", "eu"} {
			keys = append(keys, fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, localKMSAccount, s.Env[keyEnv[res]]))
		}
		return keys
	case grants.SigningKey:
		return []string{fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, localKMSAccount, s.Env[config.EnvSigningKeyID])}
	case grants.ExportFn:
		return []string{fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, MotoAccount, ExportFunctionName)}
	case grants.ExportFailures, grants.ExportFailuresDLQ, grants.FanOutFailures, grants.IngestFailures:
		return []string{s.QueueARN(n)}
	case grants.RejectsBucket:
		return []string{"arn:aws:s3:::" + RejectsBucket}
	case grants.LakeBucket:
		return []string{"arn:aws:s3:::" + LakeBucket}
	case grants.LakeStream:
		// No stream runs locally (see LakeBucket): the name the stack's
		// would have, which no call reaches.
		return []string{fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/auditlogs-local-raw", region, MotoAccount)}
	case grants.LogGroup:
		return []string{fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/lambda/auditlogs-local-%s", region, MotoAccount, fn)}
	case grants.CustomerRoles:
		return []string{"arn:aws:iam::*:role/*"}
	case grants.OwnAccountRoles:
		return []string{"arn:aws:iam::" + OwnAccount + ":role/*"}
	}
	panic(fmt.Sprintf("localstack: no local ARN for %q", n))
}

// localOnly are the statements an identity needs on the local stack
// beyond its grants: with no stream (see LakeBucket), the ingest, the
// HTTP API (the audit events of its changes) and the operators' events
// load and ingest write the raw objects that Firehose writes in the cloud
// (lake/directwriter), under raw/ only.
var localOnly = map[grants.Identity][]grants.Statement{
	grants.Ingest:   {standInForTheStream},
	grants.API:      {standInForTheStream},
	grants.Operator: {standInForTheStream},
}

var standInForTheStream = grants.Statement{Sid: "StandInForTheStream", Effect: grants.Allow, Actions: []string{"s3:PutObject", "s3:AbortMultipartUpload"},
	Resources: []grants.Resource{{Name: grants.LakeBucket, Path: "/" + grants.LakeRawPrefix + "*"}}}

// localKMSAccount is the account local-kms is started with (emulator.LocalKMS).
const localKMSAccount = "111122223333"

// policyDocument renders an identity's statements as an IAM policy
// document for moto.
func (s *Stack) policyDocument(id grants.Identity) (string, error) {
	type statement struct {
		Sid       string                       `json:"Sid"`
		Effect    string                       `json:"Effect"`
		Action    []string                     `json:"Action"`
		Resource  []string                     `json:"Resource"`
		Condition map[string]map[string]string `json:"Condition,omitempty"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: "2012-10-17"}
	for _, st := range append(grants.For(id), localOnly[id]...) {
		out := statement{Sid: st.Sid, Effect: string(st.Effect), Condition: st.Condition}
		for _, a := range st.Actions {
			out.Action = append(out.Action, a)
			out.Action = append(out.Action, motoAliases[a]...)
		}
		for _, r := range st.Resources {
			for _, arn := range s.localARNs(id, r.Name) {
				if arn != "*" {
					arn += r.Path
				}
				if !slices.Contains(out.Resource, arn) {
					out.Resource = append(out.Resource, arn)
				}
			}
		}
		doc.Statement = append(doc.Statement, out)
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// createIdentities creates, while moto does not authenticate yet, an IAM
// user with its inline policy and an access key for every identity of
// internal/grants, and the administrator.
func (s *Stack) createIdentities(ctx context.Context) error {
	client := iam.NewFromConfig(s.AWS)
	s.Identities = map[grants.Identity]Credentials{}
	for _, id := range grants.Identities {
		doc, err := s.policyDocument(id)
		if err != nil {
			return err
		}
		c, err := createUser(ctx, client, UserName(id), doc)
		if err != nil {
			return err
		}
		s.Identities[id] = c
	}
	admin := `{"Version":"2012-10-17","Statement":[{"Sid":"AdministerTheAccount","Effect":"Allow","Action":"*","Resource":"*"}]}`
	var err error
	s.Admin, err = createUser(ctx, client, AdminUser, admin)
	return err
}

func createUser(ctx context.Context, client *iam.Client, name, policy string) (Credentials, error) {
	u, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		return Credentials{}, fmt.Errorf("create IAM user %s: %w", name, err)
	}
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(name), PolicyDocument: aws.String(policy)}); err != nil {
		return Credentials{}, fmt.Errorf("put the policy of IAM user %s: %w", name, err)
	}
	k, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		return Credentials{}, fmt.Errorf("create an access key of IAM user %s: %w", name, err)
	}
	return Credentials{User: name, ARN: aws.ToString(u.User.Arn), AccessKeyID: aws.ToString(k.AccessKey.AccessKeyId),
		SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey)}, nil
}

// authenticate makes moto authenticate and authorize every request from
// now on (its /moto-api/reset-auth with 0 unauthenticated requests left).
func authenticate(ctx context.Context, motoURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, motoURL+"/moto-api/reset-auth", strings.NewReader("0"))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("turn on moto's authentication: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"ok"`)) {
		return fmt.Errorf("turn on moto's authentication: %s %s", resp.Status, body)
	}
	return nil
}

// Principals are the ARNs of the identities the functions and the CLI run
// as (AUDITLOG_LOCAL_PRINCIPALS): what a customer's trust policy names on
// the local stack, since moto matches a trust policy's principal by its
// exact ARN, never by an account's root.
func (s *Stack) Principals() []string {
	var arns []string
	for _, id := range grants.Identities {
		arns = append(arns, s.Identities[id].ARN)
	}
	return arns
}

// Config is the SDK configuration of the stack with id's credentials: what
// a process running as that identity uses.
func (s *Stack) Config(id grants.Identity) aws.Config {
	cfg := s.AWS.Copy()
	cfg.Credentials = aws.NewCredentialsCache(s.Identities[id].provider())
	return cfg
}
