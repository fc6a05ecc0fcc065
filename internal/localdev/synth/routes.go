package synth

import (
	"strings"

	"github.com/contentful/auditlogs/internal/routes"
)

// Per-route generation: a route template cut into literals and
// parameters, its response mix and its weight.

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
