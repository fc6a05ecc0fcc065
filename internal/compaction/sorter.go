package compaction

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// rec is an event with its place in the input: seq grows with the raw
// object's key and the line inside it, so of two records with the same
// request ID the one with the larger seq was written last.
type rec struct {
	e   audit.Event
	seq int64
}

// size estimates what a rec holds in memory: its strings and the struct.
func (r *rec) size() int {
	e := &r.e
	return 200 + len(e.OrgID) + len(e.RequestID) + len(e.RequestMethod) + len(e.RequestPath) + len(e.RequestQuery) +
		len(e.Space) + len(e.Route) + len(e.Referrer) + len(e.ActorID)
}

// byID orders records for deduplication: org, request ID, then input order.
func byID(a, b *rec) int {
	if c := strings.Compare(a.e.OrgID, b.e.OrgID); c != 0 {
		return c
	}
	if c := strings.Compare(a.e.RequestID, b.e.RequestID); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// byTime orders records as an org-day object holds them: org, request
// time, request ID (unique per org once deduplicated).
func byTime(a, b *rec) int {
	if c := strings.Compare(a.e.OrgID, b.e.OrgID); c != 0 {
		return c
	}
	if c := a.e.RequestTime.Compare(b.e.RequestTime); c != 0 {
		return c
	}
	return strings.Compare(a.e.RequestID, b.e.RequestID)
}

// sorter is an external merge sort with a memory budget: records are
// collected up to budget bytes, sorted and written to a run file in dir;
// merge then reads the runs back through a k-way merge (a heap of one
// record per run). Memory stays at about budget plus one buffered reader
// per run, whatever the number of records. With one run's worth of records
// nothing touches the disk.
type sorter struct {
	cmp    func(a, b *rec) int
	dir    string
	budget int

	buf   []rec
	ord   []*rec // buf in order, reused: sorting pointers moves 8 bytes, not a whole rec
	bytes int
	runs  []string
	total int64
}

func newSorter(cmp func(a, b *rec) int, dir string, budget int) *sorter {
	return &sorter{cmp: cmp, dir: dir, budget: budget}
}

func (s *sorter) add(r rec) error {
	s.buf = append(s.buf, r)
	s.bytes += r.size()
	s.total++
	if s.bytes >= s.budget {
		return s.spill()
	}
	return nil
}

// sorted returns the buffer's records in order.
func (s *sorter) sorted() []*rec {
	s.ord = s.ord[:0]
	for i := range s.buf {
		s.ord = append(s.ord, &s.buf[i])
	}
	slices.SortFunc(s.ord, s.cmp)
	return s.ord
}

// spill writes the buffer as one sorted run.
func (s *sorter) spill() error {
	if len(s.buf) == 0 {
		return nil
	}
	ord := s.sorted()
	f, err := os.CreateTemp(s.dir, "run-*.bin")
	if err != nil {
		return fmt.Errorf("sorted run: %w", err)
	}
	s.runs = append(s.runs, f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	var b []byte
	for _, r := range ord {
		b = appendRec(b[:0], r)
		if _, err := w.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("sorted run %s: %w", f.Name(), err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sorted run %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sorted run %s: %w", f.Name(), err)
	}
	clear(s.buf) // let the strings go
	clear(s.ord)
	s.buf, s.ord, s.bytes = s.buf[:0], s.ord[:0], 0
	return nil
}

// close removes the run files.
func (s *sorter) close() {
	for _, name := range s.runs {
		os.Remove(name)
	}
	s.runs = nil
	s.buf, s.ord = nil, nil
}

// merge calls fn for every record added, in order. fn must not keep r.
func (s *sorter) merge(fn func(r *rec) error) error {
	if len(s.runs) == 0 {
		for _, r := range s.sorted() {
			if err := fn(r); err != nil {
				return err
			}
		}
		s.buf, s.ord = nil, nil
		return nil
	}
	if err := s.spill(); err != nil {
		return err
	}
	s.buf, s.ord = nil, nil
	h := &mergeHeap{cmp: s.cmp}
	defer func() {
		for _, c := range h.all {
			c.f.Close()
		}
	}()
	for _, name := range s.runs {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("sorted run: %w", err)
		}
		c := &cursor{f: f, r: bufio.NewReaderSize(f, 64<<10)}
		h.all = append(h.all, c)
		ok, err := c.next()
		if err != nil {
			return fmt.Errorf("sorted run %s: %w", name, err)
		}
		if ok {
			h.items = append(h.items, c)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		c := h.items[0]
		if err := fn(&c.cur); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return fmt.Errorf("sorted run %s: %w", c.f.Name(), err)
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type cursor struct {
	f       *os.File
	r       *bufio.Reader
	cur     rec
	scratch []byte
}

func (c *cursor) next() (bool, error) {
	err := readRec(c.r, &c.cur, &c.scratch)
	if err == io.EOF {
		return false, nil
	}
	return err == nil, err
}

type mergeHeap struct {
	cmp   func(a, b *rec) int
	items []*cursor
	all   []*cursor
}

func (h *mergeHeap) Len() int           { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool { return h.cmp(&h.items[i].cur, &h.items[j].cur) < 0 }
func (h *mergeHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)         { h.items = append(h.items, x.(*cursor)) }
func (h *mergeHeap) Pop() any {
	c := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return c
}

// The run format: per record, uvarint seq, varint Unix milliseconds,
// varint status, varint content length, then the nine strings, each a
// uvarint length and its bytes. Runs live only on the compaction's own
// disk for the length of one compaction.
func appendRec(b []byte, r *rec) []byte {
	e := &r.e
	b = binary.AppendUvarint(b, uint64(r.seq))
	b = binary.AppendVarint(b, e.RequestTime.UnixMilli())
	b = binary.AppendVarint(b, int64(e.ResponseStatus))
	b = binary.AppendVarint(b, e.ContentLength)
	for _, s := range [...]string{e.OrgID, e.RequestID, e.RequestMethod, e.RequestPath, e.RequestQuery, e.Space, e.Route, e.Referrer, e.ActorID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errShortRun = errors.New("sorted run ends inside a record")

// readRec reads the next record into out. The record's nine strings are
// one allocation (substrings of one string), copied once out of scratch,
// the cursor's own buffer.
func readRec(r *bufio.Reader, out *rec, scratch *[]byte) error {
	seq, err := binary.ReadUvarint(r)
	if err != nil {
		return err // io.EOF at a record boundary is the end
	}
	ms, err1 := binary.ReadVarint(r)
	st, err2 := binary.ReadVarint(r)
	cl, err3 := binary.ReadVarint(r)
	if err := errors.Join(err1, err2, err3); err != nil {
		return errShortRun
	}
	var ends [9]int
	b := (*scratch)[:0]
	for i := range ends {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > audit.MaxQueryLen*2 {
			return errShortRun
		}
		b = slices.Grow(b, int(n))
		k := len(b)
		b = b[:k+int(n)]
		if _, err := io.ReadFull(r, b[k:]); err != nil {
			return errShortRun
		}
		ends[i] = len(b)
	}
	*scratch = b
	all := string(b)
	var strs [9]string
	start := 0
	for i, end := range ends {
		strs[i] = all[start:end]
		start = end
	}
	*out = rec{seq: int64(seq), e: audit.Event{
		OrgID: strs[0], RequestID: strs[1], RequestTime: time.UnixMilli(ms).UTC(), RequestMethod: strs[2],
		RequestPath: strs[3], RequestQuery: strs[4], ResponseStatus: int(st), ContentLength: cl,
		Space: strs[5], Route: strs[6], Referrer: strs[7], ActorID: strs[8],
	}}
	return nil
}
