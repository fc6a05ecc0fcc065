// Package export is the delivery pipeline: for one org and one UTC day it
// looks up the destination, writes the day's file in the destination's
// format (internal/fileformat) into the destination's sink, and reports
// what it delivered (rows, bytes, SHA-256, first and last event time).
//
// Nothing of the day is held in memory. A store that holds org-days as
// files already (logstore.FileReader: the lake, whose compaction writes
// the CSV) is copied: one sequential read into an io.Pipe that the sink
// reads while it uploads, its bytes and checksum (CRC32C, or SHA-256
// where the store has none) checked against what the store said before
// the stream ends. Any other file is encoded from the events into a
// spooled file on disk first, because the object's metadata (its SHA-256
// and rows) must be given when its upload starts, then uploaded from
// there. An error on either side of the pipe closes it with that error
// (CloseWithError), so a failing store aborts the upload and a failing
// upload stops the read. Sinks make nothing visible unless the stream
// ends cleanly, so a delivery is all or nothing.
//
// It reads the log store through logstore.Reader and is given the store's
// retention (Exporter.Retention): it may not import a log store provider,
// logstore/factory or internal/app, which wires it to the store.
//
// export delivers once and says whether a failure is permanent
// (IsPermanent); the lease, the ledger and the retries are the callers'
// (internal/delivery). Nor may it import internal/delivery, the ledger
// or a Lambda package.
package export

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/checksum"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/sink"
)

// Result is what one delivery wrote.
type Result struct {
	OrgID  string            `json:"org_id"`
	Day    audit.Day         `json:"day"`
	Key    string            `json:"key"`
	Format fileformat.Format `json:"format"`
	Rows   int64             `json:"rows"`
	Bytes  int64             `json:"bytes"`
	SHA256 string            `json:"sha256"`
	// First and Last are the request times of the file's first and last
	// event; zero for an empty day.
	First    time.Time     `json:"first_event_time,omitzero"`
	Last     time.Time     `json:"last_event_time,omitzero"`
	Duration time.Duration `json:"duration_ns"`
}

// Delivery is a delivered file and the sink it went to, still open, so
// that its manifest can be written beside it (internal/seal).
type Delivery struct {
	Result
	// Name is the file's name in the sink (Result.Key without the
	// destination's prefix).
	Name string
	Sink sink.Sink
}

// Metadata names of every delivered object (S3 user metadata, Azure blob
// metadata): the file's SHA-256, rows and schema version, so that a
// customer's tooling can check an object without its manifest.
const (
	MetaSHA256        = "sha256"
	MetaRows          = "rows"
	MetaSchemaVersion = "schemaversion"
)

// ErrInconsistentStore means the log store returned an event of another
// org or day, out of order, or twice: delivering it could leak or corrupt
// a customer's file, so the delivery stops. It is a bug, and transient in
// the sense that nothing the customer does can fix it.
var ErrInconsistentStore = errors.New("log store returned an inconsistent stream")

// errUploadEnded tells the producer that the sink stopped reading.
var errUploadEnded = errors.New("upload ended before the file was complete")

// errSpoolChanged means the spooled file read back differs from what was
// written to it (a failing disk): nothing is delivered.
var errSpoolChanged = errors.New("the spooled file changed on disk")

// File says how to write an org-day's file.
type File struct {
	Name   string            // the object's name in the sink
	Format fileformat.Format // "" means fileformat.Default
	// TempDir holds the spooled file of a day encoded from its events
	// ("" means os.TempDir()).
	TempDir string
}

// Deliver streams org's events of day from src as CSV into s under name:
// DeliverFile with the default format.
func Deliver(ctx context.Context, src logstore.Reader, s sink.Sink, org string, day audit.Day, name string) (Result, error) {
	return DeliverFile(ctx, src, s, org, day, File{Name: name})
}

