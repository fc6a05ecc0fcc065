package synth

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

var (
	hex32   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spaceID = regexp.MustCompile(`^[0-9a-z]{12}$`)
	actorID = regexp.MustCompile(`^(user|app):[0-9A-Za-z]{22}$`)
	id22    = regexp.MustCompile(`^[0-9A-Za-z]{22}$`)
	locale  = regexp.MustCompile(`^[a-z]{2}-[A-Z]{2}$`)
	envID   = regexp.MustCompile(`^(master|staging|dev-[a-z0-9-]+)$`)
)

func TestEventsLookReal(t *testing.T) {
	day := testDay(t)
	c := Config{Orgs: orgIDs(5), Events: 50_000, Day: day, Seed: 3}
	ids := map[string]bool{}
	status := map[int]int{}
	var users, withQuery, userRefs, hoursBusy, hoursNight int
	for _, e := range collect(t, c) {
		if err := e.Validate(); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if !day.Contains(e.RequestTime) || e.RequestTime.Location() != time.UTC || e.RequestTime.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("request_time %v: not a UTC millisecond of %s", e.RequestTime, day)
		}
		if !hex32.MatchString(e.RequestID) {
			t.Fatalf("request_id %q", e.RequestID)
		}
		if k := e.OrgID + " " + e.RequestID; ids[k] {
			t.Fatalf("request_id %s repeats in org %s", e.RequestID, e.OrgID)
		} else {
			ids[k] = true
		}
		if !slices.Contains(routes.DefaultMethods, e.RequestMethod) {
			t.Fatalf("method %s", e.RequestMethod)
		}
		r, params, ok := routes.Match(e.RequestMethod, e.RequestPath)
		if !ok || r.Template != e.Route || r.Method != e.RequestMethod {
			t.Fatalf("%s %s: matches %q (%v), event says route %q", e.RequestMethod, e.RequestPath, r.Template, ok, e.Route)
		}
		if params[routes.SpaceParam] != e.Space {
			t.Fatalf("%s: space %q, path says %q", e.RequestPath, e.Space, params[routes.SpaceParam])
		}
		if e.Space != "" && !spaceID.MatchString(e.Space) {
			t.Fatalf("space %q", e.Space)
		}
		if v, ok := params["environment_id"]; ok && !envID.MatchString(v) {
			t.Fatalf("environment %q", v)
		}
		if r.Entity == "environments" && params["environment_id"] == "master" {
			t.Fatalf("%s %s changes the master environment", e.RequestMethod, e.RequestPath)
		}
		for _, p := range []string{"entry_id", "asset_id", "role_id", "release_id", "task_id"} {
			if v, ok := params[p]; ok && !id22.MatchString(v) {
				t.Fatalf("%s %q", p, v)
			}
		}
		if v, ok := params["locale_code"]; ok && !locale.MatchString(v) {
			t.Fatalf("locale_code %q", v)
		}
		if v, ok := params["organization_id"]; ok && v != e.OrgID {
			t.Fatalf("organization_id %q in an event of org %s", v, e.OrgID)
		}
		if !actorID.MatchString(e.ActorID) {
			t.Fatalf("actor_id %q", e.ActorID)
		}
		if strings.HasPrefix(e.ActorID, "user:") {
			users++
			if e.Referrer != "" {
				userRefs++
				if e.Space != "" && !strings.HasPrefix(e.Referrer, "https://app.contentful.com/spaces/"+e.Space) {
					t.Fatalf("referrer %q for space %s", e.Referrer, e.Space)
				}
			}
		}
		status[e.ResponseStatus]++
		if e.ResponseStatus == 204 && e.ContentLength != 0 {
			t.Fatalf("204 with content_length %d", e.ContentLength)
		}
		if e.ResponseStatus != 204 && e.ContentLength == 0 {
			t.Fatalf("status %d with no body", e.ResponseStatus)
		}
		if e.ResponseStatus == 201 && e.RequestMethod != "PUT" {
			t.Fatalf("201 for %s", e.RequestMethod)
		}
		if e.RequestQuery != "" {
			withQuery++
		}
		switch h := e.RequestTime.Hour(); {
		case h >= 9 && h < 17:
			hoursBusy++
		case h < 5:
			hoursNight++
		}
	}
	n := float64(len(ids))
	check := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: %.4f, want %.4f to %.4f", what, got, lo, hi)
		}
	}
	check("share of user actors", float64(users)/n, 0.77, 0.83)
	check("share of users with a referrer", float64(userRefs)/float64(users), 0.87, 0.93)
	check("share of 200", float64(status[200])/n, 0.70, 0.90)
	check("share of 4xx", float64(status[400]+status[403]+status[404]+status[409]+status[422]+status[429])/n, 0.03, 0.07)
	check("share of 5xx", float64(status[500]+status[503])/n, 0, 0.003)
	check("share with a query", float64(withQuery)/n, 0, 0.01)
	for _, s := range []int{200, 201, 202, 204, 400, 403, 404, 409, 422, 429} {
		if status[s] == 0 {
			t.Errorf("no status %d in %d events: %v", s, len(ids), status)
		}
	}
	// 8 busy hours carry far more than 5 night hours.
	if hoursBusy < 4*hoursNight {
		t.Errorf("%d events from 09 to 17 UTC, %d from 00 to 05: no business-hours bump", hoursBusy, hoursNight)
	}
}

