package factory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
)

// TestOpen: every kind in Kinds opens, "" is the default, and an unknown
// kind is an error naming it and the known ones.
func TestOpen(t *testing.T) {
	var db struct{ dynamostore.API } // never called: Open makes no request
	clients := factory.Clients{DynamoDB: db}
	for _, kind := range append([]string{""}, factory.Kinds...) {
		s, err := factory.Open(factory.Config{Kind: kind, DynamoDB: factory.DynamoDB{Table: "t"}}, clients)
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
