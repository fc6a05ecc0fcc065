// Package export is the delivery pipeline: for one org and one UTC day it
// looks up the destination, streams the day's events from the log store
// through the CSV encoder and SHA-256 into the destination's sink, and
// reports what it delivered.
//
// Nothing of the day is held in memory: the encoder writes into an
// io.Pipe that the sink reads while it uploads, and an error on either
// side closes the pipe with that error (CloseWithError), so a failing store
// aborts the upload and a failing upload stops the store read. Sinks make
// nothing visible unless the stream ends cleanly, so a delivery is all or
// nothing.
//
// A store that holds org-days as files already (logstore.FileReader: the
// lake, whose compaction writes them) is copied instead: one sequential
// read, its bytes and checksum (CRC32C, or SHA-256 where the store has
// none) checked against what the store said before the stream ends.
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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
	"github.com/contentful/auditlogs/internal/logstore"
	"github.com/contentful/auditlogs/internal/sink"
)

// Result is what one delivery wrote.
type Result struct {
	OrgID    string        `json:"org_id"`
	Day      audit.Day     `json:"day"`
	Key      string        `json:"key"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"`
	SHA256   string        `json:"sha256"`
	Duration time.Duration `json:"duration_ns"`
}

// ErrInconsistentStore means the log store returned an event of another
// org or day, out of order, or twice: delivering it could leak or corrupt
// a customer's file, so the delivery stops. It is a bug, and transient in
// the sense that nothing the customer does can fix it.
var ErrInconsistentStore = errors.New("log store returned an inconsistent stream")

// errUploadEnded tells the producer that the sink stopped reading.
var errUploadEnded = errors.New("upload ended before the file was complete")

// Deliver streams org's events of day from src as CSV into s under name.
// On success the object is complete and Result describes it: Rows and
// Bytes counted, SHA256 of exactly the bytes the sink read (hashed here,
// or, for a day's file copied with its CRC32C checked, the SHA-256 its
// writer computed of those bytes).
func Deliver(ctx context.Context, src logstore.Reader, s sink.Sink, org string, day audit.Day, name string) (Result, error) {
	start := time.Now()
	res := Result{OrgID: org, Day: day, Key: name}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A store that holds the day as its file already (the lake) is
	// copied; otherwise the events are encoded.
	var file *logstore.DayFile
	if fr, ok := src.(logstore.FileReader); ok {
		f, err := fr.OpenDayFile(ctx, org, day)
		switch {
		case err == nil:
			file = &f
			defer f.Body.Close()
		case !errors.Is(err, logstore.ErrNoDayFile):
			return res, fmt.Errorf("deliver org %s day %s: read log store: %w", org, day, err)
		}
	}

	pr, pw := io.Pipe()
	out := &hashingWriter{w: pw, h: sha256.New()}
	if file != nil && file.CRC32C != "" {
		// The copy is checked by CRC32C, and the file's SHA-256 is the
		// one its writer computed (logstore.DayFile says why).
		out.h = crc32.New(castagnoli)
	}
	produced := make(chan error, 1)
	go func() {
		var err error
		if file != nil {
			err = copyFile(file, out, &res.Rows)
		} else {
			err = produce(ctx, src, out, org, day, &res.Rows)
		}
		if err != nil {
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		produced <- err
	}()

	upErr := s.Upload(ctx, name, pr, sink.Object{})
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
		return res, fmt.Errorf("deliver org %s day %s: %w", org, day, prodErr)
	case upErr != nil:
		return res, fmt.Errorf("deliver org %s day %s to %s: %w", org, day, name, upErr)
	case prodErr != nil:
		// The sink reported success without reading the whole stream: a
		// sink bug that must never pass as a complete delivery.
		return res, fmt.Errorf("deliver org %s day %s to %s: sink returned before the end of the stream: %w", org, day, name, prodErr)
	}
	res.Bytes = out.n
	res.SHA256 = hex.EncodeToString(out.h.Sum(nil))
	if file != nil {
		res.SHA256 = file.SHA256 // copyFile checked the bytes are its
	}
	res.Duration = time.Since(start)
	return res, nil
}

// produce writes the header and one row per event, checking that the
// store keeps its promises (org, day, strict order, each request once).
func produce(ctx context.Context, src logstore.Reader, w io.Writer, org string, day audit.Day, rows *int64) error {
	enc := csvenc.NewEncoder(w)
	if err := enc.WriteHeader(); err != nil {
		return err
	}
	var prevTime time.Time
	var prevID string
	err := src.ReadDay(ctx, org, day, func(e *audit.Event) error {
		switch {
		case e.OrgID != org:
			return fmt.Errorf("%w: event %s belongs to org %s", ErrInconsistentStore, e.RequestID, e.OrgID)
		case !day.Contains(e.RequestTime):
			return fmt.Errorf("%w: event %s at %s is outside %s", ErrInconsistentStore, e.RequestID, e.RequestTime.Format(time.RFC3339Nano), day)
		case *rows > 0 && (e.RequestTime.Before(prevTime) || e.RequestTime.Equal(prevTime) && e.RequestID <= prevID):
			return fmt.Errorf("%w: event %s at %s follows %s at %s", ErrInconsistentStore, e.RequestID,
				e.RequestTime.Format(time.RFC3339Nano), prevID, prevTime.Format(time.RFC3339Nano))
		}
		prevTime, prevID = e.RequestTime, e.RequestID
		*rows++
		return enc.Write(e)
	})
	if err != nil {
		return fmt.Errorf("read log store: %w", err)
	}
	return enc.Flush()
}

// copyFile copies a day's file and checks, before the stream ends, that
// it is the file the store described: the same number of bytes with the
// same CRC32C (w hashes with CRC32C), or the same SHA-256 when the store
// recorded no CRC32C. A mismatch ends the stream with an error, so the
// sink makes nothing visible.
//
// The body is read ahead by a goroutine of its own, a few chunks at most,
// so that reading the store (the network, the SDK's checksum) runs beside
// hashing and handing the bytes to the sink instead of taking turns with
// them: the copy then goes at about the slower of the two.
func copyFile(f *logstore.DayFile, w *hashingWriter, rows *int64) error {
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
	algo, want := "sha256", f.SHA256
	if f.CRC32C != "" {
		algo, want = "crc32c", f.CRC32C
	}
	if sum := hex.EncodeToString(w.h.Sum(nil)); n != f.Bytes || sum != want {
		return fmt.Errorf("%w: the day's file has %d bytes with %s %s, the store said %d bytes with %s %s",
			ErrInconsistentStore, n, algo, sum, f.Bytes, algo, want)
	}
	*rows = f.Rows
	return nil
}

// castagnoli is CRC32C's table (hardware-accelerated by hash/crc32).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hashingWriter passes bytes to w and hashes and counts what w accepted.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}
