package dynamostore

import "github.com/contentful/auditlogs/internal/audit"

// cursor is a shard's position in its current page.
type cursor struct {
	pg  *page
	i   int
	src int
}

func (c *cursor) less(d *cursor) bool {
	if a, b := c.pg.ms[c.i], d.pg.ms[d.i]; a != b {
		return a < b
	}
	return c.pg.events[c.i].RequestID < d.pg.events[d.i].RequestID
}

// source returns a shard's next page (never empty) in order, nil at its
// end, or an error that ends the merge. spent is the page the merge has
// just finished (nil at first), which the source may reuse.
type source func(spent *page) (*page, error)

// merge calls fn for every event of the sources in (time, request ID)
// order. A binary heap of one cursor per source costs O(log shards) per
// event; container/heap would add an interface call per comparison.
func merge(sources []source, fn func(*audit.Event) error) error {
	h := make([]cursor, 0, len(sources))
	for i, next := range sources {
		pg, err := next(nil)
		if err != nil {
			return err
		}
		if pg != nil {
			h = append(h, cursor{pg: pg, src: i})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(h, i)
	}
	for len(h) > 0 {
		c := &h[0]
		if err := fn(&c.pg.events[c.i]); err != nil {
			return err
		}
		if c.i++; c.i == len(c.pg.events) {
			pg, err := sources[c.src](c.pg)
			if err != nil {
				return err
			}
			if pg == nil {
				last := len(h) - 1
				h[0] = h[last]
				h = h[:last]
			} else {
				c.pg, c.i = pg, 0
			}
		}
		down(h, 0)
	}
	return nil
}

// down restores the heap order below i.
func down(h []cursor, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(&h[l]) {
			m = r
		}
		if !h[m].less(&h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
