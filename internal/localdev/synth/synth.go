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
package synth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

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
// The counts sum to c.Events and differ between orgs (log-normal weights
// drawn from the seed and the org ID), the same for the same config. When
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
		r := rand.New(rand.NewPCG(uint64(c.Seed), orgKey(c.Seed, o)^0x636f756e7473)) // "counts"
		w[i] = math.Exp(1.2 * r.NormFloat64())
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

// paramKind is how a path parameter gets its value.
type paramKind uint8

const (
	pEnd paramKind = iota // no parameter: the trailing literal of the template
	pSpace
	pEnv
	pEnvNotMaster // the route changes the environment itself
	pAlias
	pAliasNotMaster
	pOrg
	pLocale
	pContentType
	pTag
	pNumber
	pApp // an app definition of the org
	pID  // a derived 22-character ID
)

// piece is a literal followed by a parameter of a template.
type piece struct {
	lit     string
	kind    paramKind
	id      int  // for pID: index into the ID kinds
	inSpace bool // for pID: IDs differ per space
}

// outcome is a response: a status and a log-normal body size.
type outcome struct {
	cum    float64 // cumulative probability up to and including this outcome
	status int
	mean   float64
	sigma  float64
}

// routeGen is everything per route that does not change per event.
type routeGen struct {
	method, template string
	pieces           []piece
	hasSpace         bool
	outcomes         []outcome
	page             string // referrer page under /spaces/<space>[/environments/<env>]
	pagePiece        int    // piece whose value ends the referrer page, or -1
	envScoped        bool   // the referrer names a non-master environment
	queryProb        float64
}

// idKind is a family of derived IDs (entries, assets, roles, …) whose pool
// size per org scales with the org's number of events.
type idKind struct {
	salt              uint64
	perEvents, lo, hi int // pool = clamp(events/perEvents, lo, hi)
}

type generator struct {
	day     audit.Day
	seed    int64
	routes  []routeGen
	cum     []float64 // cumulative route weights, normalised to 1
	idKinds []idKind
	hourCum [25]float64 // cumulative share of the day's events by UTC hour
}

func newGenerator(c Config) (*generator, error) {
	rs := routes.Audited(c.methods()...)
	if len(rs) == 0 {
		return nil, fmt.Errorf("synth: no audited route for the methods %v", c.methods())
	}
	g := &generator{day: c.Day, seed: c.Seed}
	kinds := map[string]int{}
	total := 0.0
	for _, r := range rs {
		rg := newRouteGen(r, func(name string) int {
			k, ok := kinds[name]
			if !ok {
				k = len(g.idKinds)
				kinds[name] = k
				g.idKinds = append(g.idKinds, newIDKind(name))
			}
			return k
		})
		g.routes = append(g.routes, rg)
		total += weight(r)
		g.cum = append(g.cum, total)
	}
	for i := range g.cum {
		g.cum[i] /= total
	}
	g.cum[len(g.cum)-1] = 1

	hours := hourWeights
	if wd := c.Day.Start().Weekday(); wd == time.Saturday || wd == time.Sunday {
		for h, w := range hours {
			hours[h] = 0.6 + (w-0.6)*0.25
		}
	}
	sum := 0.0
	for _, w := range hours {
		sum += w
	}
	acc := 0.0
	for h, w := range hours {
		acc += w / sum
		g.hourCum[h+1] = acc
	}
	g.hourCum[24] = 1
	return g, nil
}

// hourWeights is the relative activity per UTC hour on a working day: quiet
// nights, European mornings, the overlap with the Americas in the
// afternoon, American evenings.
var hourWeights = [24]float64{
	0.6, 0.5, 0.5, 0.5, 0.6, 0.8, 1.2, 2.0, 3.2, 4.0, 4.3, 4.2,
	3.9, 4.3, 4.6, 4.6, 4.2, 3.6, 2.9, 2.4, 1.9, 1.5, 1.1, 0.8,
}

func newIDKind(name string) idKind {
	k := idKind{salt: hashString(name), perEvents: 200, lo: 1, hi: 8}
	switch name {
	case "entry_id":
		k.perEvents, k.lo, k.hi = 3, 8, 5000
	case "asset_id":
		k.perEvents, k.lo, k.hi = 8, 4, 2000
	case "task_id", "space_membership_id":
		k.perEvents, k.lo, k.hi = 50, 2, 500
	case "workflow_id":
		k.perEvents, k.lo, k.hi = 100, 1, 300
	case "release_id":
		k.perEvents, k.lo, k.hi = 200, 1, 100
	}
	return k
}

