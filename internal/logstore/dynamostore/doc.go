// Package dynamostore is the log store on Amazon DynamoDB: ingest writes
// events with Store.Write and the daily export streams one org-day with
// Store.ReadDay, in (RequestTime, RequestID) order, without ever holding
// the day in memory. Its settings, and their defaults, are Options: the
// shard count and the retention are this store's, defined here only.
//
// It imports audit, ddbtable and the AWS SDK only: not logstore (it
// implements its interfaces as they are), not factory, which opens it,
// and nothing that uses the log store.
//
// # Table
//
// One table, its name given by the caller, on-demand billing:
//
//	partition key  pk (S)  "<org>#<YYYY-MM-DD>#<shard, 2 digits>"   e.g. "acme#2026-11-24#07"
//	sort key       sk (S)  the request ID
//	LSI by_time    pk (S) + ts (S), projection ALL
//	               ts = "<request_time as 13-digit zero-padded Unix ms>#<request ID>"
//	TTL            ttl (N) Unix seconds = request_time + Options.Retention (35 days by default)
//
// The table key is the identity: writing a request ID again overwrites the
// item, it never adds a second row, and no read-before-write is needed. The
// day is part of the key, so an event whose request time moved to another
// day between two writes would be stored in both days, which the store
// cannot detect: writers must keep a request's time once it is set.
//
// The local secondary index orders a partition by time: ts compares byte by
// byte (as DynamoDB sorts strings) exactly like (RequestTime, RequestID),
// because the time has a fixed width. Thirteen digits reach 2286-11-20;
// Write rejects later times rather than store them out of order. An LSI
// must be defined when the table is created, allows consistent reads, and
// limits one partition key's item collection to 10 GB, which at 1/Shards of
// an org-day is far beyond any org.
//
// # Shards
//
// An org-day is spread over Shards partitions (16 by default): shard =
// FNV-1a-32(request ID) mod Shards. One partition serves at most 1,000 WCU
// and 3,000 RCU, and every write also writes the LSI in the same partition;
// with 16 shards a busy org's day is written and read with 16 times that.
// ReadDay queries all shards concurrently and merges them.
//
// The reader must use the same Shards as the writer: a reader with fewer
// shards would silently miss the events in the others, one with more would
// find them in the wrong partitions. Shards is therefore a property of the
// table, and the table records it: the first Write of a table creates the
// shard-count record (pk "#meta", sk "shards", shards N), with a condition
// that lets only one first writer win; every Write and ReadDay compares
// Shards with the record before it writes or reads anything, and refuses a
// difference with a *ShardsMismatchError naming the setting, its value and
// the table's. A record on each event could not do this: a reader with 8
// shards on a day whose events all lie in shards 8 to 15 of 16 finds no
// event to read a count from. A Store remembers a match (the record is
// never changed); a reader of a table without the record goes on, as no
// recording writer has written, and looks again at its next read. Never
// change the record of a table that holds data.
//
// # Attributes
//
// Attribute names are short because every byte of a name is paid for in
// every item, on write (WCU), on read (RCU) and in the 1 MB query page.
// Empty strings and a zero content length are not stored at all. The org
// is in pk; ts holds the request time and, again, the request ID, so the
// reader asks only for ts and the event's fields (a ProjectionExpression
// without pk, sk and ttl: less to transfer and for the SDK to decode).
//
//	name  type  field
//	pk    S     org, day and shard (partition key)
//	sk    S     request_id (sort key)
//	ts    S     request_time and request_id (LSI sort key)
//	ttl   N     expiry for DynamoDB TTL, Unix seconds
//	m     S     request_method
//	p     S     request_path
//	q     S     request_query
//	st    N     response_status
//	cl    N     content_length
//	sp    S     space
//	r     S     route
//	rf    S     referrer
//	a     S     actor_id
//
// TTL deletes expired items within days, not at once, and until then reads
// still return them; the export reads yesterday, far from expiry.
//
// # Writing
//
// Write validates every event (Normalize, then Validate) before it writes
// anything, collapses events with the same key (the last wins, as
// DynamoDB rejects a batch that names an item twice and concurrent chunks
// would otherwise race), and writes BatchWriteItem chunks of 25 with
// bounded concurrency. Unprocessed items are retried with exponential
// backoff and full jitter, a bounded number of times; the SDK's retryer
// handles throttled and failed requests. A failed Write may have stored
// some of the events; writing them again is safe.
//
// # Reading
//
// ReadDay runs one goroutine per shard that pages through the LSI with
// dynamodb.NewQueryPaginator (consistent reads, DynamoDB's own 1 MB pages),
// decodes each page straight from the attribute values (no reflection: it
// is the hot path of the export) and hands it over a channel that holds one
// page. A k-way merge on a small heap keyed by (time, request ID) calls fn
// in order, and hands each finished page back to its shard to be decoded
// into again. Memory is O(Shards × page): each shard has at most the page
// being merged, one in the channel, one being fetched and one spent page
// waiting to be reused. The first shard error ends the read with that
// error, naming org, day and shard; ReadDay cancels and waits for every
// goroutine before it returns.
//
// The merge cannot emit an event before every shard has delivered its
// first page, and fn runs on one goroutine; the shards' fetching and
// decoding overlap with it. bench_test.go compares ReadDay with a bare
// Query loop, on moto and on a replay of moto's answers.
package dynamostore
