package fileformat

import (
	"github.com/klauspost/compress/gzip"
	"io"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
)

// csvEncoder is csvenc's CSV, written to w or to a gzip of w.
type csvEncoder struct {
	state
	enc *csvenc.Encoder
	gz  *gzip.Writer // nil for plain CSV
}

func newCSV(w io.Writer, gzipped bool) (*csvEncoder, error) {
	e := &csvEncoder{state: state{format: CSV}}
	if gzipped {
		e.format = CSVGzip
		e.gz = newGzip(w)
		w = e.gz
	}
	e.enc = csvenc.NewEncoder(w)
	if err := e.enc.WriteHeader(); err != nil {
		return nil, e.fail(err)
	}
	return e, nil
}

// gzipLevel is the level of the .gz formats (the package doc says why).
const gzipLevel = gzip.BestSpeed

// newGzip returns a gzip writer whose header carries no name and no time:
// the same rows always make the same bytes.
func newGzip(w io.Writer) *gzip.Writer {
	gz, _ := gzip.NewWriterLevel(w, gzipLevel) // a valid level: no error
	return gz
}

func (e *csvEncoder) Write(ev *audit.Event) error {
	if err := e.check(); err != nil {
		return err
	}
	return e.fail(e.enc.Write(ev))
}

func (e *csvEncoder) Close() error {
	if !e.closing() {
		return e.err
	}
	if err := e.enc.Flush(); err != nil {
		return e.fail(err)
	}
	if e.gz != nil {
		return e.fail(e.gz.Close())
	}
	return nil
}
