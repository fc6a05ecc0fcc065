package app

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/signing"
)

// KeyIDs maps each residency that has a key configured in c to it.
func KeyIDs(c config.Config) map[sas.Residency]string {
	keys := map[sas.Residency]string{}
	if c.KMSKeyUS != "" {
		keys[sas.US] = c.KMSKeyUS
	}
	if c.KMSKeyEU != "" {
		keys[sas.EU] = c.KMSKeyEU
	}
	return keys
}

// SASPolicy is the policy SAS URLs are checked with, here as in the export.
func SASPolicy(c config.Config) sas.Policy {
	return sas.Policy{AllowedEmulatorHosts: c.EmulatorHosts}
}

// PublicKeys builds the fetcher of the residencies' public keys, with a
// KMS client loaded the standard way (AWS_ENDPOINT_URL_KMS points it at an
// emulator).
func PublicKeys(ctx context.Context, c config.Config) (*sas.PublicKeys, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &sas.PublicKeys{KMS: kms.NewFromConfig(awsCfg), KeyIDs: KeyIDs(c)}, nil
}

// NewSigner is the signer of delivered files' manifests: the KMS key of
// c.SigningKeyID through client. Without a key ID it is a configuration
// error naming the variable, so that a process that must sign fails at its
// start rather than deliver files without signatures.
func NewSigner(client signing.KMS, c config.Config) (*signing.Signer, error) {
	if c.SigningKeyID == "" {
		return nil, fmt.Errorf("environment variable %s is not set: signing delivery manifests needs the KMS signing key (stack output SigningKeyArn)", config.EnvSigningKeyID)
	}
	return signing.New(client, c.SigningKeyID), nil
}

// Signer is NewSigner with a KMS client loaded the standard way, as
// PublicKeys does (`auditctl keys public --purpose signing`).
func Signer(ctx context.Context, c config.Config) (*signing.Signer, error) {
	if c.SigningKeyID == "" {
		return NewSigner(nil, c) // the configuration error, before any AWS configuration is loaded
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return NewSigner(kms.NewFromConfig(awsCfg), c)
}

// Signer is NewSigner with the App's configuration and AWS configuration
// (the export's role, its credentials). Each call builds a new Signer, which
// fetches the public key anew: build it once, at a cold start, and keep it.
func (a *App) Signer() (*signing.Signer, error) {
	return NewSigner(kms.NewFromConfig(a.AWS), a.Config)
}
