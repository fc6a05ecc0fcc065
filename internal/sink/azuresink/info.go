package azuresink

import "time"

// Account is the storage account the sink writes to.
func (s *Sink) Account() string { return s.account }

// Container is the container the sink writes to.
func (s *Sink) Container() string { return s.container }

// Expiry is when the sink's SAS stops working (its se parameter), so that
// a caller can warn before deliveries start failing.
func (s *Sink) Expiry() time.Time { return s.expiry }
