package ingest

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/redact"
	"github.com/contentful/auditlogs/internal/routes"
)

// FuzzParseClassify: whatever the bytes, Parse and Classify do not panic;
// Parse accepts only JSON and decodes the known keys as encoding/json
// does; a stored record yields a valid event whose route is the one
// routes.Match finds for its method and the canonical form of its path,
// whose space is that form's space_id, whose path is the record's as sent,
// and whose query and referrer hold no credential (redacting them again
// changes nothing); a near miss matches no route but does when case is
// ignored; a rejected record makes a reject that holds no token shape. The
// seed corpus is in testdata/fuzz/FuzzParseClassify.
// tokenShape is a platform token, literal (rejects are checked for it).
var tokenShape = regexp.MustCompile(`(?i)cfpat-[a-z0-9_-]`)

func FuzzParseClassify(f *testing.F) {
	f.Add([]byte(`{"request_id":"r1","org_id":"o1","request_time":"2026-11-24T13:45:12.345Z","request_method":"PUT","request_path":"/spaces/s1/environments/master/entries/e1","response_status":200}`))
	f.Add([]byte(`{"request_id":"r2","org_id":"o1","request_time":"2026-11-24T13:45:12.345Z","request_method":"DELETE","request_path":"/spaces/s%31//environments/./master/","request_query":"access_token=CFPAT-abc&x=1","referrer":"https://x/#token=y","response_status":204}`))
	f.Add([]byte(`{"request_id":"r3","org_id":"o1","request_time":"2026-11-24T13:45:12.345Z","request_method":"PUT","request_path":"/Spaces/s1/Environments/master/Entries/e1","response_status":200}`))
	f.Add([]byte(`{"request_id":"r4","org_id":"o1","request_query":"sig=CFPAT-x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse(data, testNow)
		var m map[string]any
		valid := json.Unmarshal(data, &m) == nil // a JSON object
		if err != nil {
			if r := newReject(Raw{Data: data}, nil, err); tokenShape.MatchString(r.Record + string(r.RecordBase64) + r.Error + r.Reason) {
				t.Fatalf("the reject of %q holds a token shape", data)
			}
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
				if e.RequestID != rec.RequestID || e.OrgID != rec.OrgID || !e.RequestTime.Equal(rec.Time) || e.RequestPath != rec.Path {
					t.Fatalf("event %+v differs from record %+v", e, rec)
				}
				if redact.Query(e.RequestQuery) != e.RequestQuery || redact.URL(e.Referrer) != e.Referrer {
					t.Fatalf("event %+v holds a credential", e)
				}
			case SkippedMethod:
				if cfg.Audited(rec.Method) {
					t.Fatalf("audited method %s skipped", rec.Method)
				}
			case SkippedRoute:
				if _, _, ok := routes.Match(rec.Method, rec.Path); ok {
					t.Fatalf("%s %s matches a route but was skipped", rec.Method, rec.Path)
				}
				if _, ok := routes.NearMiss(rec.Method, rec.Path); ok {
					t.Fatalf("%s %s is a near miss but was skipped as no route", rec.Method, rec.Path)
				}
			case SkippedNearMiss:
				if _, _, ok := routes.Match(rec.Method, rec.Path); ok || !cfg.Audited(rec.Method) {
					t.Fatalf("%s %s matches a route, or is not audited, but was a near miss", rec.Method, rec.Path)
				}
				lower := strings.ToLower(routes.Canonical(rec.Path))
				if r, ok := routes.NearMiss(rec.Method, rec.Path); !ok || r.Template != out.Route ||
					strings.Count(lower, "/") != strings.Count(r.Template, "/") {
					t.Fatalf("%s %s: near miss of %q, NearMiss says %s %v", rec.Method, rec.Path, out.Route, r.Template, ok)
				}
			case Rejected:
				if out.Err == nil {
					t.Fatal("rejected without a reason")
				}
				if r := newReject(Raw{Data: data}, &rec, out.Err); tokenShape.MatchString(r.Record + string(r.RecordBase64) + r.Error + r.Reason) {
					t.Fatalf("the reject of %q holds a token shape", data)
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
