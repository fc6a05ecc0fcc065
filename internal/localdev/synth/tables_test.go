package synth

import (
	"testing"

	"github.com/contentful/auditlogs/internal/routes"
)

func TestWeightsNameRealRoutes(t *testing.T) {
	known := map[string]bool{}
	for _, r := range routes.All() {
		known[r.Method+" "+r.Template] = true
	}
	for k := range routeWeights {
		if !known[k] {
			t.Errorf("weight for %s, which is not in the route table", k)
		}
	}
}
