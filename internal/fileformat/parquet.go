package fileformat

import (
	"io"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/contentful/auditlogs/internal/audit"
)

// The Parquet file is written with github.com/parquet-go/parquet-go: it is
// maintained (the continuation of segmentio/parquet-go, released monthly),
// pure Go, and writes a typed struct a batch at a time without reflection
// per row; its writer keeps one row group in memory and lets it be closed
// at any size (Flush). The alternatives: apache/arrow-go's writer goes
// through Arrow record batches (a second copy of every batch, and a large
// dependency for the production binary; the tests use it as the
// independent reader), and xitongsys/parquet-go is unmaintained.
//
// The schema, one required column per CSV column, in header order:
//
//	request_time     INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true)
//	response_status  INT32 (an HTTP status, 100 to 599: audit.Validate)
//	content_length   INT64 (bytes: may pass 2^31)
//	the other eight  BYTE_ARRAY STRING (UTF-8, invalid bytes replaced)
//
// No column is nullable: an empty value is the empty string, as in the
// CSV, which cannot tell the two apart either.
//
// Encodings are the ones every reader reads: PLAIN, and RLE_DICTIONARY
// for the strings that repeat, all but request_path, whose values are
// mostly distinct (a dictionary there made the generated file 14% larger
// and the encoder allocate four times as much). A column whose dictionary
// passes dictionaryBytes goes on in PLAIN for the rest of the row group,
// as parquet-mr and Arrow do (the writer looks after each page, 65,536
// values, so a dictionary may pass it by that much; the row group's bound
// holds it too). The DELTA encodings made the generated file 20%
// (request_time) and 16% (request_path) smaller, but older readers that
// compliance teams may still run do not read them (Spark's vectorized
// reader before 3.3, for one), and the file is small already: 8 bytes a
// row against the CSV's 294. Data pages are version 1 for the same reason.
// Every column is zstd-compressed (zstdCodec says at which level). Rows
// stay in the order written.
//
// A row group ends once its estimated size (pages written plus values
// buffered, uncompressed) reaches rowGroupBytes, so memory stays flat
// however many rows the day has.
type parquetRow struct {
	RequestTime    int64  `parquet:"request_time,timestamp(millisecond:utc)"`
	RequestMethod  string `parquet:"request_method,dict"`
	RequestPath    string `parquet:"request_path,plain"` // no dictionary: see above
	RequestQuery   string `parquet:"request_query,dict"`
	ResponseStatus int32  `parquet:"response_status"`
	ContentLength  int64  `parquet:"content_length"`
	Space          string `parquet:"space,dict"`
	Route          string `parquet:"route,dict"`
	Referrer       string `parquet:"referrer,dict"`
	ActorID        string `parquet:"actor_id,dict"`
}

const (
	// rowGroupBytes bounds a row group, as the writer estimates it.
	rowGroupBytes = 64 << 20
	// batchRows rows are handed to the writer at a time: it writes slices
	// and costs less per row the longer they are.
	batchRows = 1024
	// dictionaryBytes is where a column gives up its dictionary.
	dictionaryBytes = 1 << 20
)

type parquetEncoder struct {
	state
	w     *parquet.GenericWriter[parquetRow]
	batch []parquetRow
	// A row group ends when the writer's Size passes groupEnd.
	groupBytes, groupEnd int64
}

func newParquet(w io.Writer, groupBytes int64) (*parquetEncoder, error) {
	return &parquetEncoder{
		state: state{format: Parquet},
		w: parquet.NewGenericWriter[parquetRow](w,
			parquet.Compression(newZstdCodec()),
			parquet.DataPageVersion(1),
			parquet.DictionaryMaxBytes(dictionaryBytes),
			parquet.KeyValueMetadata("schema_version", strconv.Itoa(SchemaVersion)),
		),
		batch:      make([]parquetRow, 0, batchRows),
		groupBytes: groupBytes,
		groupEnd:   groupBytes,
	}, nil
}

func (e *parquetEncoder) Write(ev *audit.Event) error {
	if err := e.check(); err != nil {
		return err
	}
	// The strings are kept, not copied, until the batch is written: Go
	// strings do not change, even when the store reuses the Event.
	e.batch = append(e.batch, parquetRow{
		RequestTime:    ev.RequestTime.UnixMilli(),
		RequestMethod:  validUTF8(ev.RequestMethod),
		RequestPath:    validUTF8(ev.RequestPath),
		RequestQuery:   validUTF8(ev.RequestQuery),
		ResponseStatus: int32(ev.ResponseStatus),
		ContentLength:  ev.ContentLength,
		Space:          validUTF8(ev.Space),
		Route:          validUTF8(ev.Route),
		Referrer:       validUTF8(ev.Referrer),
		ActorID:        validUTF8(ev.ActorID),
	})
	if len(e.batch) < batchRows {
		return nil
	}
	return e.writeBatch()
}

// writeBatch hands the batch to the writer and ends the row group if it
// has grown to its bound.
func (e *parquetEncoder) writeBatch() error {
	if _, err := e.w.Write(e.batch); err != nil {
		return e.fail(err)
	}
	clear(e.batch) // let the strings go
	e.batch = e.batch[:0]
	if e.w.Size() < e.groupEnd {
		return nil
	}
	if err := e.w.Flush(); err != nil {
		return e.fail(err)
	}
	e.groupEnd = e.w.Size() + e.groupBytes
	return nil
}

func (e *parquetEncoder) Close() error {
	if !e.closing() {
		return e.err
	}
	if len(e.batch) > 0 {
		if err := e.writeBatch(); err != nil {
			return err
		}
	}
	return e.fail(e.w.Close())
}

// zstdWindow is the zstd window of the Parquet pages: a page is compressed
// on its own and is at most about PageBufferSize (256 KiB) of values, a
// dictionary page at most dictionaryBytes, so a larger window finds
// nothing more.
const zstdWindow = dictionaryBytes

// zstdCodec is zstd for Parquet pages at zstd's fastest level (about
// zstd -1) with a window of zstdWindow. The fastest level wrote 1.4 times
// the rows a second of the default level (zstd -3) for a file 0.5% to
// 1.6% larger (BenchmarkEncode/parquet and TestParquetHeapBounded's
// files). parquet-go's own codec (compress/zstd) takes the library's
// default window of 8 MiB, for which each encoder allocates 16 MiB of
// history, and keeps its encoders in a pool that every garbage collection
// empties: measured, that was two thirds of the live heap while writing
// (32 of 49 MiB) and an allocation of 16 MiB after every GC. Each file has
// its own codec, so deliveries never wait for each other's encoder.
type zstdCodec struct {
	enc *zstd.Encoder

	decOnce sync.Once // decoding is for the library's readers, not the export
	dec     *zstd.Decoder
	decErr  error
}

func newZstdCodec() *zstdCodec {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false), // as parquet-go's own codec: a page is one frame, read whole
	)
	if err != nil {
		panic(err) // the options are constants
	}
	return &zstdCodec{enc: enc}
}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	c.decOnce.Do(func() { c.dec, c.decErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)) })
	if c.decErr != nil {
		return dst[:0], c.decErr
	}
	return c.dec.DecodeAll(src, dst[:0])
}
