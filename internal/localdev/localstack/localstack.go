// Package localstack runs the delivery system on one machine: it starts the
// emulators (moto_server, local-kms, Azurite), creates what the cloud stack
// would hold (the registry and ledger tables, a KMS key per residency
// and the signing key, the retry and failure queues, the rejects bucket, the lake's bucket,
// which is the log store, and an IAM user per identity of
// internal/grants with the policy the CDK stack gives it), what customers
// would hold (buckets, IAM roles, a container with a create+write SAS), turns on moto's authentication (iam.go), and points
// the process's standard AWS_ENDPOINT_URL variables at them. The demo and
// the tests use it; nothing here is used in production.
//
// The demo plays the operator with the production code (internal/app, and
// internal/registration for registering, as `destination put` does). It
// may import any internal package; no production package may import it,
// and it must not import cmd or functions.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/emulator"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/onboard"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/retryschedule"
)

// Azurite's well-known development account (public, in Azure's docs).
const (
	DevAccount = "devstoreaccount1"
	DevKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Names of what Start creates.
const (
	RegistryTable = "auditlogs-destinations"
	LedgerTable   = "auditlogs-ledger"
	Bucket        = "customer-audit-bucket"
	OtherBucket   = "other-customer-audit-bucket"
	Container     = "customer-audit-container"
	RejectsBucket = "auditlogs-rejects"
	// LakeBucket is the log store: the S3 data lake (internal/lake). The
	// local stack has no Firehose stream (moto's writes each batch as one
	// object at once and ignores the partitioning): the ingest writes raw
	// objects in Firehose's layout itself (lake/directwriter), and
	// compaction runs in process (auditctl compact, the demo).
	LakeBucket = "auditlogs-lake"
)

// queueNames are the local queues, by the name internal/grants gives them.
var queueNames = map[grants.Name]string{
	grants.ExportFailures:    "auditlogs-export-failures",
	grants.ExportFailuresDLQ: "auditlogs-export-failures-dlq",
	grants.FanOutFailures:    "auditlogs-fanout-failures",
	grants.IngestFailures:    "auditlogs-ingest-failures",
}

// Stack is a running local stack.
type Stack struct {
	// Env is what a process needs to use the stack: the standard endpoint
	// variables, the operator's credentials (as the CLI runs) and the
	// AUDITLOG_* settings.
	Env map[string]string
	// KeyIDs of the KMS keys by residency, and their public keys (DER).
	KeyIDs     map[string]string
	PublicKeys map[string][]byte
	// SigningKeyID is the signing key's ID (AUDITLOG_SIGNING_KEY_ID),
	// SigningPublicKey its public key (DER).
	SigningKeyID     string
	SigningPublicKey []byte
	// AWS is the administrator's configuration (AdminUser): this
	// process's own clients for setting up customers and reading back
	// what was delivered.
	AWS        aws.Config
	AzuriteURL string // http://127.0.0.1:port
	// Identities are the IAM users the functions and the CLI run as, and
	// Admin the administrator's.
	Identities map[grants.Identity]Credentials
	Admin      Credentials

	servers []*emulator.Server // those this process started
}

// Start starts the emulators attached to this process, in temporary
// folders, creates the resources and sets the process's environment to
// use them (tests do this). Stop it in any case.
func Start(ctx context.Context) (*Stack, error) {
	s := &Stack{}
	moto, kmsSrv, azurite, err := s.startEmulators(emulator.Options{})
	if err != nil {
		return s, err
	}
	return s, s.provision(ctx, moto, kmsSrv, azurite)
}

// startEmulators starts moto_server, local-kms and Azurite.
func (s *Stack) startEmulators(opts emulator.Options) (moto, kmsSrv, azurite *emulator.Server, err error) {
	for _, e := range []struct {
		spec emulator.Spec
		dst  **emulator.Server
	}{{emulator.Moto, &moto}, {emulator.LocalKMS, &kmsSrv}, {emulator.Azurite, &azurite}} {
		srv, err := emulator.StartWith(e.spec, opts)
		if err != nil {
			return nil, nil, nil, err
		}
		s.servers = append(s.servers, srv)
		*e.dst = srv
	}
	return moto, kmsSrv, azurite, nil
}

// provision points this process at the emulators and creates what the
// cloud stack and the customers would hold: the tables, a KMS key per
// residency and the signing key, the customers' buckets and container.
func (s *Stack) provision(ctx context.Context, moto, kmsSrv, azurite *emulator.Server) error {
	s.Env = map[string]string{
		"AWS_ENDPOINT_URL":           moto.URL,
		"AWS_ENDPOINT_URL_KMS":       kmsSrv.URL,
		"AWS_ACCESS_KEY_ID":          "local",
		"AWS_SECRET_ACCESS_KEY":      "local",
		"AWS_REGION":                 "us-east-1",
		"AWS_EC2_METADATA_DISABLED":  "true",
		config.EnvRegistryTable:      RegistryTable,
		config.EnvLedgerTable:        LedgerTable,
		config.EnvAzureEmulatorHosts: azurite.Host,
		config.EnvRejectsBucket:      RejectsBucket,
		config.EnvLogStore:           factory.KindLake,
		config.EnvLakeBucket:         LakeBucket,
	}
	s.setEnv()
	var err error
	if s.AWS, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s.AzuriteURL = azurite.URL
	db := dynamodb.NewFromConfig(s.AWS)
	if err := registry.CreateTable(ctx, db, RegistryTable); err != nil {
		return err
	}
	if err := ledger.CreateTable(ctx, db, LedgerTable); err != nil {
		return err
	}
	kc := kms.NewFromConfig(s.AWS)
	for _, res := range []string{"us", "eu"} {
		key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{
			KeySpec: kmstypes.KeySpecRsa4096, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt,
			Description: aws.String("audit log SAS encryption, residency " + res),
		})
		if err != nil {
			return fmt.Errorf("create KMS key %s: %w", res, err)
		}
		id := aws.ToString(key.KeyMetadata.KeyId)
		s.Env[keyEnv[res]] = id
	}
	// The signing key, as the stack's (infra/stack signingKey).
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec: kmstypes.KeySpecRsa4096, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("audit log manifest signing"),
	})
	if err != nil {
		return fmt.Errorf("create the KMS signing key: %w", err)
	}
	s.Env[config.EnvSigningKeyID] = aws.ToString(key.KeyMetadata.KeyId)
	s.setEnv()
	if err := s.loadKeys(ctx); err != nil {
		return err
	}
	for _, b := range []string{Bucket, OtherBucket, RejectsBucket, LakeBucket} {
		if _, err := s.s3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	cc, err := s.containerClient()
	if err != nil {
		return err
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	if err := s.createQueues(ctx); err != nil {
		return err
	}
	if err := s.createIdentities(ctx); err != nil {
		return err
	}
	if err := authenticate(ctx, moto.URL); err != nil {
		return err
	}
	// From now on every request needs a key of a user: this process's
	// own clients are the administrator's, and the environment (a CLI
	// started from it, app.Load) is the operator's, as in .local/env.
	s.AWS.Credentials = aws.NewCredentialsCache(s.Admin.provider())
	for k, v := range s.Identities[grants.Operator].env() {
		s.Env[k] = v
	}
	s.Env[config.EnvLocalPrincipals] = strings.Join(s.Principals(), ",")
	s.setEnv()
	return nil
}

// QueueARN is the ARN of a local queue: the retry queue
// (grants.ExportFailures), its dead-letter queue, the failure queues.
func (s *Stack) QueueARN(n grants.Name) string {
	return fmt.Sprintf("arn:aws:sqs:us-east-1:%s:%s", MotoAccount, queueNames[n])
}

// keyEnv is the variable of each residency's KMS key.
var keyEnv = map[string]string{"us": config.EnvKMSKeyUS, "eu": config.EnvKMSKeyEU}

// createQueues creates the retry queue with its dead-letter queue and the
// failure queues, and sets their URLs in Env.
func (s *Stack) createQueues(ctx context.Context) error {
	client := sqs.NewFromConfig(s.AWS)
	urls := map[grants.Name]string{}
	for _, n := range []grants.Name{grants.ExportFailuresDLQ, grants.ExportFailures, grants.FanOutFailures, grants.IngestFailures} {
		in := &sqs.CreateQueueInput{QueueName: aws.String(queueNames[n])}
		if n == grants.ExportFailures { // as the stack's: its dead-letter queue, its visibility
			policy := fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":"%d"}`, s.QueueARN(grants.ExportFailuresDLQ), retryschedule.Default.Receives)
			in.Attributes = map[string]string{"RedrivePolicy": policy, "VisibilityTimeout": strconv.Itoa(int(retryschedule.QueueVisibility / time.Second))}
		}
		out, err := client.CreateQueue(ctx, in)
		if err != nil {
			return fmt.Errorf("create queue %s: %w", queueNames[n], err)
		}
		urls[n] = aws.ToString(out.QueueUrl)
	}
	s.Env[config.EnvRetryQueueURL] = urls[grants.ExportFailures]
	s.Env[config.EnvRetryDLQURL] = urls[grants.ExportFailuresDLQ]
	s.Env[config.EnvIngestFailuresQueueURL] = urls[grants.IngestFailures]
	return nil
}

func (s *Stack) setEnv() {
	for k, v := range s.Env {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
}

// loadKeys reads the KMS keys' public keys, by residency, and the
// signing key's.
func (s *Stack) loadKeys(ctx context.Context) error {
	kc := kms.NewFromConfig(s.AWS)
	s.KeyIDs, s.PublicKeys = map[string]string{}, map[string][]byte{}
	for _, res := range []string{"us", "eu"} {
		id := s.Env[keyEnv[res]]
		if id == "" {
			return fmt.Errorf("environment variable %s is not set", keyEnv[res])
		}
		pub, err := kc.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			return fmt.Errorf("get public key %s: %w", res, err)
		}
		s.KeyIDs[res], s.PublicKeys[res] = id, pub.PublicKey
	}
	id := s.Env[config.EnvSigningKeyID]
	if id == "" {
		return fmt.Errorf("environment variable %s is not set", config.EnvSigningKeyID)
	}
	pub, err := kc.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("get the public key of the signing key: %w", err)
	}
	s.SigningKeyID, s.SigningPublicKey = id, pub.PublicKey
	return nil
}

