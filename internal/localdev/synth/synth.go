// Package synth generates realistic synthetic audit events: a day of
// PUT/PATCH/DELETE requests on the audited Contentful routes, for demos,
// load tests and benchmarks.
//
// Generation is deterministic (the same Config gives the same events),
// streams (memory does not grow with the number of events) and is cheap per
// event: one allocation, no fmt. The number of events of every org is known
// beforehand through [Counts], so a demo can check each delivered CSV
// against it.
//
// # Emission order
//
// Orgs are generated one after the other in the order of Config.Orgs; the
// events of one org come in ascending request_time (equal times are
// possible: the times have millisecond precision). An org's events depend
// only on the seed, the org ID, the day, the methods and the org's count, so
// adding an org to the list changes the other orgs' events only through
// their counts.
//
// # What the events look like
//
//   - route: a template of [routes.Audited] for Config.Methods, chosen with
//     weights that favour the everyday editorial work (entry updates,
//     patches, publishing, asset updates and processing) over rare
//     administration (spaces, roles, API keys, templates); every route has a
//     weight, so every route appears in a large day.
//   - request_path: the template filled with IDs that look real: space IDs
//     of 12 lower-case letters and digits from a small pool per org;
//     environment "master" mostly, else "staging" or "dev-…" (never
//     "master" where the route would change the environment itself);
//     entry, asset and other entity IDs of 22 base62 characters from per-org
//     pools, a few of them hot; locale codes such as en-US and de-DE;
//     content type and tag IDs in camelCase; small version numbers; the
//     org's own ID for :organization_id.
//   - space: the path's space_id, empty on organization-level routes.
//   - response_status: mostly the route's success code (200; 201 for some
//     create-or-update PUTs; 204 for deletes, asset processing and workflow
//     completion; 202 for publishing or unpublishing a release), about 5 %
//     client errors (409, 422, 404, 403, 400, 429) and rare 500 and 503.
//   - content_length: a log-normal body size per entity and status, 0 for
//     204.
//   - actor_id: "user:" plus 22 base62 characters (about 80 %) or "app:"
//     plus an app definition ID, from per-org pools, some actors busier than
//     others.
//   - referrer: for most user requests the web app page of the change
//     (https://app.contentful.com/spaces/<space>/…, or the organization's
//     page for organization-level routes), else empty; for apps mostly
//     empty, sometimes the app's own origin.
//   - request_query: empty but for a few requests.
//   - request_id: 32 hex digits derived from the seed, the org and the
//     event's index: unique within an org's day.
//   - request_time: across the whole UTC day with a business-hours bump
//     (flatter on Saturdays and Sundays), millisecond precision.
//
// # Files
//
// synth.go holds the configuration, the counts per org and Generate;
// generator.go the generator and its per-org loop; routes.go what is
// prepared per route (the template's pieces, the response mix, the
// weight); tables.go the weights and value lists the events are drawn
// from; ids.go the derived IDs and hashes; store.go Store, which writes a
// generated day to a log store.
//
// It imports only the event model (internal/audit), the route table
// (internal/routes) and, for Store, the log store's interface
// (internal/logstore); nothing of the delivery, the functions or the
// other test-support packages. Like every package under internal/localdev
// it is for local runs and tests: production code imports it only from
// _test.go files (auditctl's local commands excepted).
package synth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

