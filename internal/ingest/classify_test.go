package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

// sampleValues gives every parameter of r a distinct value that looks real.
func sampleValues(r routes.Route) map[string]string {
	v := map[string]string{}
	for i, p := range r.Params {
		switch p {
		case routes.SpaceParam:
			v[p] = "s7k2abcd1234"
		case "environment_id":
			v[p] = "master" // an alias: kept as sent
		default:
			v[p] = fmt.Sprintf("%s%dX9", strings.ReplaceAll(p, "_", ""), i)
		}
	}
	return v
}

func parseFields(t *testing.T, f map[string]any) Record {
	t.Helper()
	r, err := Parse(marshal(t, f), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestClassifyEveryRoute: every route of the table, filled with sample
// values, is classified to its entity, template and space; POST only when
// configured, GET never.
func TestClassifyEveryRoute(t *testing.T) {
	all := routes.All()
	if len(all) < 90 {
		t.Fatalf("only %d routes", len(all))
	}
	for _, r := range all {
		t.Run(r.Method+" "+r.Template, func(t *testing.T) {
			vals := sampleValues(r)
			path, err := r.Fill(vals)
			if err != nil {
				t.Fatal(err)
			}
			f := goodFields()
			f["request_method"] = r.Method
			f["request_path"] = path
			f["space"] = "not-from-the-record"
			f["route"] = "/not/from/the/record"
			rec := parseFields(t, f)

			check := func(cfg Config, wantStored bool) {
				t.Helper()
				e, out := cfg.Classify(&rec)
				if !wantStored {
					if out.Kind != SkippedMethod {
						t.Fatalf("%+v: outcome %s, want %s", cfg, out.Kind, SkippedMethod)
					}
					return
				}
				if out.Kind != Stored {
					t.Fatalf("%+v: outcome %s (%v), want stored", cfg, out.Kind, out.Err)
				}
				if out.Entity != r.Entity || e.Route != r.Template || e.Space != vals[routes.SpaceParam] {
					t.Fatalf("%+v: entity %q route %q space %q; want %q %q %q", cfg, out.Entity, e.Route, e.Space, r.Entity, r.Template, vals[routes.SpaceParam])
				}
				if e.RequestPath != path || e.RequestMethod != r.Method || e.RequestQuery != "locale=de-DE" || e.OrgID != "0abc123" {
					t.Fatalf("event %+v", e)
				}
				if err := e.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			check(Config{}, r.Method != "POST")
			check(Config{IncludePOST: true}, true)

			// The same path read with GET, HEAD or OPTIONS is never audited.
			for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
				g := rec
				g.Method = m
				if _, out := (Config{IncludePOST: true}).Classify(&g); out.Kind != SkippedMethod {
					t.Fatalf("%s: outcome %s", m, out.Kind)
				}
			}
		})
	}
}

func TestClassifyOther(t *testing.T) {
	rec := func(method, path string) Record {
		f := goodFields()
		f["request_method"], f["request_path"] = method, path
		return parseFields(t, f)
	}
	cfg := Config{}
	for _, c := range []struct {
		method, path string
		want         Kind
	}{
		{"PUT", "/spaces/s1/environments/master/entries/e1", Stored},
		{"PUT", "/spaces/s1/environments/master/entries/e1/", SkippedRoute},
		{"PUT", "/spaces/s1/environments/master/entries/e1/unknown", SkippedRoute},
		{"PATCH", "/spaces/s1/environments/master/assets/a1", SkippedRoute},
		{"DELETE", "/", SkippedRoute},
		{"PUT", "//spaces/s1", SkippedRoute},
		{"POST", "/spaces/s1/environments/master/entries", SkippedMethod},
		{"GET", "/spaces/s1/environments/master/entries/e1", SkippedMethod},
		{"PROPFIND", "/spaces/s1", SkippedMethod},
		{"PUT", "/spaces/" + strings.Repeat("s", audit.MaxShortLen+1), Rejected},
	} {
		r := rec(c.method, c.path)
		e, out := cfg.Classify(&r)
		if out.Kind != c.want {
			t.Errorf("%s %s: %s (%v), want %s", c.method, c.path, out.Kind, out.Err, c.want)
		}
		if c.want == Rejected && (out.Err == nil || !strings.Contains(out.Err.Error(), "space")) {
			t.Errorf("%s %s: reason %v, want one naming the space", c.method, c.path, out.Err)
		}
		if c.want != Stored && e != (audit.Event{}) {
			t.Errorf("%s %s: not stored but event %+v", c.method, c.path, e)
		}
	}
	// An environment alias stays as sent; the space is the path's.
	r := rec("DELETE", "/spaces/abc/environment_aliases/master")
	e, out := cfg.Classify(&r)
	if out.Kind != Stored || out.Entity != "environments" || e.Space != "abc" || e.RequestPath != "/spaces/abc/environment_aliases/master" {
		t.Fatalf("alias: %+v %+v", e, out)
	}
	// An organization-level route has no space.
	r = rec("PUT", "/organizations/0abc123/environment_templates/t1")
	if e, out := cfg.Classify(&r); out.Kind != Stored || e.Space != "" || out.Entity != "content_model_templates" {
		t.Fatalf("org route: %+v %+v", e, out)
	}
	for k, want := range map[Kind]string{Stored: "stored", SkippedMethod: "skipped-method", SkippedRoute: "skipped-route", Rejected: "rejected", 0: "unknown"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