func TestEveryAuditedRouteAppears(t *testing.T) {
	c := Config{Orgs: orgIDs(5), Events: 200_000, Day: testDay(t), Seed: 11}
	seen := map[string]int{}
	if err := Generate(context.Background(), c, func(e *audit.Event) error {
		seen[e.RequestMethod+" "+e.Route]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.Audited() {
		if seen[r.Method+" "+r.Template] == 0 {
			t.Errorf("%s %s never appears", r.Method, r.Template)
		}
	}
	if len(seen) != len(routes.Audited()) {
		t.Errorf("%d distinct routes, want %d", len(seen), len(routes.Audited()))
	}
	entries := seen["PUT /spaces/:space_id/environments/:environment_id/entries/:entry_id"]
	spaces := seen["PUT /spaces/:space_id"]
	if entries < 100*spaces {
		t.Errorf("%d entry updates, %d space updates: entries must dominate", entries, spaces)
	}
}

func TestOtherMethods(t *testing.T) {
	c := Config{Orgs: orgIDs(2), Events: 2_000, Day: testDay(t), Seed: 5, Methods: []string{"POST"}}
	for _, e := range collect(t, c) {
		if e.RequestMethod != "POST" {
			t.Fatalf("method %s with Methods POST", e.RequestMethod)
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		if r, _, ok := routes.Match(e.RequestMethod, e.RequestPath); !ok || r.Template != e.Route {
			t.Fatalf("%s %s does not match its route %s", e.RequestMethod, e.RequestPath, e.Route)
		}
	}
}

func TestAllocationsPerEvent(t *testing.T) {
	c := Config{Orgs: orgIDs(2), Events: 20_000, Day: testDay(t), Seed: 1}
	allocs := testing.AllocsPerRun(3, func() {
		_ = Generate(context.Background(), c, func(*audit.Event) error { return nil })
	})
	if per := allocs / float64(c.Events); per > 1.1 {
		t.Errorf("%.2f allocations per event, want about 1", per)
	}
}

// BenchmarkGenerate generates b.N events over 10 orgs: ns/op and allocs/op
// are per event.
func BenchmarkGenerate(b *testing.B) {
	c := Config{Orgs: orgIDs(10), Events: b.N, Day: testDay(b), Seed: 1}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	if err := Generate(context.Background(), c, func(e *audit.Event) error {
		n += len(e.RequestPath) & 1 // use the event
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
