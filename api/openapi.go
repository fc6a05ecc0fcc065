// Package api is the contract of the self-service API: the OpenAPI
// document of its routes, statuses and schemas, embedded so that the API
// tests validate against the same bytes that are served to customers.
//
// It is a leaf: it imports nothing of the module, so that the handler,
// the test harness (internal/api/openapitest) and the tooling can import
// it without linking one another.
package api

import _ "embed"

// Document is openapi.yaml, the OpenAPI 3.1 document of the API.
//
//go:embed openapi.yaml
var Document []byte
