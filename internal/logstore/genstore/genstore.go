// Package genstore is a logstore.Reader that generates a day of realistic
// events on the fly, in order, from a seed: any number of events in
// constant memory. Benchmarks use it to measure the pipeline without a
// database, and the whole-process benchmark uses it for 10 million events.
//
// Tests and benchmarks only: production code never imports it. It imports
// only audit: not logstore, whose Reader it implements as it is.
package genstore

import (
	"context"
	"strconv"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// Store generates Events events per org-day, spread evenly over the day.
type Store struct {
	Events int64
	// Fail, when set, is returned after FailAfter events: a source that
	// breaks midway.
	Fail      error
	FailAfter int64
}

var (
	methods = []string{"PUT", "PATCH", "DELETE", "PUT"}
	kinds   = []string{"entries", "assets", "content_types", "locales", "webhook_definitions", "roles"}
)

// template holds the strings that repeat across events, built once so the
// generator spends its time on what varies (time, IDs), as a store does.
type template struct {
	space, route, referrer, pathPrefix string
}

func templates() []template {
	var ts []template
	for sp := 0; sp < 7; sp++ {
		space := "space" + strconv.Itoa(sp) + "x9q2"
		for _, kind := range kinds {
			ts = append(ts, template{
				space:      space,
				route:      "/spaces/:space_id/environments/:environment_id/" + kind + "/:id",
				referrer:   "https://app.contentful.com/spaces/" + space + "/" + kind,
				pathPrefix: "/spaces/" + space + "/environments/master/" + kind + "/",
			})
		}
	}
	return ts
}

// ReadDay implements logstore.Reader.
func (s *Store) ReadDay(ctx context.Context, org string, day audit.Day, fn func(*audit.Event) error) error {
	ts := templates()
	step := int64(24*time.Hour) / max(s.Events, 1)
	start := day.Start()
	var e audit.Event
	for i := int64(0); i < s.Events; i++ {
		if s.Fail != nil && i == s.FailAfter {
			return s.Fail
		}
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tp := &ts[i%int64(len(ts))]
		e = audit.Event{
			OrgID:          org,
			RequestID:      "req-" + strconv.FormatInt(1e12+i, 10),
			RequestTime:    start.Add(time.Duration(i * step)).Truncate(time.Millisecond),
			RequestMethod:  methods[i%int64(len(methods))],
			RequestPath:    tp.pathPrefix + strconv.FormatInt(i*2654435761%1000000007, 36),
			RequestQuery:   "fields.title=Hello%2C+world&locale=en-US",
			ResponseStatus: 200,
			ContentLength:  1000 + i%5000,
			Space:          tp.space,
			Route:          tp.route,
			Referrer:       tp.referrer,
			ActorID:        "user:2YVRzNgF2sE64ooav1eKSd",
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}
