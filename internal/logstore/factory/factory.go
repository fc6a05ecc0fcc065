// Package factory opens the log store that the configuration names: the
// one place that knows every production provider (today dynamostore; an S3
// data lake next) and picks one by its kind, behind logstore.Store. The
// functions and auditctl call it through internal/app; nothing else needs
// to know which provider runs.
//
// It may import logstore and the provider packages, and nothing that uses
// the log store (app, ingest, export, the functions): they import it, or
// logstore only. No provider imports it.
package factory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
)

// The kinds of store Open knows.
const (
	KindDynamoDB = "dynamodb" // dynamostore: one DynamoDB table, org-days sharded
)

// DefaultKind is the kind of an empty Config.Kind.
const DefaultKind = KindDynamoDB

// Kinds lists the kinds Open knows, DefaultKind first.
var Kinds = []string{KindDynamoDB}

// Config says which store to open and with what settings. It is data
// only, read from the environment by internal/app; the clients the
// providers need are given to Open apart from it.
type Config struct {
	// Kind is the provider, one of Kinds; "" is DefaultKind.
	Kind string
	// DynamoDB is the settings of KindDynamoDB; other kinds ignore them.
	DynamoDB DynamoDB
}

// DynamoDB is the settings of the DynamoDB store.
type DynamoDB struct {
	// Table is the log store's table.
	Table string
	// Options are the store's own (Shards, ShardsName, Retention,
	// WriteConcurrency): zero fields take dynamostore's defaults.
	Options dynamostore.Options
}

// Clients are the SDK clients the providers use, built once by the caller
// and shared with its other components.
type Clients struct {
	DynamoDB dynamostore.API // required by KindDynamoDB
}

// CheckKind returns an error unless kind is "" or one of Kinds.
func CheckKind(kind string) error {
	if kind == "" || slices.Contains(Kinds, kind) {
		return nil
	}
	return fmt.Errorf("unknown log store kind %q: want %s", kind, strings.Join(Kinds, " or "))
}

// Open returns the store of c.Kind: an unknown kind is an error. Nothing
// is called yet; a store checks its table on its first read or write.
func Open(c Config, clients Clients) (logstore.Store, error) {
	switch c.Kind {
	case "", KindDynamoDB:
		if clients.DynamoDB == nil {
			return nil, fmt.Errorf("log store %s: no DynamoDB client", KindDynamoDB)
		}
		return dynamostore.NewWithOptions(clients.DynamoDB, c.DynamoDB.Table, c.DynamoDB.Options), nil
	}
	return nil, CheckKind(c.Kind)
}
