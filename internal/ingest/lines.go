package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ReadLines reads NDJSON records from r and calls fn with batches of up to
// batch records (1000 when 0), each named "<name>:<line>". Blank lines are
// skipped. A line longer than MaxRecordBytes is not held in memory: it is
// passed on cut to MaxRecordBytes+1 bytes, which Parse rejects as too
// large, and reading goes on. Each record's Data is its own.
func ReadLines(r io.Reader, name string, batch int, fn func([]Raw) error) error {
	if batch <= 0 {
		batch = 1000
	}
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]Raw, 0, batch)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := fn(buf)
		clear(buf)
		buf = buf[:0]
		return err
	}
	line := 0
	for {
		line++
		data, tooLong, err := readLine(br)
		if !tooLong {
			data = bytes.TrimSpace(data)
		}
		if len(data) > 0 {
			buf = append(buf, Raw{Source: fmt.Sprintf("%s:%d", name, line), Data: data})
			if len(buf) == batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, line, err)
		}
	}
}

// readLine returns the next line without its end, at most MaxRecordBytes+1
// bytes of it (tooLong says the rest was dropped), and io.EOF after the
// last line.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var acc []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(acc)+len(frag) > MaxRecordBytes+1 {
			if !tooLong {
				acc = append(acc, frag[:MaxRecordBytes+1-len(acc)]...)
				tooLong = true
			}
		} else {
			acc = append(acc, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil || (errors.Is(err, io.EOF) && !tooLong) {
			acc = bytes.TrimSuffix(acc, []byte("\n"))
			acc = bytes.TrimSuffix(acc, []byte("\r"))
		}
		if errors.Is(err, io.EOF) && len(acc) == 0 && !tooLong {
			return nil, false, io.EOF
		}
		return acc, tooLong, err
	}
}