// creatable are the entities whose PUT with an ID creates when the ID is
// new (201).
var creatable = map[string]bool{
	"environments": true, "content_types": true, "entries": true, "assets": true, "ui_extensions": true,
	"tags": true, "webhooks": true, "app_installations": true, "resource_providers": true, "releases": true,
}

// bodySize is the mean response body of a successful change, by entity.
var bodySize = map[string]float64{
	"entries": 2400, "assets": 1500, "content_types": 3500, "editor_interface": 2600, "releases": 1800,
	"locales": 520, "tags": 380, "webhooks": 950, "roles": 2100, "space_memberships": 720, "api_keys": 1150,
	"workflows": 1400, "tasks": 820, "app_installations": 640, "environments": 930, "spaces": 610,
	"space_enablements": 480, "ui_config": 4200, "ui_extensions": 1600, "content_model_templates": 2500,
	"resource_providers": 700,
}

// refPage is the web app page a user was on, by entity, and the parameter
// that ends it.
var refPage = map[string]struct{ page, param string }{
	"entries":           {"/entries", "entry_id"},
	"tasks":             {"/entries", "entry_id"},
	"assets":            {"/assets", "asset_id"},
	"content_types":     {"/content_types", "content_type_id"},
	"editor_interface":  {"/content_types", "content_type_id"},
	"releases":          {"/releases", "release_id"},
	"workflows":         {"/settings/workflows", ""},
	"locales":           {"/settings/locales", ""},
	"tags":              {"/settings/tags", ""},
	"webhooks":          {"/settings/webhooks", "webhook_definition_id"},
	"roles":             {"/settings/roles", "role_id"},
	"space_memberships": {"/settings/users", ""},
	"api_keys":          {"/api/keys", "api_key_id"},
	"environments":      {"/settings/environments", ""},
	"spaces":            {"/settings/space", ""},
	"space_enablements": {"/settings/space", ""},
	"ui_extensions":     {"/settings/extensions", ""},
	"app_installations": {"/apps", ""},
	"ui_config":         {"/entries", ""},
}

func newRouteGen(r routes.Route, idKind func(string) int) routeGen {
	rg := routeGen{method: r.Method, template: r.Template, pagePiece: -1}
	ref := refPage[r.Entity]
	rg.page = ref.page
	lit := ""
	segs := strings.Split(r.Template[1:], "/")
	for _, seg := range segs {
		name, isParam := strings.CutPrefix(seg, ":")
		if !isParam {
			lit += "/" + seg
			continue
		}
		p := piece{lit: lit + "/"}
		lit = ""
		switch name {
		case routes.SpaceParam:
			p.kind = pSpace
			rg.hasSpace = true
		case "environment_id":
			p.kind = pEnv
			if r.Entity == "environments" {
				p.kind = pEnvNotMaster
			}
			rg.envScoped = r.Entity != "environments" && r.Entity != "content_model_templates"
		case "environment_alias_id":
			p.kind = pAlias
			if r.Method == "DELETE" {
				p.kind = pAliasNotMaster
			}
		case "organization_id":
			p.kind = pOrg
		case "locale_code":
			p.kind = pLocale
		case "content_type_id":
			p.kind = pContentType
		case "tag_id":
			p.kind = pTag
		case "version", "version_number":
			p.kind = pNumber
		case "app_definition_id":
			p.kind = pApp
		default:
			p.kind = pID
			p.id = idKind(name)
			p.inSpace = name != "template_id" && name != "resource_type_id"
		}
		if ref.param != "" && name == ref.param {
			rg.pagePiece = len(rg.pieces)
		}
		rg.pieces = append(rg.pieces, p)
	}
	rg.pieces = append(rg.pieces, piece{lit: lit, kind: pEnd})
	rg.outcomes = outcomes(r, segs[len(segs)-1])
	if r.Method == "PUT" || r.Method == "PATCH" {
		rg.queryProb = 0.005
	}
	return rg
}