// Attach attaches to a stack that Up started in dir: it reads the state Up
// recorded there, sets this process's environment to the stack's (as
// sourcing dir/env would: the endpoints, settings and the operator's
// credentials) and gives the administrator's configuration in AWS.
func Attach(ctx context.Context, dir string) (*Stack, error) {
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local stack is recorded in %s: start it with `make up`", dir)
	}
	if err != nil {
		return nil, err
	}
	if !st.running() {
		return nil, fmt.Errorf("the local stack recorded in %s is not running: `make down`, then `make up`", dir)
	}
	s := &Stack{Env: st.Env, Identities: st.Identities, Admin: st.Admin}
	s.setEnv()
	if s.AWS, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithCredentialsProvider(s.Admin.provider())); err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	s.AzuriteURL = "http://" + strings.Split(s.Env[config.EnvAzureEmulatorHosts], ",")[0]
	return s, s.loadKeys(ctx)
}

// Stop stops the emulators that this process started, by PID.
func (s *Stack) Stop() {
	for i := len(s.servers) - 1; i >= 0; i-- {
		s.servers[i].Stop()
	}
}

// s3 is a client of the customers' buckets. A multipart object has no
// whole-object checksum to validate on download; the SDK's warning about
// that is noise here (the demo hashes what it reads).
func (s *Stack) s3() *s3.Client {
	return s3.NewFromConfig(s.AWS, s3obj.PathStyleForEmulators, func(o *s3.Options) {
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// CustomerRole creates the IAM role a customer would create for org to
// deliver to Bucket: CustomerRoleFor with no prefix.
func (s *Stack) CustomerRole(ctx context.Context, org string) (string, error) {
	return s.CustomerRoleFor(ctx, org, Bucket, "")
}

// CustomerRoleFor creates, as the customer's administrator, the IAM role a
// customer would create for org with the documents `auditctl policies`
// gives the customer: the trust policy (our identities, Principals, with
// sts:ExternalId = org) and the role's permissions (PutObject and
// AbortMultipartUpload under bucket/prefix). It returns the role's ARN.
func (s *Stack) CustomerRoleFor(ctx context.Context, org, bucket, prefix string) (string, error) {
	name := "AuditLogs-" + org
	docs, err := onboard.Generate(onboard.Input{OrgID: org, Bucket: bucket, Prefix: prefix, Region: "us-east-1", Account: MotoAccount,
		Principals: s.Principals(), CustomerAccount: MotoAccount, RoleName: name})
	if err != nil {
		return "", fmt.Errorf("policies for %s: %w", org, err)
	}
	trust, err := onboard.JSON(docs.TrustPolicy)
	if err != nil {
		return "", fmt.Errorf("trust policy for %s: %w", org, err)
	}
	perms, err := onboard.JSON(docs.IAMPolicy)
	if err != nil {
		return "", fmt.Errorf("IAM policy for %s: %w", org, err)
	}
	client := iam.NewFromConfig(s.AWS)
	out, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(string(trust))})
	if err != nil {
		return "", fmt.Errorf("create role for %s: %w", org, err)
	}
	if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("AuditLogsDelivery"), PolicyDocument: aws.String(string(perms))}); err != nil {
		return "", fmt.Errorf("put the policy of role %s: %w", name, err)
	}
	return aws.ToString(out.Role.Arn), nil
}

