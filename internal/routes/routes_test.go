package routes

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestTableShape(t *testing.T) {
	all := All()
	// 95 rows were converted from the source table; a change to routes.tsv
	// must update these figures on purpose.
	if len(all) != 95 {
		t.Errorf("%d routes, want 95", len(all))
	}
	unconfirmed := 0
	seen := map[string]bool{}
	for _, r := range all {
		name := r.Method + " " + r.Template
		if seen[name] {
			t.Errorf("%s: listed twice", name)
		}
		seen[name] = true
		if !strings.HasPrefix(r.Template, "/") {
			t.Errorf("%s: template does not start with '/'", name)
		}
		if strings.ContainsAny(r.Template, "{}") {
			t.Errorf("%s: '{' or '}' left in the template", name)
		}
		if !slices.Contains([]string{"POST", "PUT", "PATCH", "DELETE"}, r.Method) {
			t.Errorf("%s: method %q", name, r.Method)
		}
		if r.Entity != ContentTypes && !slices.Contains(ProductEntities, r.Entity) {
			t.Errorf("%s: entity %q is neither a product entity nor %s", name, r.Entity, ContentTypes)
		}
		var want []string
		for _, seg := range strings.Split(r.Template, "/")[1:] {
			if p, ok := strings.CutPrefix(seg, ":"); ok {
				if slices.Contains(want, p) {
					t.Errorf("%s: parameter %s twice", name, p)
				}
				want = append(want, p)
			}
		}
		if !slices.Equal(r.Params, want) {
			t.Errorf("%s: Params = %q, want %q", name, r.Params, want)
		}
		if !r.Confirmed {
			unconfirmed++
		}
	}
	if unconfirmed != 7 {
		t.Errorf("%d unconfirmed routes, want 7", unconfirmed)
	}
}

func TestEntities(t *testing.T) {
	if len(ProductEntities) != 21 {
		t.Fatalf("%d product entities, want the 21 the product promises", len(ProductEntities))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ProductEntities)))) != 21 {
		t.Fatal("ProductEntities repeats a name")
	}
	if slices.Contains(ProductEntities, ContentTypes) {
		t.Fatalf("%s must not count among the 21", ContentTypes)
	}
	perEntity := map[string]int{}
	for _, r := range Audited() {
		perEntity[r.Entity]++
	}
	for _, e := range ProductEntities {
		if e == "snapshots" {
			if perEntity[e] != 0 {
				t.Errorf("snapshots are read-only but have %d routes", perEntity[e])
			}
			continue
		}
		if perEntity[e] == 0 {
			t.Errorf("entity %s has no audited route", e)
		}
	}
	if perEntity[ContentTypes] == 0 {
		t.Errorf("%s has no audited route", ContentTypes)
	}
	all := map[string]bool{}
	for _, r := range All() {
		all[r.Entity] = true
	}
	// 20 product entities with routes (snapshots have none) + content_types.
	if len(all) != 21 {
		t.Errorf("the table has %d entities, want 21: %v", len(all), slices.Sorted(maps.Keys(all)))
	}
}

func TestAudited(t *testing.T) {
	def := Audited()
	if !slices.EqualFunc(def, Audited(DefaultMethods...), func(a, b Route) bool { return a.Method == b.Method && a.Template == b.Template }) {
		t.Fatal("Audited() differs from Audited(DefaultMethods...)")
	}
	post := Audited("POST")
	if len(def)+len(post) != len(All()) {
		t.Fatalf("%d default + %d POST routes, want %d in all", len(def), len(post), len(All()))
	}
	for _, r := range def {
		if r.Method == "POST" {
			t.Errorf("default audited route %s %s is a POST", r.Method, r.Template)
		}
	}
	for _, r := range post {
		if r.Method != "POST" {
			t.Errorf("Audited(POST) returned %s %s", r.Method, r.Template)
		}
	}
	if got := Audited("GET"); len(got) != 0 {
		t.Errorf("Audited(GET) = %d routes", len(got))
	}
	// All returns a copy.
	a := All()
	a[0].Template = "changed"
	if All()[0].Template == "changed" {
		t.Error("All exposes the table")
	}
}