// outcomes is the response mix of r, whose last template segment is last.
func outcomes(r routes.Route, last string) []outcome {
	status, created := 200, 0.0
	switch r.Method {
	case "DELETE":
		switch {
		case r.Entity == "releases" && last == "published":
			status = 202
		case last == "published" || last == "archived":
			status = 200
		default:
			status = 204
		}
	case "PUT":
		switch {
		case last == "process" || last == "complete":
			status = 204
		case r.Entity == "releases" && last == "published":
			status = 202
		case strings.HasPrefix(last, ":") && creatable[r.Entity]:
			created = 0.15
		}
	case "POST":
		status = 201
		if last == "unarchive" {
			status = 200
		}
	}
	size := bodySize[r.Entity]
	if size == 0 {
		size = 800
	}
	sigma := 0.5
	if r.Entity == "entries" || r.Entity == "content_types" || r.Entity == "ui_config" {
		sigma = 0.8
	}
	errs := []outcome{
		{status: 409, cum: 0.020, mean: 310, sigma: 0.1},
		{status: 422, cum: 0.010, mean: 640, sigma: 0.4},
		{status: 404, cum: 0.008, mean: 260, sigma: 0.1},
		{status: 403, cum: 0.005, mean: 240, sigma: 0.1},
		{status: 400, cum: 0.004, mean: 380, sigma: 0.3},
		{status: 429, cum: 0.005, mean: 190, sigma: 0.05},
		{status: 500, cum: 0.0005, mean: 130, sigma: 0.05},
		{status: 503, cum: 0.0003, mean: 170, sigma: 0.05},
	}
	var out []outcome
	pErr := 0.0
	for _, e := range errs {
		if e.status == 409 && r.Method == "POST" || e.status == 422 && r.Method == "DELETE" {
			continue
		}
		pErr += e.cum
		out = append(out, e)
	}
	ok := 1 - pErr
	success := outcome{status: status, cum: ok * (1 - created), mean: size, sigma: sigma}
	switch status {
	case 204:
		success.mean = 0
	case 202:
		success.mean, success.sigma = 680, 0.2
	}
	out = append([]outcome{success}, out...)
	if created > 0 {
		out = append([]outcome{{status: 201, cum: ok * created, mean: size, sigma: sigma}}, out...)
	}
	acc := 0.0
	for i := range out {
		acc += out[i].cum
		out[i].cum = acc
	}
	out[len(out)-1].cum = 1
	return out
}

// weight is how often r is used relative to other routes: editorial work
// is common, administration rare.
func weight(r routes.Route) float64 {
	if w, ok := routeWeights[r.Method+" "+r.Template]; ok {
		return w
	}
	if r.Method == "POST" {
		return 1
	}
	return 0.5
}

const envPath = "/spaces/:space_id/environments/:environment_id"