// DeliverFile writes org's day from src into s as f says. On success the
// object is complete and Result describes it: Rows and Bytes counted,
// SHA256 of exactly the bytes the sink read, First and Last the times of
// its first and last event. The object carries its SHA-256, rows and
// schema version as metadata (MetaSHA256 and the others), which must be
// given when the upload starts, so:
//   - a CSV file the store holds already (the lake's, whose compaction
//     computed its SHA-256) is copied as it streams, its bytes and
//     checksum checked against the store's before the stream ends
//     (copyFile);
//   - any other is encoded from the events into a file under f.TempDir
//     first (spool), hashed as it is written, then uploaded from there,
//     its CRC32C checked again as it is read back. Only the spool is on
//     disk; nothing of the day is held in memory.
func DeliverFile(ctx context.Context, src logstore.Reader, s sink.Sink, org string, day audit.Day, f File) (Result, error) {
	start := time.Now()
	if f.Format == "" {
		f.Format = fileformat.Default
	}
	res := Result{OrgID: org, Day: day, Key: f.Name, Format: f.Format}
	var err error
	if fr, ok := src.(logstore.FileReader); ok && f.Format == fileformat.CSV {
		var file logstore.DayFile
		file, err = fr.OpenDayFile(ctx, org, day)
		switch {
		case err == nil:
			defer file.Body.Close()
			err = copyFile(ctx, &file, s, f, &res)
			res.Duration = time.Since(start)
			return res, err
		case !errors.Is(err, logstore.ErrNoDayFile):
			return res, fmt.Errorf("deliver org %s day %s: read log store: %w", org, day, err)
		}
	}
	err = spool(ctx, src, s, f, &res)
	res.Duration = time.Since(start)
	return res, err
}

// objectOf is the sink's Object for a file of format with its SHA-256 and rows.
func objectOf(format fileformat.Format, sha string, rows int64) sink.Object {
	return sink.Object{ContentType: format.ContentType(), ContentEncoding: format.ContentEncoding(), Metadata: map[string]string{
		MetaSHA256: sha, MetaRows: strconv.FormatInt(rows, 10), MetaSchemaVersion: strconv.Itoa(fileformat.SchemaVersion)}}
}

// upload streams what produce writes into s under name. Nothing of it is
// held in memory: produce writes into an io.Pipe that the sink reads while
// it uploads, and an error on either side closes the pipe with that error
// (CloseWithError), so a failing producer aborts the upload and a failing
// upload stops the producer. It returns the bytes the sink read, and the
// error of the side that failed, after where ("deliver org O day D").
func upload(ctx context.Context, where string, s sink.Sink, name string, obj sink.Object, produce func(w io.Writer) error) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	out := &countingWriter{w: pw}
	produced := make(chan error, 1)
	go func() {
		err := produce(out)
		if err != nil {
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		produced <- err
	}()

	upErr := s.Upload(ctx, name, pr, obj)
	// Unblock the producer if the sink returned without reading to the end,
	// and stop the store read if the upload failed.
	pr.CloseWithError(errUploadEnded)
	if upErr != nil {
		cancel()
	}
	prodErr := <-produced

	// Which failure is the cause: the producer's own, unless it only saw
	// the consequences of a failed upload (a closed pipe, our cancel).
	consequence := errors.Is(prodErr, errUploadEnded) || upErr != nil && errors.Is(prodErr, context.Canceled)
	switch {
	case prodErr != nil && !consequence:
		return out.n, fmt.Errorf("%s: %w", where, prodErr)
	case upErr != nil:
		return out.n, fmt.Errorf("%s to %s: %w", where, name, upErr)
	case prodErr != nil:
		// The sink reported success without reading the whole stream: a
		// sink bug that must never pass as a complete delivery.
		return out.n, fmt.Errorf("%s to %s: sink returned before the end of the stream: %w", where, name, prodErr)
	}
	return out.n, nil
}

