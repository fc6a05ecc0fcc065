package memsink_test

import (
	"context"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/memsink"
	"github.com/contentful/auditlogs/internal/sink/sinktest"
)

func TestAcceptance(t *testing.T) {
	s := memsink.New()
	sinktest.Run(t, "audit/", sinktest.Target{Sink: s, Get: s.Get, List: s.List,
		Head: func(_ context.Context, name string) (sink.Object, bool, error) {
			o, ok := s.Object(name)
			return o, ok, nil
		}})
}

// TestObjectIsACopy checks that the recorded metadata is the sink's own:
// changing the caller's map after the upload, or the map Object returned,
// changes nothing that a later Object reports.
func TestObjectIsACopy(t *testing.T) {
	s := memsink.New()
	m := map[string]string{"org": "org1"}
	if err := s.Upload(t.Context(), "a.csv", strings.NewReader("a\n"), sink.Object{Metadata: m}); err != nil {
		t.Fatal(err)
	}
	m["org"] = "changed by the caller"
	o, _ := s.Object("a.csv")
	o.Metadata["org"] = "changed by a reader"
	if o, _ := s.Object("a.csv"); o.Metadata["org"] != "org1" {
		t.Errorf("metadata org = %q after the maps were changed, want org1", o.Metadata["org"])
	}
}
