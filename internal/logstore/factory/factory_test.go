package factory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/lake/firehosewriter"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
)

// TestOpen: every kind in Kinds opens, "" is the default, the lake, the
// only kind; an unknown kind (the removed DynamoDB store's among them) is
// an error naming it and the known ones.
func TestOpen(t *testing.T) {
	clients := factory.Clients{S3: s3.New(s3.Options{})} // never called: Open makes no request
	for _, kind := range append([]string{""}, factory.Kinds...) {
		s, err := factory.Open(factory.Config{Kind: kind, Lake: factory.Lake{Bucket: "lake"}}, clients)
		if err != nil || s == nil {
			t.Errorf("Open(kind %q) = %v, %v", kind, s, err)
		}
		if _, ok := s.(*lakestore.Store); !ok {
			t.Errorf("Open(kind %q) = %T, want the lake store", kind, s)
		}
		if err := factory.CheckKind(kind); err != nil {
			t.Errorf("CheckKind(%q) = %v", kind, err)
		}
	}
	if factory.Kinds[0] != factory.DefaultKind || factory.DefaultKind != factory.KindLake || len(factory.Kinds) != 1 {
		t.Errorf("Kinds %q, default %q", factory.Kinds, factory.DefaultKind)
	}
	for _, kind := range []string{"s3", "dynamodb", "Lake", " lake"} {
		_, err := factory.Open(factory.Config{Kind: kind, Lake: factory.Lake{Bucket: "lake"}}, clients)
		if err == nil || !strings.Contains(err.Error(), `"`+kind+`"`) || !strings.Contains(err.Error(), "want lake") {
			t.Errorf("Open(kind %q): %v, want an error naming the kind and the known ones", kind, err)
		}
		if err := factory.CheckKind(kind); err == nil {
			t.Errorf("CheckKind(%q) accepted it", kind)
		}
	}
}

// TestLake: the lake store reads the bucket, writes raw objects directly
// without a stream and through Firehose with one, and keeps its
// retention; what it needs missing is an error naming it.
func TestLake(t *testing.T) {
	c := factory.Clients{S3: s3.New(s3.Options{}), Firehose: firehose.New(firehose.Options{})}
	open := func(l factory.Lake, c factory.Clients) (*lakestore.Store, error) {
		s, err := factory.Open(factory.Config{Kind: factory.KindLake, Lake: l}, c)
		if err != nil {
			return nil, err
		}
		return s.(*lakestore.Store), nil
	}
	s, err := open(factory.Lake{Bucket: "lake"}, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Writer.(*directwriter.Writer); !ok || s.Retention() != lakestore.DefaultRetention {
		t.Errorf("no stream: writer %T, retention %s", s.Writer, s.Retention())
	}
	s, err = open(factory.Lake{Bucket: "lake", Stream: "raw", Retention: 40 * 24 * time.Hour}, c)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := s.Writer.(*firehosewriter.Writer); !ok || w.Stream != "raw" || s.Retention() != 40*24*time.Hour {
		t.Errorf("stream raw: writer %+v, retention %s", s.Writer, s.Retention())
	}
	for _, bad := range []struct {
		l    factory.Lake
		c    factory.Clients
		want string
	}{
		{factory.Lake{}, c, "no lake bucket"},
		{factory.Lake{Bucket: "lake"}, factory.Clients{}, "no S3 client"},
		{factory.Lake{Bucket: "lake", Stream: "raw"}, factory.Clients{S3: c.S3}, "no Firehose client"},
	} {
		if _, err := open(bad.l, bad.c); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.l, err, bad.want)
		}
	}
}

// TestKindsAreTheConfigContracts: the kinds that internal/config knows the
// variables of (config.StoreVariable) are the factory's.
func TestKindsAreTheConfigContracts(t *testing.T) {
	if config.LogStoreLake != factory.KindLake {
		t.Errorf("config knows kind %q, the factory %q", config.LogStoreLake, factory.Kinds)
	}
	for _, kind := range append([]string{""}, factory.Kinds...) {
		if config.StoreVariable(kind) == "" {
			t.Errorf("config.StoreVariable(%q) names no variable", kind)
		}
	}
}
