package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
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

			// The path as a client or a proxy may write it: with a
			// trailing slash, a doubled slash, a percent-encoded
			// unreserved character (the space ID's last one, so the
			// space comes from the canonical form), a dot segment. The
			// event keeps the path as sent.
			sp := vals[routes.SpaceParam]
			encoded := path[:len(path)-1] + fmt.Sprintf("%%%02X", path[len(path)-1])
			if sp != "" {
				encoded = strings.Replace(path, "/"+sp+"/", "/"+sp[:len(sp)-1]+fmt.Sprintf("%%%02x", sp[len(sp)-1])+"/", 1)
				if !strings.Contains(path, "/"+sp+"/") { // the space is the last segment
					encoded = strings.TrimSuffix(path, sp) + sp[:len(sp)-1] + fmt.Sprintf("%%%02x", sp[len(sp)-1])
				}
			}
			for name, p := range map[string]string{
				"trailing slash": path + "/",
				"doubled slash":  strings.Replace(path, "/", "//", 2),
				"encoded":        encoded,
				"dot segment":    "/./" + path[1:],
			} {
				g := rec
				g.Path = p
				e, out := (Config{IncludePOST: true}).Classify(&g)
				if out.Kind != Stored || out.Entity != r.Entity || e.Route != r.Template || e.Space != sp || e.RequestPath != p {
					t.Errorf("%s %q (%s): %s, entity %q route %q space %q path %q; want stored as %s, space %q, path as sent",
						r.Method, p, name, out.Kind, out.Entity, e.Route, e.Space, e.RequestPath, r.Template, sp)
				}
			}
			// Case changed in the literal segments: a near miss.
			g := rec
			g.Path = strings.ToUpper(path[:2]) + path[2:]
			if _, out := (Config{IncludePOST: true}).Classify(&g); out.Kind != SkippedNearMiss || out.Route != r.Template {
				t.Errorf("%s %q: %s (route %q), want a near miss of %s", r.Method, g.Path, out.Kind, out.Route, r.Template)
			}

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
		{"PUT", "/spaces/s1/environments/master/entries/e1/", Stored},
		{"PUT", "/Spaces/s1/Environments/master/Entries/e1", SkippedNearMiss},
		{"DELETE", "/spaces/s1/ENVIRONMENTS/master", SkippedNearMiss},
		{"PUT", "/Spaces/s1/nothing", SkippedRoute},
		{"GET", "/Spaces/s1", SkippedMethod},
		{"PUT", "/spaces/s1/environments/master/entries/e1/unknown", SkippedRoute},
		{"PATCH", "/spaces/s1/environments/master/assets/a1", SkippedRoute},
		{"DELETE", "/", SkippedRoute},
		{"PUT", "//spaces/s1", Stored},
		{"PUT", "/spaces/s1%2Fx", Stored}, // %2F is no separator: the space is "s1%2Fx"
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
	for k, want := range map[Kind]string{Stored: "stored", SkippedMethod: "skipped-method", SkippedRoute: "skipped-route", SkippedNearMiss: "skipped-near-miss", Rejected: "rejected", 0: "unknown"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}

// TestIngestCountsNearMisses: near misses are counted in their own field,
// not stored, and logged once per call with the first of them; a path in
// another canonical form is stored as sent.
func TestIngestCountsNearMisses(t *testing.T) {
	rec := func(id, path string) Raw {
		f := goodFields()
		f["request_id"], f["request_method"], f["request_path"] = id, "PUT", path
		return Raw{Source: "src-" + id, Data: marshal(t, f)}
	}
	records := []Raw{
		rec("n1", "/Spaces/s1/environments/master/entries/e1"),
		rec("ok", "/spaces/s1/environments/master//entries/e1/"),
		rec("n2", "/spaces/s1/Environments/master/entries/e2"),
	}
	store := memstore.New()
	var logs bytes.Buffer
	in := &Ingester{Store: store, Now: func() time.Time { return testNow }, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	c, err := in.Ingest(context.Background(), records)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stored != 1 || c.SkippedNearMiss != 2 || c.SkippedRoute != 0 || c.Skipped() != 2 {
		t.Fatalf("counts %+v, want 1 stored, 2 near misses", c)
	}
	day, _ := audit.ParseDay("2026-11-24")
	got := readDay(t, store, "0abc123", day)
	if len(got) != 1 || got[0].RequestID != "ok" || got[0].RequestPath != "/spaces/s1/environments/master//entries/e1/" || got[0].Space != "s1" {
		t.Fatalf("stored %+v, want only ok, its path as sent", got)
	}
	if n := strings.Count(logs.String(), "near miss"); n != 1 || !strings.Contains(logs.String(), "count=2") ||
		!strings.Contains(logs.String(), "first_source=src-n1") || !strings.Contains(logs.String(), "first_route=/spaces/:space_id/environments/:environment_id/entries/:entry_id") {
		t.Fatalf("log:\n%s", logs.String())
	}
	var total Counts
	total.Add(c)
	total.Add(c)
	if total.SkippedNearMiss != 4 {
		t.Fatalf("Add: %+v", total)
	}
}
