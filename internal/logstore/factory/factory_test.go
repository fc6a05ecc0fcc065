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
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
)

// TestOpen: every kind in Kinds opens, "" is the default, and an unknown
// kind is an error naming it and the known ones.
func TestOpen(t *testing.T) {
	var db struct{ dynamostore.API } // never called: Open makes no request
	clients := factory.Clients{DynamoDB: db, S3: s3.New(s3.Options{})}
	for _, kind := range append([]string{""}, factory.Kinds...) {
		s, err := factory.Open(factory.Config{Kind: kind, DynamoDB: factory.DynamoDB{Table: "t"}, Lake: factory.Lake{Bucket: "lake"}}, clients)
		if err != nil || s == nil {
			t.Errorf("Open(kind %q) = %v, %v", kind, s, err)
		}
		if err := factory.CheckKind(kind); err != nil {
			t.Errorf("CheckKind(%q) = %v", kind, err)
		}
	}
	if factory.Kinds[0] != factory.DefaultKind || factory.DefaultKind != factory.KindDynamoDB {
		t.Errorf("Kinds %q, default %q", factory.Kinds, factory.DefaultKind)
	}
	for _, kind := range []string{"s3", "DynamoDB", " dynamodb"} {
		_, err := factory.Open(factory.Config{Kind: kind}, clients)
		if err == nil || !strings.Contains(err.Error(), `"`+kind+`"`) || !strings.Contains(err.Error(), "dynamodb") {
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

// TestDynamoDBOptions: the options reach the store, zero ones take
// dynamostore's defaults, and the store reports its retention.
func TestDynamoDBOptions(t *testing.T) {
	var db struct{ dynamostore.API }
	open := func(o dynamostore.Options) *dynamostore.Store {
		t.Helper()
		s, err := factory.Open(factory.Config{DynamoDB: factory.DynamoDB{Table: "t", Options: o}}, factory.Clients{DynamoDB: db})
		if err != nil {
			t.Fatal(err)
		}
		return s.(*dynamostore.Store)
	}
	s := open(dynamostore.Options{})
	if s.Shards != dynamostore.DefaultShards || s.Retention() != dynamostore.DefaultRetention || s.WriteConcurrency != dynamostore.DefaultWriteConcurrency {
		t.Errorf("defaults: %+v", s.Options)
	}
	s = open(dynamostore.Options{Shards: 8, ShardsName: "AUDITLOG_SHARDS", Retention: 40 * 24 * time.Hour})
	if s.Shards != 8 || s.ShardsName != "AUDITLOG_SHARDS" || s.Retention() != 40*24*time.Hour {
		t.Errorf("set: %+v", s.Options)
	}
	if _, err := factory.Open(factory.Config{}, factory.Clients{}); err == nil {
		t.Error("Open without a DynamoDB client succeeded")
	}
}

// TestKindsAreTheConfigContracts: the kinds that internal/config knows the
// variables of (config.StoreVariable) are the factory's.
func TestKindsAreTheConfigContracts(t *testing.T) {
	if config.LogStoreDynamoDB != factory.KindDynamoDB || config.LogStoreLake != factory.KindLake {
		t.Errorf("config knows kinds %q and %q, the factory %q", config.LogStoreDynamoDB, config.LogStoreLake, factory.Kinds)
	}
	for _, kind := range append([]string{""}, factory.Kinds...) {
		if config.StoreVariable(kind) == "" {
			t.Errorf("config.StoreVariable(%q) names no variable", kind)
		}
	}
}
