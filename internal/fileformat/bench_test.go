package fileformat

import (
	stdgzip "compress/gzip"
	"io"
	"strconv"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// BenchmarkEncode encodes a file of 100,000 generated events (genstore's
// day, held in memory so that only the encoder is timed) in each format
// into a writer that counts and drops the bytes: rows/s on the cores given
// (make bench: -cpu 1) and the file's bytes per row.
func BenchmarkEncode(b *testing.B) {
	const rows = 100_000
	events := generated(b, rows)
	for _, f := range Formats() {
		b.Run(string(f), func(b *testing.B) {
			out := &countWriter{}
			b.ReportAllocs()
			for b.Loop() {
				out.n = 0
				enc, err := NewEncoder(f, out)
				if err != nil {
					b.Fatal(err)
				}
				for i := range events {
					if err := enc.Write(&events[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(out.n)/rows, "B/row")
		})
	}
}

// BenchmarkParquetPeakHeap writes a day of 10^7 generated events, each
// path with a random entry ID, as Parquet with the row groups the export
// uses, and reports the highest live heap sampled (40 samples, each after
// a GC) above the heap before: what a day's Parquet costs in memory.
func BenchmarkParquetPeakHeap(b *testing.B) {
	const rows = 10_000_000
	for b.Loop() {
		peak, fileBytes := parquetPeakHeap(b, rows, rowGroupBytes)
		b.ReportMetric(mib(peak), "peak-live-heap-MiB")
		b.ReportMetric(float64(fileBytes)/(1<<20), "file-MiB")
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGzipChoice compresses the CSV of BenchmarkEncode's events with
// compress/gzip and klauspost/compress/gzip at their fastest and default
// levels: the measurement behind the choice of gzip (package doc).
func BenchmarkGzipChoice(b *testing.B) {
	const rows = 100_000
	csv := encode(b, CSV, generated(b, rows))
	type newWriter func(w io.Writer, level int) (io.WriteCloser, error)
	libs := []struct {
		name string
		new  newWriter
	}{
		{"compress-gzip", func(w io.Writer, l int) (io.WriteCloser, error) { return stdgzip.NewWriterLevel(w, l) }},
		{"klauspost-gzip", func(w io.Writer, l int) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, l) }},
	}
	for _, lib := range libs {
		for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression} {
			b.Run(lib.name+"/level="+strconv.Itoa(level), func(b *testing.B) {
				out := &countWriter{}
				for b.Loop() {
					out.n = 0
					zw, err := lib.new(out, level)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := zw.Write(csv); err != nil {
						b.Fatal(err)
					}
					if err := zw.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(out.n)/rows, "B/row")
			})
		}
	}
}
