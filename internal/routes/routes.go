// Package routes is the table of audited routes: the mutating requests of
// the Contentful Content Management API (CMA), each with the entity type it
// changes and its path template. The template, written with :param
// placeholders (/spaces/:space_id/environments/:environment_id/entries/:entry_id),
// is the route value an audit event carries.
//
// # Data
//
// The table is routes.tsv, embedded in the binary. It was converted once from
// a table compiled from the Contentful CMA reference pages (the file's header
// comment names the source and the columns); nothing reads the original at run
// time. A row whose method or exact path was not seen verbatim on a reference
// page has Confirmed false. Every row is kept, POST included: which methods
// are audited is the caller's choice ([Audited], [DefaultMethods]).
//
// # Entities
//
// The product promises audit logs for 21 entity types, [ProductEntities], in
// the order of the product documentation; each has a snake_case name taken
// from its section of the source table. Snapshots are one of them but are
// read-only (created automatically on publish), so they have no row.
//
// Content types (section 4b of the source table, "listed for completeness")
// are not among the 21: the product list does not name them. They are audited
// all the same, because auditing is decided by the request method, not by an
// entity list, and creating, changing, activating or deleting a content type
// changes the content model as much as anything on the list. They get an
// entity of their own, [ContentTypes], rather than being folded into
// content_model_templates, whose routes manage a different resource
// (organization-level environment templates). So the table holds 21 distinct
// entities: the 20 promised types that have mutating routes, plus
// content_types.
//
// # Matching
//
// [Match] and [Lookup] classify a concrete request path (no query string) to
// its route through a segment trie built once at init. They match the
// path's [Canonical] form: a trailing slash, a doubled slash, a
// percent-encoded unreserved character or a dot segment do not hide a
// route. A parameter matches any one segment; where a literal segment and a
// parameter could both lead to a route for the method, the literal wins.
// Literal segments match exactly, case included (paths are case-sensitive);
// [NearMiss] tells whether a path would match if they did not.
//
// Of this module it imports only internal/percent. It knows nothing of
// events or records: the ingest and the synthetic events (localdev/synth)
// import it, so it must not import audit or ingest.
package routes

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/contentful/auditlogs/internal/percent"
)

//go:embed routes.tsv
var tableTSV string

// Route is one audited route.
type Route struct {
	Entity    string   // snake_case entity type, e.g. "entries"
	Method    string   // POST, PUT, PATCH or DELETE
	Template  string   // path with :param placeholders; the route value of an audit event
	Params    []string // parameter names in path order, without the colon; shared, do not modify
	Confirmed bool     // false where the method or exact path was not seen on a reference page
}

// DefaultMethods are the methods audited by default. POST (creates) is in
// the table but not audited unless a caller asks for it.
var DefaultMethods = []string{"PUT", "PATCH", "DELETE"}

// SpaceParam is the parameter that holds the space ID: an event's space is
// the value of this parameter, and empty for routes without it
// (organization-level routes).
const SpaceParam = "space_id"

// ContentTypes is the entity of the content type routes, audited but not one
// of the 21 [ProductEntities].
const ContentTypes = "content_types"

// ProductEntities are the 21 entity types the product documentation
// promises, in its order. Every one but "snapshots" has routes.
var ProductEntities = []string{
	"spaces",
	"environments",
	"ui_config",
	"content_model_templates",
	"resource_providers", // "References across spaces"
	"space_enablements",
	"editor_interface",
	"ui_extensions",
	"entries",
	"assets",
	"locales",
	"tags",
	"webhooks",
	"roles",
	"snapshots", // read-only: no mutating route
	"space_memberships",
	"api_keys",
	"workflows",
	"tasks",
	"releases",
	"app_installations",
}

// The table, parsed and indexed once. A parse error is a panic: the file is
// embedded and tested, so an error is a build mistake.
var (
	table   []Route
	matcher *trie
)

func init() {
	rs, err := parse(tableTSV)
	if err != nil {
		panic("routes.tsv: " + err.Error())
	}
	m, err := newTrie(rs)
	if err != nil {
		panic("routes.tsv: " + err.Error())
	}
	table, matcher = rs, m
}

// All returns every route in file order. The slice is the caller's; the
// routes' Params are shared.
func All() []Route { return slices.Clone(table) }

// Audited returns the routes whose method is one of methods (exact, upper
// case), in file order; with no methods, those of [DefaultMethods].
func Audited(methods ...string) []Route {
	if len(methods) == 0 {
		methods = DefaultMethods
	}
	var out []Route
	for _, r := range table {
		if slices.Contains(methods, r.Method) {
			out = append(out, r)
		}
	}
	return out
}

