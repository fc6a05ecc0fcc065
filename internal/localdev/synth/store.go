package synth

import (
	"context"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore"
)

// Store generates c's events into w in batches of batch events (1000 when
// 0), so a day of any size streams through, and returns how many it
// stored. The counts per org are Counts(c).
func Store(ctx context.Context, w logstore.Writer, c Config, batch int) (int, error) {
	return logstore.WriteBatches(ctx, w, batch, func(emit func(audit.Event) error) error {
		return Generate(ctx, c, func(e *audit.Event) error { return emit(*e) }) // Generate reuses e
	})
}
