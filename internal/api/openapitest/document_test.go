package openapitest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// operations are the API's routes, by operationId (api-design's table).
var operations = map[string]string{
	"getKeys":           "GET /v1/keys",
	"getDestination":    "GET /v1/organizations/{org_id}/destination",
	"putDestination":    "PUT /v1/organizations/{org_id}/destination",
	"deleteDestination": "DELETE /v1/organizations/{org_id}/destination",
	"verifyDestination": "POST /v1/organizations/{org_id}/destination/verify",
	"pauseDestination":  "POST /v1/organizations/{org_id}/destination/pause",
	"resumeDestination": "POST /v1/organizations/{org_id}/destination/resume",
	"listDeliveries":    "GET /v1/organizations/{org_id}/deliveries",
	"redeliver":         "POST /v1/organizations/{org_id}/deliveries/redeliver",
}

// eachOperation calls f with every operation of the document.
func eachOperation(m *v3.Document, f func(method, path string, op *v3.Operation)) {
	for p := m.Paths.PathItems.First(); p != nil; p = p.Next() {
		for o := p.Value().GetOperations().First(); o != nil; o = o.Next() {
			f(strings.ToUpper(o.Key()), p.Key(), o.Value())
		}
	}
}

// TestDocumentOperations: the document parses, validates against the
// OpenAPI schema, and has the nine operations on their routes, each
// described, secured as the design says.
func TestDocumentOperations(t *testing.T) {
	c := New(t)
	got := c.Operations()
	if len(got) != len(operations) {
		t.Errorf("operations %v, want the %d of the design", got, len(operations))
	}
	eachOperation(c.c.model, func(method, path string, op *v3.Operation) {
		route, ok := operations[op.OperationId]
		if !ok {
			t.Errorf("%s %s: operationId %q is not one of the design's", method, path, op.OperationId)
			return
		}
		if route != method+" "+path {
			t.Errorf("%s: %s %s, want %s", op.OperationId, method, path, route)
		}
		if len(strings.Fields(op.Description)) < 10 {
			t.Errorf("%s: no description a customer could go by", op.OperationId)
		}
		var schemes []string
		for _, req := range op.Security {
			for r := req.Requirements.First(); r != nil; r = r.Next() {
				schemes = append(schemes, r.Key())
			}
		}
		public := path == "/v1/keys"
		switch {
		case public && (op.Security == nil || len(schemes) > 0):
			t.Errorf("%s: security %v, want none (security: [])", op.OperationId, schemes)
		case !public && !slices.Equal(schemes, []string{"bearerAuth"}):
			t.Errorf("%s: security %v, want bearerAuth", op.OperationId, schemes)
		}
	})
	bearer := c.c.model.Components.SecuritySchemes.GetOrZero("bearerAuth")
	if bearer == nil || bearer.Type != "http" || bearer.Scheme != "bearer" || bearer.BearerFormat != "JWT" {
		t.Errorf("bearerAuth %+v, want http bearer JWT", bearer)
	}
}

// TestDocumentResponses: 204s have no content, every other response has;
// every error is a Problem as application/problem+json, except 429,
// which the gateway answers; every response of ours names X-Request-Id.
func TestDocumentResponses(t *testing.T) {
	c := New(t)
	problem := c.c.model.Components.Schemas.GetOrZero("Problem")
	eachOperation(c.c.model, func(method, path string, op *v3.Operation) {
		for r := op.Responses.Codes.First(); r != nil; r = r.Next() {
			code, resp := r.Key(), r.Value()
			where := fmt.Sprintf("%s %s", op.OperationId, code)
			status, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: not a status", where)
				continue
			}
			n := 0
			if resp.Content != nil {
				n = resp.Content.Len()
			}
			switch {
			case status == 204 && n > 0:
				t.Errorf("%s: a 204 has content", where)
			case status != 204 && n == 0:
				t.Errorf("%s: no content", where)
			}
			if status == 429 {
				continue
			}
			if resp.Headers == nil || resp.Headers.GetOrZero("X-Request-Id") == nil || !resp.Headers.GetOrZero("X-Request-Id").Required {
				t.Errorf("%s: X-Request-Id is not a required header", where)
			}
			if status < 400 {
				continue
			}
			mt := resp.Content.GetOrZero("application/problem+json")
			if n != 1 || mt == nil {
				t.Errorf("%s: content is not application/problem+json alone", where)
				continue
			}
			// A $ref is resolved to the same schema proxy's target.
			if mt.Schema.GetReference() != "#/components/schemas/Problem" && mt.Schema.Schema() != problem.Schema() {
				t.Errorf("%s: schema is not Problem", where)
			}
		}
		if op.Responses.Default != nil {
			t.Errorf("%s: a default response hides undocumented statuses", op.OperationId)
		}
	})
	if ok := c.c.model.Components.Responses.GetOrZero("Unauthorized").Headers.GetOrZero("WWW-Authenticate"); ok == nil || !ok.Required {
		t.Error("401 does not require WWW-Authenticate")
	}
}

