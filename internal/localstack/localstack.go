// Package localstack runs the delivery system on one machine: it starts the
// emulators (moto_server, local-kms, Azurite), creates what the cloud stack
// would hold (the log store and registry tables, a KMS key per residency, a
// customer bucket with an IAM role, a customer container with a
// create+write SAS), and points the process's standard AWS_ENDPOINT_URL
// variables at them. The demo uses it; nothing here is used in production.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/emulator"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/onboard"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
)

// Azurite's well-known development account (public, in Azure's docs).
const (
	DevAccount = "devstoreaccount1"
	DevKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Names of what Start creates.
const (
	EventsTable   = "auditlogs-events"
	RegistryTable = "auditlogs-destinations"
	LedgerTable   = "auditlogs-ledger"
	Bucket        = "customer-audit-bucket"
	OtherBucket   = "other-customer-audit-bucket"
	Container     = "customer-audit-container"
)

// Stack is a running local stack.
type Stack struct {
	// Env is what a process needs to use the stack: the standard endpoint
	// variables, test credentials and the AUDITLOG_* settings.
	Env map[string]string
	// KeyIDs of the KMS keys by residency, and their public keys (DER).
	KeyIDs     map[string]string
	PublicKeys map[string][]byte
	AWS        aws.Config
	AzuriteURL string // http://127.0.0.1:port

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
// residency, the customers' buckets and container.
func (s *Stack) provision(ctx context.Context, moto, kmsSrv, azurite *emulator.Server) error {
	s.Env = map[string]string{
		"AWS_ENDPOINT_URL":              moto.URL,
		"AWS_ENDPOINT_URL_KMS":          kmsSrv.URL,
		"AWS_ACCESS_KEY_ID":             "local",
		"AWS_SECRET_ACCESS_KEY":         "local",
		"AWS_REGION":                    "us-east-1",
		"AWS_EC2_METADATA_DISABLED":     "true",
		"AUDITLOG_EVENTS_TABLE":         EventsTable,
		"AUDITLOG_REGISTRY_TABLE":       RegistryTable,
		"AUDITLOG_LEDGER_TABLE":         LedgerTable,
		"AUDITLOG_AZURE_EMULATOR_HOSTS": azurite.Host,
	}
	s.setEnv()
	var err error
	if s.AWS, err = config.LoadDefaultConfig(ctx); err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s.AzuriteURL = azurite.URL
	db := dynamodb.NewFromConfig(s.AWS)
	if err := dynamostore.CreateTable(ctx, db, EventsTable); err != nil {
		return err
	}
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
		s.Env["AUDITLOG_KMS_KEY_"+strings.ToUpper(res)] = id
	}
	s.setEnv()
	if err := s.loadKeys(ctx); err != nil {
		return err
	}
	for _, b := range []string{Bucket, OtherBucket} {
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
	return nil
}

func (s *Stack) setEnv() {
	for k, v := range s.Env {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
}

// loadKeys reads the KMS keys' public keys, by residency.
func (s *Stack) loadKeys(ctx context.Context) error {
	kc := kms.NewFromConfig(s.AWS)
	s.KeyIDs, s.PublicKeys = map[string]string{}, map[string][]byte{}
	for _, res := range []string{"us", "eu"} {
		id := s.Env["AUDITLOG_KMS_KEY_"+strings.ToUpper(res)]
		if id == "" {
			return fmt.Errorf("environment variable AUDITLOG_KMS_KEY_%s is not set", strings.ToUpper(res))
		}
		pub, err := kc.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			return fmt.Errorf("get public key %s: %w", res, err)
		}
		s.KeyIDs[res], s.PublicKeys[res] = id, pub.PublicKey
	}
	return nil
}

// FromEnv attaches to a stack that `make up` started, through the
// environment it wrote to .local/env.
func FromEnv(ctx context.Context) (*Stack, error) {
	s := &Stack{Env: map[string]string{}}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AUDITLOG_AZURE_EMULATOR_HOSTS", "AUDITLOG_KMS_KEY_US", "AUDITLOG_KMS_KEY_EU"} {
		if s.Env[k] = os.Getenv(k); s.Env[k] == "" {
			return nil, fmt.Errorf("environment variable %s is not set: start the local stack with `make up` and source .local/env", k)
		}
	}
	var err error
	if s.AWS, err = config.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	s.AzuriteURL = "http://" + strings.Split(s.Env["AUDITLOG_AZURE_EMULATOR_HOSTS"], ",")[0]
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
	return s3.NewFromConfig(s.AWS, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// CustomerRole creates, in moto, the IAM role a customer would create for
// org, with the trust policy `auditctl policies` gives the customer (our
// account, sts:ExternalId = org), and returns its ARN.
func (s *Stack) CustomerRole(ctx context.Context, org string) (string, error) {
	const account = "123456789012" // moto's: ours and the customers'
	docs, err := onboard.Generate(onboard.Input{OrgID: org, Bucket: Bucket, Region: "us-east-1", Account: account,
		CustomerAccount: account, RoleName: "AuditLogs-" + org})
	if err != nil {
		return "", fmt.Errorf("trust policy for %s: %w", org, err)
	}
	trust, err := onboard.JSON(docs.TrustPolicy)
	if err != nil {
		return "", fmt.Errorf("trust policy for %s: %w", org, err)
	}
	out, err := iam.NewFromConfig(s.AWS).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("AuditLogs-" + org), AssumeRolePolicyDocument: aws.String(string(trust))})
	if err != nil {
		return "", fmt.Errorf("create role for %s: %w", org, err)
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
	cred, err := azblob.NewSharedKeyCredential(DevAccount, DevKey)
	if err != nil {
		return "", err
	}
	q, err := azsas.BlobSignatureValues{
		Protocol:      azsas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().UTC().Add(validity),
		Permissions:   (&azsas.ContainerPermissions{Create: true, Write: true}).String(),
		ContainerName: Container,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", err
	}
	return s.AzuriteURL + "/" + DevAccount + "/" + Container + "?" + q.Encode(), nil
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
	return sas.EncodeCipher(c), nil
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