// sampleValues gives every parameter of r a distinct, ordinary value.
func sampleValues(r Route) map[string]string {
	v := map[string]string{}
	for i, p := range r.Params {
		v[p] = p[:1] + strings.Repeat("x", i) + "-Id9"
	}
	return v
}

func TestFillMatchRoundTrip(t *testing.T) {
	for _, r := range All() {
		vals := sampleValues(r)
		path, err := r.Fill(vals)
		if err != nil {
			t.Fatalf("%s %s: Fill: %v", r.Method, r.Template, err)
		}
		got, params, ok := Match(r.Method, path)
		if !ok {
			t.Errorf("%s %s: no match", r.Method, path)
			continue
		}
		if got.Method != r.Method || got.Template != r.Template || got.Entity != r.Entity {
			t.Errorf("%s %s: matched %s %s, want %s", r.Method, path, got.Method, got.Template, r.Template)
		}
		if !maps.Equal(params, vals) {
			t.Errorf("%s %s: params %v, want %v", r.Method, path, params, vals)
		}
		lr, space, ok := Lookup(r.Method, path)
		if !ok || lr.Template != r.Template || space != vals[SpaceParam] {
			t.Errorf("Lookup(%s %s) = %s, space %q, %v; want space %q", r.Method, path, lr.Template, space, ok, vals[SpaceParam])
		}
	}
}

func TestMatchExample(t *testing.T) {
	r, p, ok := Match("PUT", "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse/published")
	if !ok || r.Template != "/spaces/:space_id/environments/:environment_id/entries/:entry_id/published" || r.Entity != "entries" {
		t.Fatalf("Match = %+v, %v", r, ok)
	}
	want := map[string]string{"space_id": "s7k2abcd1234", "environment_id": "master", "entry_id": "5KsDBWse"}
	if !maps.Equal(p, want) {
		t.Fatalf("params = %v, want %v", p, want)
	}
	r, space, ok := Lookup("PUT", "/organizations/o1/environment_templates/t1")
	if !ok || space != "" || r.Entity != "content_model_templates" {
		t.Fatalf("Lookup org route = %+v, %q, %v", r, space, ok)
	}
	// A parameter value that equals some literal is still a value.
	r, p, ok = Match("DELETE", "/spaces/published/environments/entries/entries/archived")
	if !ok || r.Template != "/spaces/:space_id/environments/:environment_id/entries/:entry_id" ||
		p["space_id"] != "published" || p["environment_id"] != "entries" || p["entry_id"] != "archived" {
		t.Fatalf("Match = %s %v %v", r.Template, p, ok)
	}
}

func TestNoMatch(t *testing.T) {
	for _, c := range []struct{ method, path string }{
		{"GET", "/spaces/s1/environments/master/entries/e1"},
		{"put", "/spaces/s1/environments/master/entries/e1"},
		{"HEAD", "/spaces/s1"},
		{"PUT", "/spaces/s1/environments/master/entries/e1/published/x"}, // extra segment
		{"PUT", "/spaces/s1/environments/master/entries/e1/unknown"},
		// An empty segment is removed, not a parameter: this is
		// /spaces/environments/master/entries/e1, no route.
		{"PUT", "/spaces//environments/master/entries/e1"},
		{"PUT", "/spaces/s1/environments/master/entries/e1/.."}, // .../entries: POST only
		{"PUT", "/spaces/s1%2Fenvironments/master"},             // %2F is no separator
		{"PUT", "/Spaces/s1"},                                   // case matters (a near miss)
		{"PUT", "/spaces/s1/environments/master/entries"},       // collection: POST only
		{"PATCH", "/spaces/s1/environments/master/assets/a1"},
		{"PUT", "/unknown"},
		{"PUT", "/"},
		{"PUT", ""},
		{"PUT", "spaces/s1"},
		{"DELETE", "/spaces"},
	} {
		if r, _, ok := Match(c.method, c.path); ok {
			t.Errorf("Match(%s %q) = %s %s, want no match", c.method, c.path, r.Method, r.Template)
		}
		if _, _, ok := Lookup(c.method, c.path); ok {
			t.Errorf("Lookup(%s %q) matched", c.method, c.path)
		}
	}
}

