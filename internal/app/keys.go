package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/contentful/auditlogs/internal/sas"
)

// readKeyEnv reads the SAS settings: the residencies' KMS keys and the
// emulator hosts a SAS URL may name.
func readKeyEnv(c *Config) {
	c.KMSKeyUS = os.Getenv("AUDITLOG_KMS_KEY_US")
	c.KMSKeyEU = os.Getenv("AUDITLOG_KMS_KEY_EU")
	c.EmulatorHosts = nil
	if h := strings.TrimSpace(os.Getenv("AUDITLOG_AZURE_EMULATOR_HOSTS")); h != "" {
		c.EmulatorHosts = strings.Split(h, ",")
	}
}

// KeysFromEnv reads only the SAS settings (AUDITLOG_KMS_KEY_US,
// AUDITLOG_KMS_KEY_EU, AUDITLOG_AZURE_EMULATOR_HOSTS), for the commands
// that hand out public keys and encrypt SAS URLs: they touch no table, so
// they do not need the variables FromEnv requires.
func KeysFromEnv() Config {
	var c Config
	readKeyEnv(&c)
	return c
}

// KeyIDs maps each residency that has a key configured to it.
func (c Config) KeyIDs() map[sas.Residency]string {
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
func (c Config) SASPolicy() sas.Policy {
	return sas.Policy{AllowedEmulatorHosts: c.EmulatorHosts}
}

// PublicKeys builds the fetcher of the residencies' public keys, with a
// KMS client loaded the standard way (AWS_ENDPOINT_URL_KMS points it at an
// emulator).
func PublicKeys(ctx context.Context, c Config) (*sas.PublicKeys, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &sas.PublicKeys{KMS: kms.NewFromConfig(awsCfg), KeyIDs: c.KeyIDs()}, nil
}