// Config says what to generate.
type Config struct {
	Orgs    []string  // org IDs, valid (audit.ValidateOrgID) and distinct
	Events  int       // total across orgs, split by Counts
	Day     audit.Day // the UTC day the events fall on
	Seed    int64     // the same seed gives the same events
	Methods []string  // audited methods; nil for routes.DefaultMethods
	// Shares, when set, fixes each org's share of Events (by position in
	// Orgs, positive, any scale): a walk-through whose running time must
	// not depend on the day it runs gives its orgs fixed sizes. Nil for
	// log-normal shares drawn from the seed.
	Shares []float64
}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	if c.Events < 0 {
		return fmt.Errorf("synth: %d events: must not be negative", c.Events)
	}
	if c.Events > 0 && len(c.Orgs) == 0 {
		return errors.New("synth: no orgs to generate events for")
	}
	seen := make(map[string]bool, len(c.Orgs))
	for _, o := range c.Orgs {
		if err := audit.ValidateOrgID(o); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
		if seen[o] {
			return fmt.Errorf("synth: org %s listed twice", o)
		}
		seen[o] = true
	}
	if c.Day.IsZero() {
		return errors.New("synth: no day")
	}
	if y := c.Day.Start().Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("synth: day %s: must be between the years 2000 and 9999", c.Day)
	}
	if c.Shares != nil {
		if len(c.Shares) != len(c.Orgs) {
			return fmt.Errorf("synth: %d shares for %d orgs: want one share per org", len(c.Shares), len(c.Orgs))
		}
		for i, w := range c.Shares {
			if !(w > 0) || math.IsInf(w, 0) {
				return fmt.Errorf("synth: share %v of org %s: must be a positive number", w, c.Orgs[i])
			}
		}
	}
	for _, m := range c.Methods {
		if !slices.Contains([]string{"POST", "PUT", "PATCH", "DELETE"}, m) {
			return fmt.Errorf("synth: method %q: must be one of POST, PUT, PATCH, DELETE", m)
		}
	}
	return nil
}

func (c Config) methods() []string {
	if len(c.Methods) == 0 {
		return routes.DefaultMethods
	}
	return c.Methods
}

// Counts returns the number of events Generate emits for each org of c.
// The counts sum to c.Events and differ between orgs (c.Shares, or
// log-normal weights drawn from the seed and the org ID), the same for the
// same config. When
// c.Events >= len(c.Orgs) every org gets at least one event; otherwise the
// heaviest orgs get one each and the others none. A repeated org ID gets
// the sum of its shares (Validate rejects such a config).
func Counts(c Config) map[string]int {
	out := make(map[string]int, len(c.Orgs))
	for i, n := range counts(c) {
		out[c.Orgs[i]] += n
	}
	return out
}

// counts is Counts by position in c.Orgs: largest-remainder apportionment
// of the events beyond the guaranteed one per org.
func counts(c Config) []int {
	n := len(c.Orgs)
	out := make([]int, n)
	if n == 0 || c.Events <= 0 {
		return out
	}
	w := make([]float64, n)
	sum := 0.0
	for i, o := range c.Orgs {
		if len(c.Shares) == n {
			w[i] = c.Shares[i]
		} else {
			r := rand.New(rand.NewPCG(uint64(c.Seed), orgKey(c.Seed, o)^0x636f756e7473)) // "counts"
			w[i] = math.Exp(1.2 * r.NormFloat64())
		}
		sum += w[i]
	}
	if c.Events < n {
		// Too few events for every org: one each to the heaviest.
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(w[b], w[a]) })
		for _, i := range order[:c.Events] {
			out[i] = 1
		}
		return out
	}
	const base = 1
	rem := c.Events - base*n
	frac := make([]float64, n)
	left := rem
	for i := range out {
		exact := float64(rem) * w[i] / sum
		f := math.Floor(exact)
		out[i] = base + int(f)
		frac[i] = exact - f
		left -= int(f)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(frac[b], frac[a]) })
	// Rounding of float64 can leave left a little off [0, n): walk the
	// order as often as needed in either direction.
	for k := 0; left > 0; k++ {
		out[order[k%n]]++
		left--
	}
	for k := n - 1; left < 0; k-- {
		if i := order[(k%n+n)%n]; out[i] > base {
			out[i]--
			left++
		}
	}
	return out
}

// Generate emits the events of c to fn, org by org in the order of
// c.Orgs, each org's events in ascending request_time. It stops at the
// first error of fn and returns it, or when ctx is done, returning
// ctx.Err(). fn receives the same *audit.Event each time, overwritten for
// the next event: to keep an event, copy the struct (ev := *e).
func Generate(ctx context.Context, c Config, fn func(*audit.Event) error) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Events == 0 {
		return nil
	}
	g, err := newGenerator(c)
	if err != nil {
		return err
	}
	for i, n := range counts(c) {
		if n == 0 {
			continue
		}
		if err := g.org(ctx, c.Orgs[i], n, fn); err != nil {
			return err
		}
	}
	return nil
}