func (s *Stack) containerClient() (*container.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(DevAccount, DevKey)
	if err != nil {
		return nil, err
	}
	return container.NewClientWithSharedKeyCredential(s.AzuriteURL+"/"+DevAccount+"/"+Container, cred, nil)
}

// ContainerSAS is the URL a customer would copy from the portal: a SAS for
// the container with create and write only, valid for validity.
func (s *Stack) ContainerSAS(validity time.Duration) (string, error) {
	return s.containerSAS(Container, validity)
}

// NewContainer creates another customer's container, name, and returns
// a SAS URL for it as ContainerSAS does: for tests of orgs that must not
// share the stack's one container.
func (s *Stack) NewContainer(ctx context.Context, name string, validity time.Duration) (string, error) {
	cred, err := azblob.NewSharedKeyCredential(DevAccount, DevKey)
	if err != nil {
		return "", err
	}
	cc, err := container.NewClientWithSharedKeyCredential(s.AzuriteURL+"/"+DevAccount+"/"+name, cred, nil)
	if err != nil {
		return "", err
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	return s.containerSAS(name, validity)
}

func (s *Stack) containerSAS(name string, validity time.Duration) (string, error) {
	cred, err := azblob.NewSharedKeyCredential(DevAccount, DevKey)
	if err != nil {
		return "", err
	}
	q, err := azsas.BlobSignatureValues{
		Protocol:      azsas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().UTC().Add(validity),
		Permissions:   (&azsas.ContainerPermissions{Create: true, Write: true}).String(),
		ContainerName: name,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", err
	}
	return s.AzuriteURL + "/" + DevAccount + "/" + name + "?" + q.Encode(), nil
}

// EncryptSAS does what the product doc's openssl commands do: RSA-OAEP
// with SHA-256 to the residency's public key, then base64 wrapped at 76
// columns like GNU base64.
func (s *Stack) EncryptSAS(residency, sasURL string) (string, error) {
	pk, err := x509.ParsePKIXPublicKey(s.PublicKeys[residency])
	if err != nil {
		return "", fmt.Errorf("public key %s: %w", residency, err)
	}
	rsaKey, ok := pk.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("public key %s is not RSA", residency)
	}
	c, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaKey, []byte(sasURL), nil)
	if err != nil {
		return "", err
	}
	return destination.EncodeCipher(c), nil
}