func TestLiteralBeatsParam(t *testing.T) {
	const tsv = "entity\tmethod\ttemplate\tconfirmed\n" +
		"releases\tPUT\t/releases/:release_id\tyes\n" +
		"releases\tPUT\t/releases/:release_id/published\tyes\n" +
		"releases\tPUT\t/releases/:release_id/:action\tyes\n" +
		"releases\tPUT\t/releases/current/:item/x\tyes\n" +
		"releases\tPUT\t/releases/:release_id/:item/y\tyes\n" +
		"releases\tDELETE\t/releases/:release_id/:action\tyes\n"
	rs, err := parse(tsv)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTrie(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, want string }{
		{"PUT", "/releases/r1/published", "/releases/:release_id/published"},
		{"PUT", "/releases/r1/archived", "/releases/:release_id/:action"},
		{"PUT", "/releases/current", "/releases/:release_id"},
		{"PUT", "/releases/current/i/x", "/releases/current/:item/x"},
		// The literal "current" leads nowhere for .../y: back off to the parameter.
		{"PUT", "/releases/current/i/y", "/releases/:release_id/:item/y"},
		// No DELETE under the literal "published": the parameter route takes it.
		{"DELETE", "/releases/r1/published", "/releases/:release_id/:action"},
		{"PATCH", "/releases/r1/published", ""},
		{"PUT", "/releases/r1/published/", ""},
	} {
		i := tr.find(c.method, c.path)
		got := ""
		if i >= 0 {
			got = rs[i].Template
		}
		if got != c.want {
			t.Errorf("%s %s matched %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestFillErrors(t *testing.T) {
	r, _, _ := Match("PUT", "/spaces/s1/environments/e1/entries/x1")
	if _, err := r.Fill(map[string]string{"space_id": "s1", "environment_id": "e1"}); err == nil || !strings.Contains(err.Error(), "entry_id") {
		t.Errorf("missing entry_id: err = %v", err)
	}
	if _, err := r.Fill(map[string]string{"space_id": "s1", "environment_id": "", "entry_id": "x"}); err == nil || !strings.Contains(err.Error(), "environment_id") {
		t.Errorf("empty environment_id: err = %v", err)
	}
	if _, err := r.Fill(map[string]string{"space_id": "s/1", "environment_id": "e", "entry_id": "x"}); err == nil || !strings.Contains(err.Error(), "space_id") {
		t.Errorf("space_id with '/': err = %v", err)
	}
	got, err := r.Fill(map[string]string{"space_id": "s1", "environment_id": "e1", "entry_id": "x1", "extra": "ignored"})
	if err != nil || got != "/spaces/s1/environments/e1/entries/x1" {
		t.Errorf("Fill = %q, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	const h = "# comment\nentity\tmethod\ttemplate\tconfirmed\n"
	for _, c := range []struct{ name, tsv, want string }{
		{"no header", "spaces\tPUT\t/spaces/:space_id\tyes\n", "line 1"},
		{"fields", h + "spaces\tPUT\t/spaces/:space_id\n", "line 3"},
		{"method", h + "spaces\tGET\t/spaces/:space_id\tyes\n", `line 3: method "GET"`},
		{"entity", h + "Spaces\tPUT\t/spaces/:space_id\tyes\n", "line 3: entity"},
		{"confirmed", h + "spaces\tPUT\t/spaces/:space_id\tmaybe\n", "line 3: confirmed"},
		{"slash", h + "spaces\tPUT\tspaces/:space_id\tyes\n", "line 3: template"},
		{"braces", h + "spaces\tPUT\t/spaces/{space_id}\tyes\n", "line 3: template"},
		{"empty segment", h + "spaces\tPUT\t/spaces//x\tyes\n", "empty segment"},
		{"trailing slash", h + "spaces\tPUT\t/spaces/\tyes\n", "empty segment"},
		{"param twice", h + "spaces\tPUT\t/spaces/:id/x/:id\tyes\n", "appears twice"},
		{"bad param", h + "spaces\tPUT\t/spaces/:\tyes\n", "parameter"},
		{"duplicate", h + "spaces\tPUT\t/spaces/:space_id\tyes\n\nspaces\tPUT\t/spaces/:space_id\tno\n", "line 5: PUT /spaces/:space_id repeats line 3"},
		{"no routes", h, "no routes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(c.tsv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("parse: err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	rs, err := parse("entity\tmethod\ttemplate\tconfirmed\na\tPUT\t/x/:a\tyes\nb\tPUT\t/x/:b\tyes\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newTrie(rs); err == nil || !strings.Contains(err.Error(), "same paths") {
		t.Fatalf("ambiguous templates: err = %v", err)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	path := "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse/published"
	if n := testing.AllocsPerRun(100, func() { Lookup("PUT", path) }); n != 0 {
		t.Errorf("Lookup allocates %.0f times", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	path := "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse/published"
	for b.Loop() {
		Lookup("PUT", path)
	}
}

func FuzzMatch(f *testing.F) {
	for _, r := range All() {
		p, _ := r.Fill(sampleValues(r))
		f.Add(r.Method, p)
	}
	f.Add("PUT", "/spaces/s1/")
	f.Add("PUT", "/x/../spaces/s%31/./")
	f.Add("DELETE", "/spaces/s1/environments/%2e%2E/environments/e1")
	f.Add("GET", "//")
	f.Add("DELETE", "/spaces/published/environments/x/releases/published/published")
	f.Fuzz(func(t *testing.T, method, path string) {
		cp := Canonical(path)
		if Canonical(cp) != cp {
			t.Fatalf("Canonical is not idempotent on %q: %q, then %q", path, cp, Canonical(cp))
		}
		if path != "" && path[0] == '/' {
			for _, bad := range []string{"//", "/./", "/../"} {
				if strings.Contains(cp+"/", bad) && cp != "/" {
					t.Fatalf("Canonical(%q) = %q holds %q", path, cp, bad)
				}
			}
		}
		r, params, ok := Match(method, path)
		lr, space, lok := Lookup(method, path)
		// The shortcut (the path as it is when it is canonical) agrees
		// with matching the canonical form.
		if want := matcher.find(method, cp); (want >= 0) != ok || ok && table[want].Template != r.Template {
			t.Fatalf("Match(%s %q) = %q, %v; its canonical form %q matches route %d", method, path, r.Template, ok, cp, want)
		}
		if ok != lok || lr.Template != r.Template || space != params[SpaceParam] {
			t.Fatalf("Match and Lookup disagree on %s %q", method, path)
		}
		if !ok {
			return
		}
		if r.Method != method || len(params) != len(r.Params) {
			t.Fatalf("%s %q matched %s %s with %v", method, path, r.Method, r.Template, params)
		}
		got, err := r.Fill(params)
		if err != nil || got != Canonical(path) {
			t.Fatalf("%s %q matched %s; Fill = %q, %v, want the canonical path %q", method, path, r.Template, got, err, Canonical(path))
		}
	})
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"spaces/s1", "spaces/s1"},
		{"/", "/"},
		{"//", "/"},
		{"/spaces/s1", "/spaces/s1"},
		{"/spaces/s1/", "/spaces/s1"},
		{"/spaces//s1//", "/spaces/s1"},
		{"//spaces/s1", "/spaces/s1"},
		// Unreserved characters decoded, any case of hex digits.
		{"/spaces/s%31/entries/%65%2d1", "/spaces/s1/entries/e-1"},
		{"/%73paces/%7E%5f%2E%41", "/spaces/~_.A"},
		// Reserved and other characters stay encoded, hex in upper case.
		{"/spaces/a%2fb/c%2Fd", "/spaces/a%2Fb/c%2Fd"},
		{"/x/%20%3a%c3%a9", "/x/%20%3A%C3%A9"},
		// A '%' that starts no escape is a '%'; bytes that are not ASCII
		// are kept.
		{"/x/%zz/%4/%", "/x/%25zz/%254/%25"},
		{"/x/%%61b", "/x/%25ab"},
		{"/x/\xff/é", "/x/\xff/é"},
		// Dot segments, resolved after the decoding.
		{"/spaces/s1/./entries/e1", "/spaces/s1/entries/e1"},
		{"/spaces/s1/entries/e1/x/..", "/spaces/s1/entries/e1"},
		{"/spaces/s1/entries/e1/../e2", "/spaces/s1/entries/e2"},
		{"/../spaces/s1", "/spaces/s1"},
		{"/spaces/s1/%2E%2E/s2", "/spaces/s2"},
		{"/spaces/s1/.%2e", "/spaces"},
		{"/spaces/.x/..y/...", "/spaces/.x/..y/..."},
		{"/a/.", "/a"},
	} {
		if got := Canonical(c.in); got != c.want {
			t.Errorf("Canonical(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Canonical(c.want); got != c.want {
			t.Errorf("Canonical(%q) = %q: not idempotent", c.want, got)
		}
	}
	p := "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse/published"
	if n := testing.AllocsPerRun(100, func() { Canonical(p) }); n != 0 {
		t.Errorf("Canonical of a canonical path allocates %.0f times", n)
	}
}

// TestEveryRouteCanonicalForms: every route, sent with a trailing slash,
// a doubled slash, a percent-encoded unreserved character or a dot
// segment, matches as that route with the canonical parameter values.
func TestEveryRouteCanonicalForms(t *testing.T) {
	for _, r := range All() {
		vals := sampleValues(r)
		path, err := r.Fill(vals)
		if err != nil {
			t.Fatal(err)
		}
		last := strings.LastIndexByte(path, '/')
		forms := map[string]string{
			"trailing slash": path + "/",
			"doubled slash":  strings.Replace(path, "/", "//", 2),
			// The first letter of the path, encoded (a literal segment);
			// and the last character (a literal or a parameter).
			"encoded literal": "/%" + strings.ToLower(hex(path[1])) + path[2:],
			"encoded last":    path[:len(path)-1] + "%" + hex(path[len(path)-1]),
			"dot segments":    path[:last] + "/./x/.." + path[last:],
		}
		for name, p := range forms {
			got, params, ok := Match(r.Method, p)
			if !ok || got.Template != r.Template || !maps.Equal(params, vals) {
				t.Errorf("%s %q (%s): matched %q %v %v, want %s", r.Method, p, name, got.Template, params, ok, r.Template)
			}
			lr, space, ok := Lookup(r.Method, p)
			if !ok || lr.Template != r.Template || space != vals[SpaceParam] {
				t.Errorf("Lookup(%s %q) (%s) = %s, space %q, %v; want space %q", r.Method, p, name, lr.Template, space, ok, vals[SpaceParam])
			}
		}
	}
}

func hex(c byte) string { return strings.ToUpper(strconv.FormatUint(uint64(c), 16)) }

func TestNearMiss(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"PUT", "/Spaces/s1/Environments/master/Entries/e1", "/spaces/:space_id/environments/:environment_id/entries/:entry_id"},
		{"DELETE", "/SPACES/s1/", "/spaces/:space_id"},
		{"PUT", "/spaces/s1/environments/master/entries/e1/PUBLISHED", "/spaces/:space_id/environments/:environment_id/entries/:entry_id/published"},
		// Parameter values keep their case: this one matches exactly.
		{"PUT", "/spaces/S1/environments/Master/entries/E1", ""},
		{"PUT", "/Spaces/s1/unknown", ""},
		{"GET", "/Spaces/s1", ""},
		{"PATCH", "/Spaces/s1/environments/master/assets/a1", ""}, // no PATCH there
		{"PUT", "", ""},
	} {
		r, ok := NearMiss(c.method, c.path)
		if ok != (c.want != "") || r.Template != c.want {
			t.Errorf("NearMiss(%s %q) = %q, %v; want %q", c.method, c.path, r.Template, ok, c.want)
		}
	}
}
