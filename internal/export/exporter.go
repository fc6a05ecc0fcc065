package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/failure"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sink"
)

// Permanent export failures: a retry with the same input cannot succeed.
var (
	ErrDisabled         = errors.New("delivery is disabled for this org")
	ErrDayNotOver       = errors.New("the day is not over yet")
	ErrOutsideRetention = errors.New("the day is older than the log store keeps events")
)

// Destinations looks up an org's destination (the registry).
type Destinations interface {
	Get(ctx context.Context, org string) (destination.Destination, error)
}

// SinkOpener gives the sink that writes to a destination: for S3 it
// assumes the customer's role, for Azure it decrypts the SAS URL. The sink
// puts the destination's prefix before every object name.
type SinkOpener interface {
	Open(ctx context.Context, d destination.Destination) (sink.Sink, error)
}

// Exporter delivers org-days.
type Exporter struct {
	Destinations Destinations
	Store        logstore.Reader
	Sinks        SinkOpener
	// Retention of the log store, which the store defines and reports
	// (logstore.Store's Retention); a day whose first events may already
	// be gone is refused rather than delivered short. Zero means a store
	// that keeps every event (the in-memory stores of tests).
	Retention time.Duration
	// TempDir holds the spooled files of days encoded from their events
	// ("" means os.TempDir()).
	TempDir string
	Now     func() time.Time
}

// Export delivers org's events of day to org's destination, in its
// format and layout. The Delivery holds the open sink, for the manifest.
func (x *Exporter) Export(ctx context.Context, org string, day audit.Day) (Delivery, error) {
	if err := audit.ValidateOrgID(org); err != nil {
		return Delivery{}, err
	}
	if day.IsZero() {
		return Delivery{}, &audit.FieldError{Field: "day", Value: "", Reason: "is required"}
	}
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	if err := CheckDay(day, now, x.Retention); err != nil {
		return Delivery{}, fmt.Errorf("export org %s day %s: %w", org, day, err)
	}
	d, err := x.Destinations.Get(ctx, org)
	if err != nil {
		return Delivery{}, fmt.Errorf("export org %s day %s: %w", org, day, err)
	}
	if !d.Enabled {
		return Delivery{}, fmt.Errorf("export org %s day %s: %w", org, day, ErrDisabled)
	}
	s, err := x.Sinks.Open(ctx, d)
	if err != nil {
		return Delivery{}, fmt.Errorf("export org %s day %s: open %s destination: %w", org, day, d.Kind, err)
	}
	name := d.Name(day)
	res, err := DeliverFile(ctx, x.Store, s, org, day, File{Name: name, Format: d.FileFormat(), TempDir: x.TempDir})
	res.Key = d.Key(day)
	return Delivery{Result: res, Name: name, Sink: s}, err
}

// IsPermanent reports whether err cannot be fixed by retrying as is: the
// input is invalid, the org has no enabled destination, the day is out of
// range, or the destination refuses us (see failure.IsPermanent).
func IsPermanent(err error) bool {
	var fe *audit.FieldError
	return errors.As(err, &fe) || failure.IsPermanent(err) ||
		errors.Is(err, registry.ErrNotFound) || errors.Is(err, ErrDisabled) ||
		errors.Is(err, ErrDayNotOver) || errors.Is(err, ErrOutsideRetention)
}
