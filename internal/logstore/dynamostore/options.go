package dynamostore

import "time"

// Options are the settings of a Store, and the defaults of those a caller
// leaves zero. They are the DynamoDB store's own: the shard count means
// nothing to another store, and the retention is the TTL this store sets.
type Options struct {
	// Shards is how many partitions an org-day is spread over, 1 to
	// MaxShards (DefaultShards). It is a property of the table: the first
	// write records it in the table, and a Store with another value
	// refuses to read or write (*ShardsMismatchError; see the package doc).
	Shards int
	// ShardsName is what the mismatch error calls the Shards setting
	// (config.EnvShards for the functions and auditctl); "Shards" if empty.
	ShardsName string
	// Retention is how long after its request time DynamoDB TTL may
	// delete an event (DefaultRetention).
	Retention time.Duration
	// WriteConcurrency bounds the BatchWriteItem calls of one Write that
	// run at the same time (DefaultWriteConcurrency).
	WriteConcurrency int
}

// The defaults of Options.
const (
	DefaultShards           = 16
	DefaultRetention        = 35 * 24 * time.Hour
	DefaultWriteConcurrency = 4
)

// withDefaults is o with each zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.WriteConcurrency == 0 {
		o.WriteConcurrency = DefaultWriteConcurrency
	}
	return o
}
