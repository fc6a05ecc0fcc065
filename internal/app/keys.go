package app

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/sas"
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
