// Package factory opens the log store that the configuration names: the
// one place that knows the production provider (lakestore on the S3 data
// lake, written through Firehose or directly) and picks it by its kind,
// behind logstore.Store. The lake is the only kind; the factory keeps the
// kind so that a configuration naming another one is refused, named. The
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
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/lake/firehosewriter"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// The kinds of store Open knows.
const (
	KindLake = "lake" // lakestore: the S3 data lake, compacted per org-day
)

// DefaultKind is the kind of an empty Config.Kind.
const DefaultKind = KindLake

// Kinds lists the kinds Open knows, DefaultKind first.
var Kinds = []string{KindLake}

// Config says which store to open and with what settings. It is data
// only, read from the environment by internal/app; the clients the
// providers need are given to Open apart from it.
type Config struct {
	// Kind is the provider, one of Kinds; "" is DefaultKind.
	Kind string
	// Lake is the settings of KindLake.
	Lake Lake
}

// Lake is the settings of the lake store.
type Lake struct {
	Bucket string // the lake's bucket (required)
	// Stream is the Firehose stream the store writes raw records to; ""
	// writes raw objects directly (lake/directwriter).
	Stream    string
	Retention time.Duration // 0: lakestore.DefaultRetention
}

// Clients are the SDK clients the providers use, built once by the caller
// and shared with its other components.
type Clients struct {
	S3       *s3.Client         // required by KindLake
	Firehose firehosewriter.API // required by KindLake with a Stream
}

// CheckKind returns an error unless kind is "" or one of Kinds.
func CheckKind(kind string) error {
	if kind == "" || slices.Contains(Kinds, kind) {
		return nil
	}
	return fmt.Errorf("unknown log store kind %q: want %s", kind, strings.Join(Kinds, " or "))
}

// Open returns the store of c.Kind: an unknown kind is an error. Nothing
// is called yet; the lake's bucket is first reached by a read or write.
func Open(c Config, clients Clients) (logstore.Store, error) {
	switch c.Kind {
	case "", KindLake:
		if c.Lake.Bucket == "" {
			return nil, fmt.Errorf("log store %s: no lake bucket", KindLake)
		}
		if clients.S3 == nil {
			return nil, fmt.Errorf("log store %s: no S3 client", KindLake)
		}
		b := s3obj.New(clients.S3, c.Lake.Bucket)
		s := &lakestore.Store{Lake: b, RetentionPeriod: c.Lake.Retention, Writer: &directwriter.Writer{Lake: b}}
		if c.Lake.Stream != "" {
			if clients.Firehose == nil {
				return nil, fmt.Errorf("log store %s: stream %s but no Firehose client", KindLake, c.Lake.Stream)
			}
			s.Writer = &firehosewriter.Writer{Client: clients.Firehose, Stream: c.Lake.Stream}
		}
		return s, nil
	}
	return nil, CheckKind(c.Kind)
}
