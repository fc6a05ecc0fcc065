// Package lake is the layout of the log store's data lake in S3: where
// the raw objects that Firehose writes land, where compaction puts one
// object per org-day, and the manifest that says, for one day and one org
// bucket, which raw objects were compacted and what each org-day object
// holds (rows, bytes, SHA-256). It also holds the two record formats:
// raw lines (the event's NDJSON form plus its org bucket, which Firehose
// partitions on) and the org-day objects (gzip-compressed NDJSON of the
// documented event format, in (request_time, request_id) order).
//
//	raw/day=2026-12-01/bucket=017/auditlogs-raw-1-2026-12-01-13-05-09-<uuid>.gz
//	lake/day=2026-12-01/bucket=017/org=acme/events.ndjson.gz
//	export/day=2026-12-01/bucket=017/org=acme/events.csv
//	lake/manifests/day=2026-12-01/bucket=017.json
//
// The export/ object is the org-day as the customer's file, byte for byte
// (the CSV of internal/csvenc, header included): the export copies it, so
// that delivering a day is one sequential read. The lake/ object is the
// record of the org-day with its request IDs, which a later compaction
// merges with late events and which Athena reads.
//
// Names are defined here once: the ingest's writer, compaction, the lake
// reader, the CDK stack (Firehose's prefix, lifecycle rules, the Glue
// table) and the local stack use them. It imports only audit.
package lake

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/contentful/auditlogs/internal/audit"
)

// Buckets is how many org buckets a day of raw objects is partitioned
// into. Firehose writes one object stream per active partition (day ×
// bucket) and allows 500 active partitions by default: 64 buckets leave
// room for two days at once (the hour around midnight) and late events of
// a third. It is a property of the lake: changing it moves orgs between
// buckets, so a lake keeps the count it was created with.
const Buckets = 64

// Prefixes and names of the layout.
const (
	RawPrefix      = "raw/"
	LakePrefix     = "lake/"
	ManifestPrefix = "lake/manifests/"
	// OrgDayObject is the name of an org-day's object inside its
	// partition: one object, rewritten in place when late events arrive,
	// so a reader (the export, Athena) never sees two versions side by
	// side.
	OrgDayObject = "events.ndjson.gz"
	// ExportPrefix holds the org-days as delivered files, apart from
	// lake/ so that the Glue table over lake/ never reads them.
	ExportPrefix = "export/"
	OrgDayFile   = "events.csv"
)

// ExportFileDays is how long a delivered file is kept (the stack's
// lifecycle rule on ExportPrefix): the daily delivery and a week of its
// retries copy it; a later delivery (a backfill) encodes the day from the
// org-day object, which the lake keeps for the whole retention. The files
// are the largest objects of the lake, about 290 bytes an event
// uncompressed against about 75 for the gzip NDJSON, so keeping them a
// week rather than the retention is most of the lake's storage bill
// (docs/cost.md).
const ExportFileDays = 8

// BucketOf is the org bucket of an org ID: FNV-1a (32 bit) of its bytes
// modulo Buckets. The same function is the one the ingest writes into
// every raw record, so Firehose's partition and compaction's agree.
func BucketOf(org string) int {
	h := uint32(2166136261)
	for i := 0; i < len(org); i++ {
		h ^= uint32(org[i])
		h *= 16777619
	}
	return int(h % Buckets)
}

// BucketName is a bucket as it appears in keys and raw records: three
// digits.
func BucketName(bucket int) string { return fmt.Sprintf("%03d", bucket) }

// ParseBucket reads a bucket name or number, 0 to Buckets-1.
func ParseBucket(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= Buckets {
		return 0, fmt.Errorf("bucket %q: must be a number from 0 to %d", s, Buckets-1)
	}
	return n, nil
}

// RawDayPrefix is where the raw objects of a day are, all buckets.
func RawDayPrefix(day audit.Day) string { return RawPrefix + "day=" + day.String() + "/" }

// RawBucketPrefix is where the raw objects of one bucket-day are.
func RawBucketPrefix(day audit.Day, bucket int) string {
	return RawDayPrefix(day) + "bucket=" + BucketName(bucket) + "/"
}

// OrgDayKey is the key of an org-day's compacted object.
func OrgDayKey(org string, day audit.Day) string {
	return LakePrefix + "day=" + day.String() + "/bucket=" + BucketName(BucketOf(org)) + "/org=" + org + "/" + OrgDayObject
}

// OrgDayFileKey is the key of an org-day's delivered file.
func OrgDayFileKey(org string, day audit.Day) string {
	return ExportPrefix + "day=" + day.String() + "/bucket=" + BucketName(BucketOf(org)) + "/org=" + org + "/" + OrgDayFile
}

// ManifestKey is the key of a bucket-day's manifest.
func ManifestKey(day audit.Day, bucket int) string {
	return ManifestPrefix + "day=" + day.String() + "/bucket=" + BucketName(bucket) + ".json"
}

// ParseRawKey reads the day and bucket of a raw object's key, and refuses
// a key outside the layout (which compaction would otherwise never see).
func ParseRawKey(key string) (audit.Day, int, error) {
	rest, ok := strings.CutPrefix(key, RawPrefix+"day=")
	if !ok {
		return audit.Day{}, 0, fmt.Errorf("raw object %q: not under %sday=", key, RawPrefix)
	}
	ds, rest, ok := strings.Cut(rest, "/bucket=")
	if !ok {
		return audit.Day{}, 0, fmt.Errorf("raw object %q: no /bucket= after the day", key)
	}
	day, err := audit.ParseDay(ds)
	if err != nil {
		return audit.Day{}, 0, fmt.Errorf("raw object %q: %w", key, err)
	}
	bs, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return audit.Day{}, 0, fmt.Errorf("raw object %q: no object name after the bucket", key)
	}
	b, err := ParseBucket(bs)
	if err != nil {
		return audit.Day{}, 0, fmt.Errorf("raw object %q: %w", key, err)
	}
	return day, b, nil
}
