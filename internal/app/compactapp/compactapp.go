// Package compactapp builds the compaction function's object graph from a
// config.Config, once: the lake's bucket on S3 (objstore/s3obj), the
// ledger when AUDITLOG_LEDGER_TABLE is set (late events mark org-days
// stale through it), the compactor and its Lambda handler. functions/compact
// and `auditctl compact` start from it, so the two run the same code.
//
// It may import config, compaction, compactfn, the lake's object storage
// and the ledger; never internal/app (the export pipeline), a log store, a
// sink, another function's package or internal/localdev.
package compactapp

import (
	"context"
	"fmt"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// New loads the AWS configuration the standard way, with opts on top, and
// builds the compaction handler of c. log receives its lines.
func New(ctx context.Context, c config.Config, log *slog.Logger, opts ...func(*awsconfig.LoadOptions) error) (*compactfn.Handler, error) {
	if c.LakeBucket == "" {
		return nil, fmt.Errorf("environment variable %s is not set", config.EnvLakeBucket)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	comp := &compaction.Compactor{Lake: s3obj.New(s3.NewFromConfig(awsCfg, s3obj.LakeOptions), c.LakeBucket), Log: log}
	if c.LedgerTable != "" {
		comp.Stale = ledger.New(dynamodb.NewFromConfig(awsCfg), c.LedgerTable)
	}
	return &compactfn.Handler{Compactor: comp, Log: log}, nil
}