// Fill builds the concrete path of r from values (parameter name → value).
// Values are inserted as given; one that is missing or empty, or that holds
// a '/', is an error naming the parameter. Other keys are ignored.
func (r Route) Fill(values map[string]string) (string, error) {
	var b strings.Builder
	b.Grow(len(r.Template) + 32)
	for seg := range strings.SplitSeq(r.Template[1:], "/") {
		b.WriteByte('/')
		name, ok := strings.CutPrefix(seg, ":")
		if !ok {
			b.WriteString(seg)
			continue
		}
		v, ok := values[name]
		switch {
		case !ok:
			return "", fmt.Errorf("route %s: missing parameter %s", r.Template, name)
		case v == "" || strings.Contains(v, "/"):
			return "", fmt.Errorf("route %s: parameter %s = %q: must be non-empty and hold no '/'", r.Template, name, v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Canonical is the form of a request path that routes are matched on
// (RFC 3986, section 6.2.2):
//
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are
//     decoded (%41 is A), and the hex digits of every other escape are
//     upper case (%2f is %2F);
//   - empty segments are removed: a doubled slash is one, a trailing slash
//     is none ("/" stays "/");
//   - dot segments are resolved (section 5.2.4, after the decoding, so
//     %2E%2E is ".."): "." is removed, ".." removes the segment before it.
//
// Two things are decided here. An encoded reserved character stays
// encoded: "%2F" is a '/' inside a segment, not a separator, and decoding
// it would name another resource (section 2.2: reserved characters and
// their encodings are not equivalent). Dot segments are resolved because
// clients and proxies resolve them before a request reaches the API
// (browsers and curl do, so do most reverse proxies); a change addressed
// as .../entries/e2/x/.. must be audited as one to entries/e2, and if the
// API did not resolve it, the event records a request that its status
// shows failed, which is better than a change that is never audited.
//
// A '%' that starts no valid escape ("%zz", "%4") becomes %25, the '%'
// it stands for; bytes that are not ASCII are kept as they are. A path that is canonical already is returned as it is, without
// allocating; "" and a path that does not start with '/' too.
func Canonical(path string) string {
	if canonical(path) {
		return path
	}
	segs := make([]string, 0, strings.Count(path, "/"))
	var buf []byte
	for seg := range strings.SplitSeq(path[1:], "/") {
		if strings.IndexByte(seg, '%') >= 0 {
			buf = normalizeEscapes(buf[:0], seg)
			seg = string(buf)
		}
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// canonical reports whether Canonical leaves path as it is: no '%', and
// no empty or dot segment after any '/'.
func canonical(path string) bool {
	if path == "" || path[0] != '/' || path == "/" {
		return true
	}
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '%':
			return false
		case '/':
			if rest := path[i+1:]; rest == "" || rest[0] == '/' || rest[0] == '.' && dotSegment(rest) {
				return false
			}
		}
	}
	return true
}

// dotSegment reports whether rest, what follows a '/', starts with the
// segment "." or "..".
func dotSegment(rest string) bool {
	seg, _, _ := strings.Cut(rest, "/")
	return seg == "." || seg == ".."
}

// normalizeEscapes appends seg to b with its escapes of unreserved
// characters decoded and the hex digits of the others in upper case.
func normalizeEscapes(b []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		d, ok := percent.Decode(seg, i)
		if !ok {
			// A '%' that starts no escape is a '%': written %25, so that
			// a decoded character after it cannot make an escape of it
			// ("%%61" is "%25a", not "%a").
			b = append(b, "%25"...)
			continue
		}
		if percent.Unreserved(d) {
			b = append(b, d)
		} else {
			b = append(b, '%', upper(seg[i+1]), upper(seg[i+2]))
		}
		i += 2
	}
	return b
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// Match classifies a request: the route of method and path (without query
// string) and its parameter values, taken from the path's Canonical form.
// ok is false for a method or path no route has.
func Match(method, path string) (r Route, params map[string]string, ok bool) {
	i := matcher.findCanonical(method, &path)
	if i < 0 {
		return Route{}, nil, false
	}
	r = table[i]
	params = make(map[string]string, len(r.Params))
	pos := matcher.params[i]
	seg, p := 0, 0
	for s := range strings.SplitSeq(path[1:], "/") {
		if p < len(pos) && pos[p] == seg {
			params[r.Params[p]] = s
			p++
		}
		seg++
	}
	return r, params, true
}

// Lookup is [Match] without the parameter map, for ingest: the route and
// the space ID (the [SpaceParam] value of the Canonical path, empty when
// the route has none). It allocates only for a path that is not canonical.
func Lookup(method, path string) (r Route, space string, ok bool) {
	i := matcher.findCanonical(method, &path)
	if i < 0 {
		return Route{}, "", false
	}
	if seg := matcher.space[i]; seg >= 0 {
		rest := path // matched: exactly as many non-empty segments as the template
		for k := 0; ; k++ {
			rest = rest[1:]
			j := strings.IndexByte(rest, '/')
			if k == seg {
				if j < 0 {
					j = len(rest)
				}
				space = rest[:j]
				break
			}
			rest = rest[j:]
		}
	}
	return table[i], space, true
}

// NearMiss reports whether method and path, which Lookup does not match,
// would match a route of method if literal segments were compared without
// regard to case (/Spaces/s1/Environments/master/Entries/e1), and which.
// Such a request is not audited (the path is not the route's), but it is
// likely a change made all the same, by a client or a proxy that changes
// case: the ingest counts it so that someone looks.
func NearMiss(method, path string) (r Route, ok bool) {
	path = Canonical(path)
	if matcher.find(method, path) != -1 {
		return Route{}, false
	}
	m := methodIndex(method)
	if m < 0 || path == "" || path[0] != '/' {
		return Route{}, false
	}
	i := int(matcher.root.findFold(m, path)) - 1
	if i < 0 {
		return Route{}, false
	}
	return table[i], true
}

// methodIndex numbers the methods a route may have; -1 for any other.
func methodIndex(m string) int {
	switch m {
	case "POST":
		return 0
	case "PUT":
		return 1
	case "PATCH":
		return 2
	case "DELETE":
		return 3
	}
	return -1
}

// parse reads the TSV: '#' comment lines and blank lines are skipped, the
// first other line is the column header, every further line a route.
func parse(data string) ([]Route, error) {
	const header = "entity\tmethod\ttemplate\tconfirmed"
	var rs []Route
	sawHeader := false
	seen := map[string]int{} // method + template → line
	for n, line := range strings.Split(data, "\n") {
		lineNo := n + 1
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !sawHeader {
			if line != header {
				return nil, fmt.Errorf("line %d: want the header %q, got %q", lineNo, header, line)
			}
			sawHeader = true
			continue
		}
		r, err := parseRow(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		key := r.Method + " " + r.Template
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s repeats line %d", lineNo, key, prev)
		}
		seen[key] = lineNo
		rs = append(rs, r)
	}
	if !sawHeader {
		return nil, errors.New("no header line")
	}
	if len(rs) == 0 {
		return nil, errors.New("no routes")
	}
	return rs, nil
}

func parseRow(line string) (Route, error) {
	f := strings.Split(line, "\t")
	if len(f) != 4 {
		return Route{}, fmt.Errorf("%d tab-separated fields, want 4 (entity, method, template, confirmed)", len(f))
	}
	r := Route{Entity: f[0], Method: f[1], Template: f[2]}
	if !isName(r.Entity) {
		return Route{}, fmt.Errorf("entity %q: must be snake_case", r.Entity)
	}
	if methodIndex(r.Method) < 0 {
		return Route{}, fmt.Errorf("method %q: must be POST, PUT, PATCH or DELETE", r.Method)
	}
	switch f[3] {
	case "yes":
		r.Confirmed = true
	case "no":
	default:
		return Route{}, fmt.Errorf("confirmed %q: must be yes or no", f[3])
	}
	if !strings.HasPrefix(r.Template, "/") || r.Template == "/" {
		return Route{}, fmt.Errorf("template %q: must start with '/' and name a resource", r.Template)
	}
	for seg := range strings.SplitSeq(r.Template[1:], "/") {
		name, isParam := strings.CutPrefix(seg, ":")
		switch {
		case seg == "":
			return Route{}, fmt.Errorf("template %q: empty segment", r.Template)
		case strings.ContainsAny(seg, "{}?#% \t"):
			return Route{}, fmt.Errorf("template %q: segment %q holds a character a template may not have", r.Template, seg)
		case isParam && !isName(name):
			return Route{}, fmt.Errorf("template %q: parameter %q must be a snake_case name", r.Template, seg)
		case isParam && slices.Contains(r.Params, name):
			return Route{}, fmt.Errorf("template %q: parameter %s appears twice", r.Template, name)
		case isParam:
			r.Params = append(r.Params, name)
		case strings.Contains(seg, ":"):
			return Route{}, fmt.Errorf("template %q: ':' inside segment %q", r.Template, seg)
		}
	}
	return r, nil
}

// isName reports whether s is snake_case: a lower-case letter, then lower
// case letters, digits and underscores.
func isName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// trie is the matcher: one node per template prefix, a parameter being one
// wildcard child per node.
type trie struct {
	root   node
	params [][]int // per route: the segment index of each parameter
	space  []int   // per route: the segment index of space_id, or -1
}

type node struct {
	lit   map[string]*node
	param *node
	route [4]int32 // per method index: route index + 1, 0 for none
}

func newTrie(rs []Route) (*trie, error) {
	t := &trie{params: make([][]int, len(rs)), space: make([]int, len(rs))}
	for i, r := range rs {
		n := &t.root
		t.space[i] = -1
		segs := strings.Split(r.Template[1:], "/")
		for j, seg := range segs {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				t.params[i] = append(t.params[i], j)
				if name == SpaceParam {
					t.space[i] = j
				}
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
				continue
			}
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			c := n.lit[seg]
			if c == nil {
				c = &node{}
				n.lit[seg] = c
			}
			n = c
		}
		m := methodIndex(r.Method)
		if prev := n.route[m]; prev != 0 {
			return nil, fmt.Errorf("%s %s and %s %s match the same paths", r.Method, r.Template, rs[prev-1].Method, rs[prev-1].Template)
		}
		n.route[m] = int32(i + 1)
	}
	return t, nil
}

// notCanonical is what node.find returns when it meets a segment that
// Canonical would change.
const notCanonical = -1

// findCanonical returns the index of the route of method and the
// Canonical form of *path, or -1, and sets *path to that form. It matches
// the path as it is when that is canonical, which is nearly always, and
// finds out on the way: a path without '%' differs from its canonical form
// only by empty and dot segments, and find stops at the first it meets. A
// path that find leaves before such a segment fails as its canonical form
// would (the segments before it are the same), unless a ".." further on
// would remove some: so a failure with "/." in the path tries again.
func (t *trie) findCanonical(method string, path *string) int {
	if strings.IndexByte(*path, '%') >= 0 {
		*path = Canonical(*path)
	}
	i := t.find(method, *path)
	if i == notCanonical-1 || i < 0 && strings.Contains(*path, "/.") {
		*path = Canonical(*path)
		i = t.find(method, *path)
	}
	return max(i, -1)
}

// find returns the index of the route of method and path, -1 for none, or
// notCanonical-1 when path has a segment that Canonical would change.
func (t *trie) find(method, path string) int {
	m := methodIndex(method)
	if m < 0 || path == "" || path[0] != '/' {
		return -1
	}
	return int(t.root.find(m, path)) - 1
}

// find matches path, which is empty or starts with '/', below n: the route
// index + 1, 0 for none, notCanonical at an empty or dot segment. It tries
// the literal child before the parameter child, so a literal wins, but
// falls back to the parameter when the literal leads to no route.
func (n *node) find(m int, path string) int32 {
	if path == "" {
		return n.route[m]
	}
	seg, rest := path[1:], ""
	if j := strings.IndexByte(seg, '/'); j >= 0 {
		seg, rest = seg[:j], seg[j:]
	}
	if seg == "" || seg[0] == '.' && (seg == "." || seg == "..") {
		return notCanonical
	}
	if c := n.lit[seg]; c != nil {
		if r := c.find(m, rest); r != 0 {
			return r
		}
	}
	if n.param != nil {
		return n.param.find(m, rest)
	}
	return 0
}

// findFold is find with literal segments compared case-insensitively
// (NearMiss). Every literal child is tried, so it is slower than find: it
// runs only for paths that find does not match.
func (n *node) findFold(m int, path string) int32 {
	if path == "" {
		return n.route[m]
	}
	seg, rest := path[1:], ""
	if j := strings.IndexByte(seg, '/'); j >= 0 {
		seg, rest = seg[:j], seg[j:]
	}
	if seg == "" {
		return 0
	}
	for lit, c := range n.lit {
		if strings.EqualFold(lit, seg) {
			if r := c.findFold(m, rest); r != 0 {
				return r
			}
		}
	}
	if n.param != nil {
		return n.param.findFold(m, rest)
	}
	return 0
}