// ReadS3 returns an object of the customer bucket.
func (s *Stack) ReadS3(ctx context.Context, key string) ([]byte, error) {
	out, err := s.s3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// ReadBlob returns a blob of the customer container.
func (s *Stack) ReadBlob(ctx context.Context, name string) ([]byte, error) {
	r, err := s.openBlob(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (s *Stack) openBlob(ctx context.Context, name string) (io.ReadCloser, error) {
	cc, err := s.containerClient()
	if err != nil {
		return nil, err
	}
	resp, err := cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ObjectInfo is what storage says of a delivered object besides its bytes.
type ObjectInfo struct {
	ContentType     string
	ContentEncoding string
	Metadata        map[string]string
}

// HeadS3 returns what S3 says of an object of the customer bucket.
func (s *Stack) HeadS3(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.s3().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding), Metadata: out.Metadata}, nil
}

// BlobInfo returns what Azure says of a blob of the customer container.
func (s *Stack) BlobInfo(ctx context.Context, name string) (ObjectInfo, error) {
	cc, err := s.containerClient()
	if err != nil {
		return ObjectInfo{}, err
	}
	p, err := cc.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return ObjectInfo{}, err
	}
	info := ObjectInfo{Metadata: map[string]string{}}
	if p.ContentType != nil {
		info.ContentType = *p.ContentType
	}
	if p.ContentEncoding != nil {
		info.ContentEncoding = *p.ContentEncoding
	}
	for k, v := range p.Metadata {
		if v != nil {
			info.Metadata[strings.ToLower(k)] = *v
		}
	}
	return info, nil
}
