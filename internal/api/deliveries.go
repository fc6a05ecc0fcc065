package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/redact"
)

// Limits of the delivery routes.
const (
	// MaxListDays bounds a history's range: a year and a day.
	MaxListDays = 366
	// DefaultPageSize and MaxPageSize: a month a page by default.
	DefaultPageSize = 31
	MaxPageSize     = 100
	// MaxRedeliverDays bounds one redelivery request.
	MaxRedeliverDays = 31
)

// Delivery is one org-day of the ledger, as the history shows it.
type Delivery struct {
	Day         string     `json:"day"`
	Status      string     `json:"status"`
	Key         string     `json:"key,omitempty"`
	Rows        int64      `json:"rows"`
	Bytes       int64      `json:"bytes"`
	SHA256      string     `json:"sha256,omitempty"`
	Attempts    int        `json:"attempts"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// LastError is the last failure's message, credentials removed.
	LastError string `json:"last_error,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	// LateEvents arrived after the day was delivered; Stale says the
	// delivered file lacks them (a redelivery adds them).
	LateEvents int64 `json:"late_events,omitempty"`
	Stale      bool  `json:"stale,omitempty"`
}

// DeliveryPage is one page of an org's delivery history.
type DeliveryPage struct {
	OrgID      string     `json:"org_id"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Deliveries []Delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// RedeliverRequest is the body of POST .../deliveries/redeliver.
type RedeliverRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// RedeliverResult is what a redelivery queued.
type RedeliverResult struct {
	OrgID  string   `json:"org_id"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Queued []string `json:"queued"`
}

func deliveryOf(e ledger.Entry) Delivery {
	d := Delivery{Day: e.Day.String(), Status: string(e.Status), Key: e.Key, Rows: e.Rows, Bytes: e.Bytes, SHA256: e.SHA256,
		Attempts: e.Attempts, UpdatedAt: e.UpdatedAt.UTC(), LastError: redact.Text(e.LastError), Permanent: e.Permanent,
		LateEvents: e.LateEvents, Stale: e.Stale()}
	if looksLikeSASURL(d.LastError) {
		d.LastError = "(the error named a signed URL and is not shown; quote the day to support)"
	}
	if !e.DeliveredAt.IsZero() {
		t := e.DeliveredAt.UTC()
		d.DeliveredAt = &t
	}
	return d
}