var routeWeights = map[string]float64{
	"PUT " + envPath + "/entries/:entry_id":              300,
	"PATCH " + envPath + "/entries/:entry_id":            120,
	"PUT " + envPath + "/entries/:entry_id/published":    150,
	"DELETE " + envPath + "/entries/:entry_id/published": 20,
	"DELETE " + envPath + "/entries/:entry_id":           25,
	"PUT " + envPath + "/entries/:entry_id/archived":     10,
	"DELETE " + envPath + "/entries/:entry_id/archived":  4,
	"POST " + envPath + "/entries":                       60,

	"PUT " + envPath + "/assets/:asset_id":                            80,
	"PUT " + envPath + "/assets/:asset_id/files/:locale_code/process": 60,
	"PUT " + envPath + "/assets/:asset_id/published":                  60,
	"DELETE " + envPath + "/assets/:asset_id/published":               6,
	"DELETE " + envPath + "/assets/:asset_id":                         10,
	"PUT " + envPath + "/assets/:asset_id/archived":                   4,
	"DELETE " + envPath + "/assets/:asset_id/archived":                2,
	"POST " + envPath + "/assets":                                     25,

	"PUT " + envPath + "/content_types/:content_type_id":                  15,
	"PUT " + envPath + "/content_types/:content_type_id/published":        15,
	"DELETE " + envPath + "/content_types/:content_type_id/published":     2,
	"DELETE " + envPath + "/content_types/:content_type_id":               2,
	"PUT " + envPath + "/content_types/:content_type_id/editor_interface": 10,

	"PUT " + envPath + "/entries/:entry_id/tasks/:task_id":    8,
	"DELETE " + envPath + "/entries/:entry_id/tasks/:task_id": 3,

	"PUT " + envPath + "/releases/:release_id":                                             10,
	"DELETE " + envPath + "/releases/:release_id":                                          3,
	"PUT " + envPath + "/releases/:release_id/published":                                   6,
	"DELETE " + envPath + "/releases/:release_id/published":                                1,
	"PUT " + envPath + "/releases/:release_id/archived":                                    2,
	"DELETE " + envPath + "/releases/:release_id/archived":                                 1,
	"PUT " + envPath + "/releases/:release_id/entries/:entry_id":                           6,
	"PATCH " + envPath + "/releases/:release_id/entries/:entry_id":                         4,
	"PUT " + envPath + "/releases/:release_id/assets/:asset_id":                            3,
	"PUT " + envPath + "/releases/:release_id/assets/:asset_id/files/:locale_code/process": 2,

	"PUT " + envPath + "/workflows/:workflow_id":                          8,
	"PUT " + envPath + "/workflows/:workflow_id/complete":                 4,
	"DELETE " + envPath + "/workflows/:workflow_id":                       2,
	"PUT " + envPath + "/workflow_definitions/:workflow_definition_id":    1,
	"DELETE " + envPath + "/workflow_definitions/:workflow_definition_id": 0.5,
	"PUT " + envPath + "/tags/:tag_id":                                    6,
	"DELETE " + envPath + "/tags/:tag_id":                                 1,
	"PUT " + envPath + "/locales/:locale_id":                              1,
	"DELETE " + envPath + "/locales/:locale_id":                           0.5,
	"PUT " + envPath + "/ui_config":                                       4,
	"PUT " + envPath + "/ui_config/me":                                    8,
	"PUT " + envPath + "/app_installations/:app_definition_id":            3,
	"DELETE " + envPath + "/app_installations/:app_definition_id":         0.5,
	"PUT " + envPath + "/extensions/:extension_id":                        1,
	"DELETE " + envPath + "/extensions/:extension_id":                     0.3,
	"PUT " + envPath + "/template_installations/:template_id/validated":   0.5,
	"PUT /spaces/:space_id/environments/:environment_id":                  2,
	"DELETE /spaces/:space_id/environments/:environment_id":               1.5,
	"PUT /spaces/:space_id/environment_aliases/:environment_alias_id":     1,
	"DELETE /spaces/:space_id/environment_aliases/:environment_alias_id":  0.3,
	"PUT /spaces/:space_id/webhook_definitions/:webhook_definition_id":    1,
	"DELETE /spaces/:space_id/webhook_definitions/:webhook_definition_id": 0.4,
	"PUT /spaces/:space_id/roles/:role_id":                                1,
	"DELETE /spaces/:space_id/roles/:role_id":                             0.3,
	"PUT /spaces/:space_id/space_memberships/:space_membership_id":        2,
	"DELETE /spaces/:space_id/space_memberships/:space_membership_id":     1,
	"PUT /spaces/:space_id/api_keys/:api_key_id":                          1,
	"DELETE /spaces/:space_id/api_keys/:api_key_id":                       0.4,
	"PUT /spaces/:space_id":                                               0.3,
	"DELETE /spaces/:space_id":                                            0.2,
	"PUT /spaces/:space_id/space_add_ons":                                 0.2,
	"PUT /spaces/:space_id/enablements":                                   0.2,
	"PUT /spaces/:space_id/webhook_settings/signing_secret":               0.2,
	"DELETE /spaces/:space_id/webhook_settings/signing_secret":            0.2,
}

// Static value lists. Weighted lists put the common values first and are
// drawn with skew.
var (
	locales      = []string{"en-US", "de-DE", "fr-FR", "en-GB", "es-ES", "it-IT", "nl-NL", "ja-JP", "pt-BR", "zh-CN", "pl-PL", "sv-SE"}
	contentTypes = []string{"blogPost", "page", "product", "author", "category", "landingPage", "article", "seo", "navigation", "heroBanner", "productCategory", "event", "faq", "testimonial", "footer", "pressRelease"}
	tags         = []string{"featured", "regionEu", "regionUs", "campaignSpring", "holidaySale", "legalReview", "internal", "brandRefresh", "seasonal", "archive2025"}
	devEnvs      = []string{"dev-anna", "dev-checkout", "dev-ben", "dev-redesign", "dev-jmartin", "dev-search", "dev-migration", "dev-lukas", "dev-i18n", "dev-sofia"}
	numbers      = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
	queries      []string // "locale=<code>", one per locale
)

func init() {
	for _, l := range locales {
		queries = append(queries, "locale="+l)
	}
}

const (
	base62    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	lowerAlnm = "0123456789abcdefghijklmnopqrstuvwxyz"
	hexDigits = "0123456789abcdef"
	appHost   = "https://app.contentful.com"
)

// orgState is the per-org part of generation: its pools.
type orgState struct {
	id        string
	key       uint64
	spaces    []string
	devEnvs   [2]string
	users     []string // "user:<id>"
	apps      []string // app definition IDs
	appActors []string // "app:<id>"
	appRefs   []string // the apps' own origins
	pools     []int    // per ID kind
	ctOffset  int      // where the org's content types start in the shared list
	tagOffset int
}