// spool encodes the day into a temporary file, then uploads it.
func spool(ctx context.Context, src logstore.Reader, s sink.Sink, f File, res *Result) error {
	where := fmt.Sprintf("deliver org %s day %s", res.OrgID, res.Day)
	tmp, err := os.CreateTemp(f.TempDir, "export-*"+f.Format.Extension())
	if err != nil {
		return fmt.Errorf("%s: spool: %w", where, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	cw := checksum.NewWriter(tmp)
	bw := bufio.NewWriterSize(cw, 256<<10)
	enc, err := fileformat.NewEncoder(f.Format, bw)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := produce(ctx, src, enc, res); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("%s: spool: %w", where, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: spool: %w", where, err)
	}
	res.SHA256 = cw.SHA256()
	size, sum := cw.N(), cw.CRC32CSum()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: spool: %w", where, err)
	}
	n, err := upload(ctx, where, s, f.Name, objectOf(f.Format, res.SHA256, res.Rows), func(w io.Writer) error {
		c := checksum.NewCRC32C()
		n, err := io.CopyBuffer(io.MultiWriter(w, c), io.LimitReader(tmp, size+1), make([]byte, 1<<20))
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if n != size || c.Sum32() != sum {
			return fmt.Errorf("%w: %s has %d bytes with crc32c %08x, %d bytes with %08x were written", errSpoolChanged, tmp.Name(), n, c.Sum32(), size, sum)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Bytes = n
	return nil
}

// produce encodes the day's events into enc, checking that the store
// keeps its promises (org, day, strict order, each request once), and
// counts the rows and notes the first and last times in res.
func produce(ctx context.Context, src logstore.Reader, enc fileformat.Encoder, res *Result) error {
	org, day := res.OrgID, res.Day
	var prevTime time.Time
	var prevID string
	err := src.ReadDay(ctx, org, day, func(e *audit.Event) error {
		switch {
		case e.OrgID != org:
			return fmt.Errorf("%w: event %s belongs to org %s", ErrInconsistentStore, e.RequestID, e.OrgID)
		case !day.Contains(e.RequestTime):
			return fmt.Errorf("%w: event %s at %s is outside %s", ErrInconsistentStore, e.RequestID, e.RequestTime.Format(time.RFC3339Nano), day)
		case res.Rows > 0 && (e.RequestTime.Before(prevTime) || e.RequestTime.Equal(prevTime) && e.RequestID <= prevID):
			return fmt.Errorf("%w: event %s at %s follows %s at %s", ErrInconsistentStore, e.RequestID,
				e.RequestTime.Format(time.RFC3339Nano), prevID, prevTime.Format(time.RFC3339Nano))
		}
		if res.Rows == 0 {
			res.First = e.RequestTime
		}
		res.Last = e.RequestTime
		prevTime, prevID = e.RequestTime, e.RequestID
		res.Rows++
		return enc.Write(e)
	})
	if err != nil {
		return fmt.Errorf("read log store: %w", err)
	}
	return nil
}

// copyFile copies a day's file into s and checks, before the stream ends,
// that it is the file the store described: the same number of bytes with
// the same CRC32C, or the same SHA-256 when the store recorded no CRC32C
// (logstore.DayFile says why CRC32C suffices). A mismatch ends the stream
// with an error, so the sink makes nothing visible.
//
// The body is read ahead by a goroutine of its own, a few chunks at most,
// so that reading the store (the network, the SDK's checksum) runs beside
// checking and handing the bytes to the sink instead of taking turns with
// them: the copy then goes at about the slower of the two.
func copyFile(ctx context.Context, f *logstore.DayFile, s sink.Sink, file File, res *Result) error {
	algo, want, h := "sha256", f.SHA256, hash.Hash(sha256.New())
	if f.CRC32C != "" {
		algo, want, h = "crc32c", f.CRC32C, checksum.NewCRC32C()
	}
	where := fmt.Sprintf("deliver org %s day %s", res.OrgID, res.Day)
	n, err := upload(ctx, where, s, file.Name, objectOf(fileformat.CSV, f.SHA256, f.Rows), func(w io.Writer) error {
		return copyChecked(f, w, h, algo, want)
	})
	if err != nil {
		return err
	}
	res.Rows, res.Bytes, res.SHA256, res.First, res.Last = f.Rows, n, f.SHA256, f.First, f.Last
	return nil
}

// copyChecked copies f's body to w through the read-ahead, checking its
// size and its checksum h (algo) against want at the end.
func copyChecked(f *logstore.DayFile, w io.Writer, h hash.Hash, algo, want string) error {
	const chunk, ahead = 1 << 20, 8
	type piece struct {
		buf []byte
		err error
	}
	full := make(chan piece, ahead)
	free := make(chan []byte, ahead+1)
	for range ahead + 1 {
		free <- make([]byte, chunk)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(full)
		body := io.LimitReader(f.Body, f.Bytes+1) // one byte more tells a longer file
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			n, err := io.ReadFull(body, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case full <- piece{buf[:n], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var n int64
	for p := range full {
		if len(p.buf) > 0 {
			k, err := w.Write(p.buf)
			h.Write(p.buf[:k])
			n += int64(k)
			if err != nil {
				return err
			}
		}
		if p.err == io.EOF {
			break
		}
		if p.err != nil {
			return fmt.Errorf("read log store: %w", p.err)
		}
		free <- p.buf[:cap(p.buf)]
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Bytes || sum != want {
		return fmt.Errorf("%w: the day's file has %d bytes with %s %s, the store said %d bytes with %s %s",
			ErrInconsistentStore, n, algo, sum, f.Bytes, algo, want)
	}
	return nil
}

// countingWriter counts what w accepted.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