// decoder is a YAML node (the document's examples).
type decoder interface{ Decode(any) error }

// TestDocumentExamples: every example of the document validates against
// its schema, formats included: an example a customer copies works.
func TestDocumentExamples(t *testing.T) {
	c := New(t)
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	count := 0
	check := func(where string, proxy *base.SchemaProxy, example decoder) {
		t.Helper()
		if proxy == nil {
			t.Errorf("%s: an example without a schema", where)
			return
		}
		schema, err := proxy.BuildSchema()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var v any
		if err := example.Decode(&v); err != nil {
			t.Fatalf("%s: decode the example: %v", where, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		count++
		if ok, errs := sv.ValidateSchemaBytes(schema, b); !ok {
			t.Errorf("%s: the example is invalid:\n%s", where, describe(errs, ""))
		}
	}
	checkContent := func(where string, mt *v3.MediaType) {
		if mt.Example != nil {
			check(where, mt.Schema, mt.Example)
		}
		if mt.Examples != nil {
			for e := mt.Examples.First(); e != nil; e = e.Next() {
				check(where+" "+e.Key(), mt.Schema, e.Value().Value)
			}
		}
	}
	eachOperation(c.c.model, func(method, path string, op *v3.Operation) {
		if op.RequestBody != nil {
			for m := op.RequestBody.Content.First(); m != nil; m = m.Next() {
				checkContent(op.OperationId+" request", m.Value())
			}
		}
		for r := op.Responses.Codes.First(); r != nil; r = r.Next() {
			if r.Value().Content == nil {
				continue
			}
			for m := r.Value().Content.First(); m != nil; m = m.Next() {
				checkContent(op.OperationId+" "+r.Key(), m.Value())
			}
		}
		for _, p := range op.Parameters {
			if p.Example != nil {
				check(op.OperationId+" "+p.Name, p.Schema, p.Example)
			}
		}
	})
	for p := c.c.model.Components.Parameters.First(); p != nil; p = p.Next() {
		if p.Value().Example != nil {
			check("parameter "+p.Key(), p.Value().Schema, p.Value().Example)
		}
	}
	for r := c.c.model.Components.Responses.First(); r != nil; r = r.Next() {
		if r.Value().Content == nil {
			continue
		}
		for m := r.Value().Content.First(); m != nil; m = m.Next() {
			checkContent("response "+r.Key(), m.Value())
		}
	}
	// Schemas' own examples, down their properties.
	var walk func(where string, proxy *base.SchemaProxy, depth int)
	walk = func(where string, proxy *base.SchemaProxy, depth int) {
		if proxy == nil || depth > 8 {
			return
		}
		schema, err := proxy.BuildSchema()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, e := range schema.Examples {
			check(where, proxy, e)
		}
		if schema.Properties != nil {
			for p := schema.Properties.First(); p != nil; p = p.Next() {
				walk(where+"."+p.Key(), p.Value(), depth+1)
			}
		}
		if schema.Items != nil && schema.Items.IsA() {
			walk(where+"[]", schema.Items.A, depth+1)
		}
	}
	for s := c.c.model.Components.Schemas.First(); s != nil; s = s.Next() {
		walk(s.Key(), s.Value(), 0)
	}
	if count < 10 {
		t.Errorf("%d examples checked; the walk is missing some", count)
	}
}
