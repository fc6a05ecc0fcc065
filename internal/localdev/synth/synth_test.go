package synth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

func testDay(t testing.TB) audit.Day {
	d, err := audit.ParseDay("2026-11-24") // a Tuesday
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func orgIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("org-%03d", i)
	}
	return out
}

// collect runs Generate and keeps copies of the events.
func collect(t testing.TB, c Config) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := Generate(context.Background(), c, func(e *audit.Event) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCounts(t *testing.T) {
	for _, c := range []struct{ orgs, events int }{{1, 0}, {1, 5}, {3, 3}, {7, 20_000}, {50, 51}, {200, 1_000_003}, {10, 4}} {
		cfg := Config{Orgs: orgIDs(c.orgs), Events: c.events, Day: testDay(t), Seed: 42}
		got := Counts(cfg)
		if len(got) != c.orgs {
			t.Errorf("%d orgs, %d events: Counts has %d orgs", c.orgs, c.events, len(got))
		}
		sum, distinct := 0, map[int]bool{}
		for org, n := range got {
			sum += n
			distinct[n] = true
			if c.events >= c.orgs && n < 1 {
				t.Errorf("%d orgs, %d events: %s gets %d", c.orgs, c.events, org, n)
			}
			if c.events < c.orgs && n > 1 {
				t.Errorf("%d orgs, %d events: %s gets %d", c.orgs, c.events, org, n)
			}
		}
		if sum != c.events {
			t.Errorf("%d orgs, %d events: counts sum to %d", c.orgs, c.events, sum)
		}
		if c.events >= 1000*c.orgs && c.orgs > 2 && len(distinct) < c.orgs/2 {
			t.Errorf("%d orgs, %d events: counts are too even: %v", c.orgs, c.events, got)
		}
		if !maps.Equal(got, Counts(cfg)) {
			t.Errorf("Counts is not deterministic")
		}
	}
	c := Config{Orgs: orgIDs(5), Events: 100_000, Day: testDay(t), Seed: 1}
	a := Counts(c)
	c.Seed = 2
	if maps.Equal(a, Counts(c)) {
		t.Error("Counts ignores the seed")
	}
}

func TestGenerateEmitsCounts(t *testing.T) {
	c := Config{Orgs: orgIDs(7), Events: 20_000, Day: testDay(t), Seed: 7}
	want := Counts(c)
	got := map[string]int{}
	var order []string
	last := map[string]time.Time{}
	for _, e := range collect(t, c) {
		if len(order) == 0 || order[len(order)-1] != e.OrgID {
			if slices.Contains(order, e.OrgID) {
				t.Fatalf("org %s emitted in two runs", e.OrgID)
			}
			order = append(order, e.OrgID)
		}
		got[e.OrgID]++
		if e.RequestTime.Before(last[e.OrgID]) {
			t.Fatalf("org %s: %v after %v", e.OrgID, e.RequestTime, last[e.OrgID])
		}
		last[e.OrgID] = e.RequestTime
	}
	if !maps.Equal(got, want) {
		t.Fatalf("emitted %v, Counts said %v", got, want)
	}
	if !slices.Equal(order, c.Orgs) {
		t.Fatalf("org order %v, want %v", order, c.Orgs)
	}
}

func TestDeterministic(t *testing.T) {
	c := Config{Orgs: orgIDs(3), Events: 5_000, Day: testDay(t), Seed: 99}
	a, b := collect(t, c), collect(t, c)
	if !slices.Equal(a, b) {
		t.Fatal("the same config gave different events")
	}
	c.Seed = 100
	if d := collect(t, c); slices.Equal(a, d) || a[0].RequestID == d[0].RequestID {
		t.Fatal("another seed gave the same events")
	}
	// An org's events do not depend on the other orgs, only on its count.
	c.Seed = 99
	one := Config{Orgs: c.Orgs[:1], Events: Counts(c)[c.Orgs[0]], Day: c.Day, Seed: c.Seed}
	if solo := collect(t, one); !slices.Equal(solo, a[:len(solo)]) {
		t.Fatal("an org's events changed with the other orgs")
	}
}

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

func TestValidate(t *testing.T) {
	day := testDay(t)
	old, _ := audit.ParseDay("1999-12-31")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Orgs: []string{"a1"}, Events: -1, Day: day}, "negative"},
		{Config{Events: 1, Day: day}, "no orgs"},
		{Config{Orgs: []string{"a"}, Events: 1, Day: day}, "org_id"},
		{Config{Orgs: []string{"a1", "a1"}, Events: 1, Day: day}, "twice"},
		{Config{Orgs: []string{"a1"}, Events: 1}, "no day"},
		{Config{Orgs: []string{"a1"}, Events: 1, Day: old}, "2000"},
		{Config{Orgs: []string{"a1"}, Events: 1, Day: day, Methods: []string{"GET"}}, `"GET"`},
	} {
		err := Generate(context.Background(), c.cfg, func(*audit.Event) error { return nil })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want it to contain %q", c.cfg, err, c.want)
		}
	}
	n := 0
	if err := Generate(context.Background(), Config{Day: day}, func(*audit.Event) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("no events: err = %v, %d events", err, n)
	}
}

func TestStops(t *testing.T) {
	c := Config{Orgs: orgIDs(3), Events: 30_000, Day: testDay(t), Seed: 1}
	stop := errors.New("stop")
	n := 0
	err := Generate(context.Background(), c, func(*audit.Event) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("err = %v after %d events, want stop after 10", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = Generate(ctx, c, func(*audit.Event) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 30_000 {
		t.Fatalf("err = %v after %d events, want context.Canceled early", err, n)
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

// TestStoreBatches: Store hands every generated event to the writer once,
// in batches no larger than asked, copies and not the reused event.
func TestStoreBatches(t *testing.T) {
	c := Config{Orgs: []string{"org-a", "org-b", "org-c"}, Events: 2503, Day: testDay(t), Seed: 7}
	w := &recordingWriter{}
	n, err := Store(context.Background(), w, c, 500)
	if err != nil || n != c.Events {
		t.Fatalf("stored %d, err %v", n, err)
	}
	counts, ids := map[string]int{}, map[string]bool{}
	for _, b := range w.batches {
		if len(b) > 500 || len(b) == 0 {
			t.Fatalf("batch of %d", len(b))
		}
		for _, e := range b {
			counts[e.OrgID]++
			ids[e.OrgID+"/"+e.RequestID] = true
		}
	}
	if len(ids) != c.Events {
		t.Fatalf("%d distinct events, want %d", len(ids), c.Events)
	}
	for org, want := range Counts(c) {
		if counts[org] != want {
			t.Errorf("org %s: %d stored, Counts says %d", org, counts[org], want)
		}
	}
	w.fail = errors.New("throttled")
	if _, err := Store(context.Background(), w, c, 500); !errors.Is(err, w.fail) {
		t.Fatalf("error %v, want the writer's", err)
	}
}

type recordingWriter struct {
	batches [][]audit.Event
	fail    error
}

func (w *recordingWriter) Write(_ context.Context, events []audit.Event) error {
	if w.fail != nil {
		return w.fail
	}
	w.batches = append(w.batches, append([]audit.Event(nil), events...))
	return nil
}