// cursor is the opaque position of a history's next page, tied to the
// listing it continues.
type cursor struct {
	Org  string `json:"o"`
	From string `json:"f"`
	To   string `json:"t"`
	Next string `json:"n"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return c, dec.Decode(&c)
}

// dayParam reads a required date of the query.
func dayParam(r *http.Request, name string) (audit.Day, *Problem) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return audit.Day{}, fieldProblem(name, "", "is required: a date, YYYY-MM-DD")
	}
	d, err := audit.ParseDay(v)
	if err != nil {
		return d, fieldProblem(name, v, "must be a date, YYYY-MM-DD")
	}
	return d, nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "from", "to", "limit", "cursor":
		default:
			fieldProblem(name, q.Get(name), "is not a parameter of this request: from, to, limit and cursor are").write(w, r)
			return
		}
	}
	from, pr := dayParam(r, "from")
	if pr == nil {
		var to audit.Day
		to, pr = dayParam(r, "to")
		if pr == nil {
			s.page(w, r, org, from, to)
			return
		}
	}
	pr.write(w, r)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request, org string, from, to audit.Day) {
	q := r.URL.Query()
	if to.Before(from) {
		fieldProblem("to", to.String(), "must not be before from ("+from.String()+")").write(w, r)
		return
	}
	if days := daysBetween(from, to); days > MaxListDays {
		fieldProblem("to", to.String(), fmt.Sprintf("spans %d days from %s, more than %d: ask for a shorter range", days, from, MaxListDays)).write(w, r)
		return
	}
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			fieldProblem("limit", v, fmt.Sprintf("must be a whole number from 1 to %d", MaxPageSize)).write(w, r)
			return
		}
		limit = n
	}
	start := from
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		next, derr := audit.ParseDay(c.Next)
		if err != nil || derr != nil || c.Org != org || c.From != from.String() || c.To != to.String() || next.Before(from) || to.Before(next) {
			fieldProblem("cursor", v, "is not a cursor of this listing: pass the next_cursor of the previous page with the same from and to").write(w, r)
			return
		}
		start = next
	}
	entries, more, err := s.Ledger.Page(r.Context(), org, start, to, limit)
	if err != nil {
		s.log().Error("api: ledger read failed", "request_id", requestID(r.Context()), "org_id", org, "error", err)
		unavailable("ledger_unavailable", "the delivery ledger could not be read; retry shortly").write(w, r)
		return
	}
	page := DeliveryPage{OrgID: org, From: from.String(), To: to.String(), Deliveries: []Delivery{}}
	for _, e := range entries {
		page.Deliveries = append(page.Deliveries, deliveryOf(e))
	}
	if more && len(entries) > 0 {
		page.NextCursor = cursor{Org: org, From: from.String(), To: to.String(), Next: entries[len(entries)-1].Day.AddDays(1).String()}.encode()
	}
	writeJSON(w, http.StatusOK, page)
}

// daysBetween counts the days from from to to, both included.
func daysBetween(from, to audit.Day) int {
	return int(to.Start().Sub(from.Start())/(24*time.Hour)) + 1
}

func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	var in RedeliverRequest
	if pr := decode(r, &in, false); pr != nil {
		pr.write(w, r)
		return
	}
	from, to, pr := s.redeliveryRange(in)
	if pr != nil {
		pr.write(w, r)
		return
	}
	d, ok := s.get(w, r, org)
	if !ok {
		return
	}
	if !d.Enabled {
		pr := problem(http.StatusConflict, "destination_paused", "The destination is paused", "delivery to this organization's destination is paused, so nothing would be delivered")
		pr.Fix = "resume it (POST .../destination/resume), then ask again"
		pr.write(w, r)
		return
	}
	res := RedeliverResult{OrgID: org, From: from.String(), To: to.String(), Queued: []string{}}
	for day := from; !to.Before(day); day = day.AddDays(1) {
		if err := s.Exports.Queue(r.Context(), org, day); err != nil {
			s.log().Error("api: redelivery not queued", "request_id", requestID(r.Context()), "org_id", org, "day", day.String(), "error", err)
			pr := unavailable("redelivery_incomplete", fmt.Sprintf("%d of %d days were queued; the others were not: ask again for those", len(res.Queued), daysBetween(from, to)))
			pr.Queued = res.Queued
			for rest := day; !to.Before(rest); rest = rest.AddDays(1) {
				pr.NotQueued = append(pr.NotQueued, NotQueued{Day: rest.String(), Reason: "the export could not be queued"})
			}
			// What was queued will run: it is a change.
			if len(res.Queued) > 0 && !s.audited(w, r, pr.Status) {
				return
			}
			pr.write(w, r)
			return
		}
		res.Queued = append(res.Queued, day.String())
	}
	if !s.audited(w, r, http.StatusAccepted) {
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// redeliveryRange checks a redelivery's range: at most MaxRedeliverDays,
// and every day one the export agrees to deliver (export.CheckDay): none
// after yesterday (today's file is delivered tomorrow), none the log store
// may have forgotten. The range's ends decide: from <= to.
func (s *Server) redeliveryRange(in RedeliverRequest) (from, to audit.Day, _ *Problem) {
	var err error
	if from, err = audit.ParseDay(in.From); err != nil {
		return from, to, fieldProblem("from", in.From, "must be a date, YYYY-MM-DD")
	}
	if to, err = audit.ParseDay(in.To); err != nil {
		return from, to, fieldProblem("to", in.To, "must be a date, YYYY-MM-DD")
	}
	now := s.now().UTC()
	switch {
	case to.Before(from):
		return from, to, fieldProblem("to", in.To, "must not be before from ("+in.From+")")
	case daysBetween(from, to) > MaxRedeliverDays:
		return from, to, fieldProblem("to", in.To, fmt.Sprintf("spans %d days from %s, more than %d a request: split the range", daysBetween(from, to), in.From, MaxRedeliverDays))
	case errors.Is(export.CheckDay(to, now, s.Retention), export.ErrDayNotOver):
		return from, to, fieldProblem("to", in.To, "must be no later than yesterday ("+audit.DayOf(now).AddDays(-1).String()+", UTC): a day is delivered once it is over")
	case errors.Is(export.CheckDay(from, now, s.Retention), export.ErrOutsideRetention):
		return from, to, fieldProblem("from", in.From, fmt.Sprintf("must be no earlier than %s: the log store keeps events for %d days", export.OldestDay(now, s.Retention), int(s.Retention.Hours()/24)))
	}
	return from, to, nil
}
