package fileformat

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
)

// checkParquetMetadata checks, with Arrow's reader, the schema (names,
// order, physical and logical types, all required), the zstd codec of
// every column chunk, the row count and the schema version, and returns
// the metadata.
func checkParquetMetadata(t *testing.T, data []byte, rows int64) *file.Reader {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow: open: %v", err)
	}
	t.Cleanup(func() { pf.Close() })
	md := pf.MetaData()
	if md.NumColumns() != len(columns) {
		t.Fatalf("columns = %d, want %d", md.NumColumns(), len(columns))
	}
	for i, name := range columns {
		c := md.Schema.Column(i)
		if c.Name() != name {
			t.Errorf("column %d = %s, want %s", i, c.Name(), name)
		}
		if c.MaxDefinitionLevel() != 0 || c.MaxRepetitionLevel() != 0 {
			t.Errorf("%s is optional or repeated, want required", name)
		}
		switch name {
		case "request_time":
			ts, ok := c.LogicalType().(schema.TimestampLogicalType)
			if c.PhysicalType() != parquet.Types.Int64 || !ok || ts.TimeUnit() != schema.TimeUnitMillis || !ts.IsAdjustedToUTC() {
				t.Errorf("%s = %s %s, want INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true)", name, c.PhysicalType(), c.LogicalType())
			}
		case "response_status":
			if c.PhysicalType() != parquet.Types.Int32 || !isPlainInt(c.LogicalType(), 32) {
				t.Errorf("%s = %s %s, want INT32, signed", name, c.PhysicalType(), c.LogicalType())
			}
		case "content_length":
			if c.PhysicalType() != parquet.Types.Int64 || !isPlainInt(c.LogicalType(), 64) {
				t.Errorf("%s = %s %s, want INT64, signed", name, c.PhysicalType(), c.LogicalType())
			}
		default:
			if _, ok := c.LogicalType().(schema.StringLogicalType); c.PhysicalType() != parquet.Types.ByteArray || !ok {
				t.Errorf("%s = %s %s, want BYTE_ARRAY STRING", name, c.PhysicalType(), c.LogicalType())
			}
		}
	}
	if pf.NumRows() != rows {
		t.Errorf("rows = %d, want %d", pf.NumRows(), rows)
	}
	var sum int64
	for g := 0; g < md.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		sum += rg.NumRows()
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Zstd {
				t.Errorf("row group %d column %s is %s, want ZSTD", g, columns[c], cc.Compression())
			}
		}
	}
	if sum != rows {
		t.Errorf("row groups hold %d rows, want %d", sum, rows)
	}
	if v := md.KeyValueMetadata().FindValue("schema_version"); v == nil || *v != strconv.Itoa(SchemaVersion) {
		t.Errorf("schema_version = %v, want %d", v, SchemaVersion)
	}
	return pf
}

// isPlainInt tells whether lt leaves the physical integer type as it is
// (no annotation) or annotates it as a signed integer of that width.
func isPlainInt(lt schema.LogicalType, bits int8) bool {
	switch lt := lt.(type) {
	case schema.NoLogicalType:
		return true
	case schema.IntLogicalType:
		return lt.IsSigned() && lt.BitWidth() == bits
	}
	return false
}

func TestParquetMetadata(t *testing.T) {
	events := hardEvents()
	checkParquetMetadata(t, encode(t, Parquet, events), int64(len(events)))
}

