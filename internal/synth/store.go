package synth

import (
	"context"
	"fmt"

	"github.com/contentful/auditlogs/internal/audit"
)

// Writer stores events: the log store's write side.
type Writer interface {
	Write(ctx context.Context, events []audit.Event) error
}

// Store generates c's events into w in batches of batch events (1000 when
// 0), so a day of any size streams through, and returns how many it
// stored. The counts per org are Counts(c).
func Store(ctx context.Context, w Writer, c Config, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	buf := make([]audit.Event, 0, batch)
	stored := 0
	flush := func() error {
		if err := w.Write(ctx, buf); err != nil {
			return fmt.Errorf("store generated events (after %d stored): %w", stored, err)
		}
		stored += len(buf)
		buf = buf[:0]
		return nil
	}
	err := Generate(ctx, c, func(e *audit.Event) error {
		buf = append(buf, *e) // Generate reuses e
		if len(buf) == batch {
			return flush()
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		err = flush()
	}
	return stored, err
}
