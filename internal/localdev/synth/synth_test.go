package synth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
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

func TestShares(t *testing.T) {
	orgs := orgIDs(3)
	var first map[string]int
	for _, seed := range []int64{1, 2, 3} {
		c := Config{Orgs: orgs, Events: 100_000, Day: testDay(t), Seed: seed, Shares: []float64{50, 35, 15}}
		got := Counts(c)
		// One event per org first, the rest by share: within one of
		// 50/35/15 of 100,000, whatever the seed.
		for i, want := range []int{50_000, 35_000, 15_000} {
			if d := got[orgs[i]] - want; d < -1 || d > 1 {
				t.Errorf("seed %d, shares 50/35/15 of 100,000: %s gets %d, want %d±1", seed, orgs[i], got[orgs[i]], want)
			}
		}
		if first == nil {
			first = got
		} else if !maps.Equal(first, got) {
			t.Errorf("seed %d: %v, seed 1: %v; fixed shares must not depend on the seed", seed, got, first)
		}
	}
	c := Config{Orgs: orgs, Events: 10, Day: testDay(t), Shares: []float64{1, 1, 1}}
	if got := Counts(c); got[orgs[0]]+got[orgs[1]]+got[orgs[2]] != 10 || got[orgs[0]] < 3 || got[orgs[0]] > 4 {
		t.Errorf("even shares of 10: %v", got)
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
		{Config{Orgs: []string{"a1", "b1"}, Events: 1, Day: day, Shares: []float64{1}}, "1 shares for 2 orgs"},
		{Config{Orgs: []string{"a1", "b1"}, Events: 1, Day: day, Shares: []float64{1, 0}}, "share 0 of org b1"},
		{Config{Orgs: []string{"a1"}, Events: 1, Day: day, Shares: []float64{math.NaN()}}, "share NaN of org a1"},
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