// writeParquet writes events as Parquet with row groups of groupBytes.
func writeParquet(t *testing.T, events []audit.Event, groupBytes int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := newParquet(&buf, groupBytes)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if err := enc.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readableEncodings are the page encodings every Parquet reader reads.
var readableEncodings = map[parquet.Encoding]bool{parquet.Encodings.Plain: true, parquet.Encodings.PlainDict: true, parquet.Encodings.RLEDict: true}

// TestParquetRowGroups writes enough rows for several row groups and
// checks that the groups are bounded, that every page is a version 1 data
// page (or a dictionary page) in an encoding every reader reads, that
// request_path has no dictionary, and that every row comes back in the
// order written.
func TestParquetRowGroups(t *testing.T) {
	events := generated(t, 60000)
	hard := hardEvents()
	for i := 7; i < len(events); i += 1000 {
		events[i] = hard[i/1000%len(hard)] // hard values across the groups
		events[i].RequestTime = events[i-1].RequestTime
	}
	const bound = 1 << 20
	data := writeParquet(t, events, bound)
	pf := checkParquetMetadata(t, data, int64(len(events)))
	md := pf.MetaData()
	if md.NumRowGroups() < 3 {
		t.Fatalf("%d row groups in %d bytes, want several of at most about %d", md.NumRowGroups(), len(data), bound)
	}
	for g := 0; g < md.NumRowGroups(); g++ {
		if size := md.RowGroup(g).TotalCompressedSize(); size > bound {
			t.Errorf("row group %d is %d bytes, bound %d", g, size, bound)
		}
		for c := range columns {
			enc := pageEncodings(t, pf, g, c)
			for e := range enc {
				if !readableEncodings[e] {
					t.Errorf("row group %d column %s has pages in %s", g, columns[c], e)
				}
			}
			if columns[c] == "request_path" && (enc[parquet.Encodings.RLEDict] > 0 || enc[parquet.Encodings.Plain] == 0) {
				t.Errorf("row group %d: request_path pages are %v, want PLAIN only", g, enc)
			}
		}
	}
	compareRows(t, Parquet, readParquet(t, data), events)
}

// TestParquetDictionaryFallback gives each row a query of its own, so that
// the column's dictionary passes dictionaryBytes (the writer looks after
// each page, 65,536 dictionary indexes) and the column goes on in PLAIN
// within the row group; every value must still come back.
func TestParquetDictionaryFallback(t *testing.T) {
	events := generated(t, 150000)
	for i := range events {
		events[i].RequestQuery += "&n=" + strconv.Itoa(i) + "&pad=" + strings.Repeat("x", i%17) + "é,\\"
	}
	data := writeParquet(t, events, rowGroupBytes)
	pf := checkParquetMetadata(t, data, int64(len(events)))
	if pf.NumRowGroups() != 1 {
		t.Fatalf("%d row groups, want one", pf.NumRowGroups())
	}
	enc := pageEncodings(t, pf, 0, 3) // request_query
	if enc[parquet.Encodings.RLEDict] == 0 || enc[parquet.Encodings.Plain] == 0 || len(enc) != 2 {
		t.Fatalf("request_query pages are %v, want dictionary pages, then PLAIN", enc)
	}
	compareRows(t, Parquet, readParquet(t, data), events)
}

// pageEncodings counts the data pages of a column chunk by encoding, read
// with Arrow's page reader, and fails on pages other than version 1 data
// pages and dictionary pages.
func pageEncodings(t *testing.T, pf *file.Reader, group, col int) map[parquet.Encoding]int {
	t.Helper()
	pr, err := pf.RowGroup(group).GetColumnPageReader(col)
	if err != nil {
		t.Fatal(err)
	}
	n := map[parquet.Encoding]int{}
	for pr.Next() {
		p := pr.Page()
		switch p.Type() {
		case file.PageTypeDataPage:
			n[parquet.Encoding(p.Encoding())]++
		case file.PageTypeDictionaryPage:
			if e := parquet.Encoding(p.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
				t.Errorf("dictionary page of %s in %s", columns[col], e)
			}
		default:
			t.Errorf("column %s has a page of type %v", columns[col], p.Type())
		}
	}
	if err := pr.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestParquetHeapBounded writes 2*10^5 and then 10^6 generated rows to
// io.Discard with row groups of at most 2 MiB, sampling the live heap: its
// peak must not grow with the rows (a writer that held the file would
// show the megabytes between the two files) and must stay within a few
// times the row group.
func TestParquetHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1.2*10^6 rows")
	}
	const bound = 2 << 20
	smallPeak, smallFile := parquetPeakHeap(t, 200_000, bound)
	peak, fileBytes := parquetPeakHeap(t, 1_000_000, bound)
	t.Logf("live heap at most %.1f MiB above the start for %.1f MB of Parquet, %.1f MiB for %.1f MB",
		mib(smallPeak), float64(smallFile)/1e6, mib(peak), float64(fileBytes)/1e6)
	const slack = 4 << 20 // where in a row group the samples fall, GC timing
	if fileBytes-smallFile < 3*slack {
		t.Fatalf("the files differ by %d bytes: too little to tell a bounded heap from one that holds the file", fileBytes-smallFile)
	}
	if peak > smallPeak+slack {
		t.Errorf("live heap peak grew from %.1f to %.1f MiB with the rows: it holds more than a row group", mib(smallPeak), mib(peak))
	}
	// The row group, the columns' dictionaries and page buffers, the zstd
	// encoder: measured about 8 MiB with this bound.
	if limit := int64(2*bound + 8<<20); peak > limit {
		t.Errorf("live heap peak %.1f MiB above the start, want at most %.1f", mib(peak), mib(limit))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// parquetPeakHeap writes rows generated events as Parquet to a counter
// and returns the highest live heap sampled above the heap before, and
// the file's size.
func parquetPeakHeap(t testing.TB, rows int64, groupBytes int64) (peak, fileBytes int64) {
	live := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	out := &countWriter{}
	base := live()
	enc, err := newParquet(out, groupBytes)
	if err != nil {
		t.Fatal(err)
	}
	day, _ := audit.ParseDay("2026-11-24")
	id, n := uint64(88172645463325252), int64(0)
	every := max(rows/40, 1)
	err = (&genstore.Store{Events: rows}).ReadDay(context.Background(), "org1", day, func(e *audit.Event) error {
		// An entry ID of random letters in each path, as real paths have,
		// keeps the file from compressing to nothing.
		id ^= id << 13
		id ^= id >> 7
		id ^= id << 17
		e.RequestPath += "/" + strconv.FormatUint(id, 36)
		if n++; n%every == 0 {
			peak = max(peak, live()-base)
		}
		return enc.Write(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return peak, out.n
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// TestZstdCodecRoundTrip: the codec's Decode (parquet-go's readers' side)
// reads what Encode wrote, and Encode appends nothing of an earlier page.
func TestZstdCodecRoundTrip(t *testing.T) {
	c := newZstdCodec()
	var buf []byte
	for _, page := range [][]byte{[]byte(strings.Repeat("request_path,", 5000)), {}, []byte("x")} {
		var err error
		buf, err = c.Encode(buf, page)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(nil, buf)
		if err != nil || !bytes.Equal(got, page) {
			t.Fatalf("round trip of %d bytes = %d bytes, %v", len(page), len(got), err)
		}
	}
}
