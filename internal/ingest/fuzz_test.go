package ingest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

// FuzzParseClassify: whatever the bytes, Parse and Classify do not panic;
// Parse accepts only JSON and decodes the known keys as encoding/json
// does; a stored record yields a valid event whose route is the one
// routes.Match finds for its method and path and whose space is the
// path's space_id. The seed corpus is in testdata/fuzz/FuzzParseClassify.
func FuzzParseClassify(f *testing.F) {
	f.Add([]byte(`{"request_id":"r1","org_id":"o1","request_time":"2026-11-24T13:45:12.345Z","request_method":"PUT","request_path":"/spaces/s1/environments/master/entries/e1","response_status":200}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse(data, testNow)
		var m map[string]any
		valid := json.Unmarshal(data, &m) == nil // a JSON object
		if err != nil {
			var fe *audit.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse error %v is not a *audit.FieldError", err)
			}
			notJSON := fe.Field == FieldRecord && strings.HasPrefix(fe.Reason, ReasonNotJSON)
			if valid && notJSON && len(data) <= MaxRecordBytes {
				t.Fatalf("encoding/json reads %q as an object, Parse says: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("Parse accepted %q, which is not a JSON object", data)
		}
		for k, got := range map[string]string{"request_id": rec.RequestID, "org_id": rec.OrgID, "request_method": rec.Method, "referrer": rec.Referrer, "actor_id": rec.ActorID} {
			if want, _ := m[k].(string); got != want {
				t.Fatalf("%s = %q, encoding/json reads %q", k, got, want)
			}
		}
		if rec.Time.Location().String() != "UTC" || rec.Time.Nanosecond()%1e6 != 0 || rec.Time.After(testNow.Add(FutureSkew)) || rec.Time.Before(minTime) {
			t.Fatalf("time %v", rec.Time)
		}

		var stored [2]bool
		for i, cfg := range []Config{{}, {IncludePOST: true}} {
			e, out := cfg.Classify(&rec)
			switch out.Kind {
			case Stored:
				stored[i] = true
				if err := e.Validate(); err != nil {
					t.Fatalf("stored event is invalid: %v\n%+v", err, e)
				}
				r, params, ok := routes.Match(e.RequestMethod, e.RequestPath)
				if !ok || r.Template != e.Route || r.Entity != out.Entity || params[routes.SpaceParam] != e.Space {
					t.Fatalf("event %+v: Match = %s %v %v", e, r.Template, params, ok)
				}
				if !cfg.Audited(e.RequestMethod) || e.RequestMethod == "POST" && !cfg.IncludePOST {
					t.Fatalf("%+v stored method %s", cfg, e.RequestMethod)
				}
				if e.RequestID != rec.RequestID || e.OrgID != rec.OrgID || !e.RequestTime.Equal(rec.Time) {
					t.Fatalf("event %+v differs from record %+v", e, rec)
				}
			case SkippedMethod:
				if cfg.Audited(rec.Method) {
					t.Fatalf("audited method %s skipped", rec.Method)
				}
			case SkippedRoute:
				if _, _, ok := routes.Match(rec.Method, rec.Path); ok {
					t.Fatalf("%s %s matches a route but was skipped", rec.Method, rec.Path)
				}
			case Rejected:
				if out.Err == nil {
					t.Fatal("rejected without a reason")
				}
			default:
				t.Fatalf("outcome %d", out.Kind)
			}
		}
		if stored[0] && !stored[1] {
			t.Fatal("stored by default but not with POST included")
		}
	})
}