func (g *generator) newOrg(id string, n int) *orgState {
	o := &orgState{id: id, key: orgKey(g.seed, id)}
	nSpaces := 1 + min(7, bits.Len(uint(n/300)))
	for i := range nSpaces {
		var b [12]byte                               // 36^12 < 2^64: one hash is enough
		h := mix64(o.key ^ 0x7370616365 + uint64(i)) // "space"
		for j := range b {
			b[j] = lowerAlnm[h%36]
			h /= 36
		}
		o.spaces = append(o.spaces, string(b[:]))
	}
	o.devEnvs = [2]string{devEnvs[o.key%uint64(len(devEnvs))], devEnvs[(o.key>>8)%uint64(len(devEnvs))]}
	nUsers := min(max(n/40, 1), 300)
	var b [32]byte
	for i := range nUsers {
		u := appendID(append(b[:0], "user:"...), mix64(o.key^0x75736572+uint64(i))) // "user"
		o.users = append(o.users, string(u))
	}
	nApps := min(n/1000+1, 6)
	for i := range nApps {
		actor := string(appendID(append(b[:0], "app:"...), mix64(o.key^0x617070+uint64(i)))) // "app"
		app := actor[len("app:"):]
		o.apps = append(o.apps, app)
		o.appActors = append(o.appActors, actor)
		o.appRefs = append(o.appRefs, "https://"+strings.ToLower(app[:12])+".ctfcloud.net/")
	}
	for _, k := range g.idKinds {
		o.pools = append(o.pools, min(max(n/k.perEvents, k.lo), k.hi))
	}
	o.ctOffset = int(o.key>>16) % len(contentTypes)
	o.tagOffset = int(o.key>>24) % len(tags)
	return o
}

