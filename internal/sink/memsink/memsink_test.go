package memsink_test

import (
	"testing"

	"github.com/contentful/auditlogs/internal/sink/memsink"
	"github.com/contentful/auditlogs/internal/sink/sinktest"
)

func TestAcceptance(t *testing.T) {
	s := memsink.New()
	sinktest.Run(t, "audit/", sinktest.Target{Sink: s, Get: s.Get, List: s.List})
}