// org emits the n events of one org.
func (g *generator) org(ctx context.Context, orgID string, n int, fn func(*audit.Event) error) error {
	o := g.newOrg(orgID, n)
	r := rand.New(rand.NewPCG(uint64(g.seed), o.key))
	ridKey := mix64(o.key ^ 0x72657169) // "reqi"
	nCT := min(max(n/100, 3), len(contentTypes))
	nTags := min(max(n/200, 2), len(tags))
	var (
		ev   audit.Event
		buf  = make([]byte, 0, 512)
		cur  = 1.0 // descending order statistic of n uniforms, see below
		dayT = g.day.Start()
	)
	for i := range n {
		if i&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// Ascending request times without sorting: the largest of k
		// uniforms is U^(1/k), so multiplying by such factors walks the
		// sorted sample from the top; 1-x turns it ascending.
		cur *= math.Exp(math.Log(1-r.Float64()) / float64(n-i))
		ms := g.dayMillis(1 - cur)

		rg := &g.routes[search(g.cum, r.Float64())]
		space, spaceIdx := "", 0
		if rg.hasSpace {
			spaceIdx = skew(r, len(o.spaces))
			space = o.spaces[spaceIdx]
		}
		env := "master"
		buf = buf[:0]
		pageStart, pageEnd := 0, 0
		for pi := range rg.pieces {
			p := &rg.pieces[pi]
			buf = append(buf, p.lit...)
			start := len(buf)
			switch p.kind {
			case pEnd:
			case pSpace:
				buf = append(buf, space...)
			case pEnv:
				switch u := r.Float64(); {
				case u < 0.85:
				case u < 0.94:
					env = "staging"
				default:
					env = o.devEnvs[r.IntN(2)]
				}
				buf = append(buf, env...)
			case pEnvNotMaster:
				env = "staging"
				if r.Float64() < 0.6 {
					env = o.devEnvs[r.IntN(2)]
				}
				buf = append(buf, env...)
			case pAlias:
				a := "master"
				if r.Float64() < 0.15 {
					a = "staging"
				}
				buf = append(buf, a...)
			case pAliasNotMaster:
				a := "staging"
				if r.Float64() < 0.4 {
					a = "preview"
				}
				buf = append(buf, a...)
			case pOrg:
				buf = append(buf, o.id...)
			case pLocale:
				buf = append(buf, locales[skew(r, len(locales))]...)
			case pContentType:
				buf = append(buf, contentTypes[(o.ctOffset+skew(r, nCT))%len(contentTypes)]...)
			case pTag:
				buf = append(buf, tags[(o.tagOffset+skew(r, nTags))%len(tags)]...)
			case pNumber:
				buf = append(buf, numbers[skew(r, len(numbers))]...)
			case pApp:
				buf = append(buf, o.apps[skew(r, len(o.apps))]...)
			case pID:
				k := &g.idKinds[p.id]
				h := o.key + k.salt + uint64(skew(r, o.pools[p.id]))
				if p.inSpace {
					h += uint64(spaceIdx) << 40
				}
				buf = appendID(buf, mix64(h))
			}
			if pi == rg.pagePiece {
				pageStart, pageEnd = start, len(buf)
			}
		}
		pathEnd := len(buf)

		// 32 hex digits: a bijection of the index, so unique in the org.
		lo := mix64(ridKey + uint64(i))
		hi := mix64(lo ^ o.key)
		buf = appendHex(appendHex(buf, hi), lo)
		ridEnd := len(buf)

		var actor, referrer string
		if r.Float64() < 0.8 {
			actor = o.users[skew(r, len(o.users))]
			if r.Float64() < 0.9 {
				buf = append(buf, appHost...)
				switch {
				case rg.hasSpace:
					buf = append(buf, "/spaces/"...)
					buf = append(buf, space...)
					if rg.envScoped && env != "master" {
						buf = append(buf, "/environments/"...)
						buf = append(buf, env...)
					}
					buf = append(buf, rg.page...)
					if pageEnd > pageStart {
						buf = append(buf, '/')
						buf = append(buf, buf[pageStart:pageEnd]...)
					}
				default:
					buf = append(buf, "/account/organizations/"...)
					buf = append(buf, o.id...)
				}
			}
		} else {
			a := skew(r, len(o.apps))
			actor = o.appActors[a]
			if r.Float64() < 0.15 {
				referrer = o.appRefs[a]
			}
		}
		s := string(buf)
		if len(s) > ridEnd {
			referrer = s[ridEnd:]
		}

		k, u := 0, r.Float64()
		for k < len(rg.outcomes)-1 && u >= rg.outcomes[k].cum {
			k++
		}
		oc := &rg.outcomes[k]
		var size int64
		if oc.mean > 0 {
			size = int64(oc.mean * math.Exp(oc.sigma*r.NormFloat64()))
		}
		query := ""
		if rg.queryProb > 0 && r.Float64() < rg.queryProb {
			query = queries[skew(r, len(queries))]
		}

		ev = audit.Event{
			OrgID:          o.id,
			RequestID:      s[pathEnd:ridEnd],
			RequestTime:    dayT.Add(time.Duration(ms) * time.Millisecond),
			RequestMethod:  rg.method,
			RequestPath:    s[:pathEnd],
			RequestQuery:   query,
			ResponseStatus: oc.status,
			ContentLength:  size,
			Space:          space,
			Route:          rg.template,
			Referrer:       referrer,
			ActorID:        actor,
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// dayMillis maps x in [0, 1] to a millisecond of the day through the
// inverse of the hourly activity distribution; it is monotonic, so sorted
// x give sorted times.
func (g *generator) dayMillis(x float64) int64 {
	h := 0
	for h < 23 && x >= g.hourCum[h+1] {
		h++
	}
	f := (x - g.hourCum[h]) / (g.hourCum[h+1] - g.hourCum[h])
	ms := int64(h)*3_600_000 + int64(f*3_600_000)
	return min(max(ms, 0), 86_400_000-1)
}

// search returns the first index whose cumulative weight exceeds u.
func search(cum []float64, u float64) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cum[m] > u {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// skew draws an index below n, small ones more often (density falling as
// 1/sqrt): a few hot entries, busy users, main spaces.
func skew(r *rand.Rand, n int) int {
	u := r.Float64()
	return int(u * u * float64(n))
}

// appendID appends 22 base62 characters derived from h, the shape of
// Contentful's generated IDs.
func appendID(b []byte, h uint64) []byte {
	l := mix64(h ^ 0x9e3779b97f4a7c15)
	for _, v := range [2]uint64{h, l} {
		for range 11 {
			b = append(b, base62[v%62])
			v /= 62
		}
	}
	return b
}

func appendHex(b []byte, v uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[v>>uint(s)&0xf])
	}
	return b
}

// mix64 is the SplitMix64 finalizer: a bijection of uint64 that scatters
// nearby inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// orgKey is the per-org seed of every derived value.
func orgKey(seed int64, org string) uint64 {
	return mix64(hashString(org) ^ mix64(uint64(seed)+0x9e3779b97f4a7c15))
}
