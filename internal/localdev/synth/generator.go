package synth

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

// The event generator: the per-config state (routes with their
// cumulative weights, ID kinds, the hourly distribution), the per-org
// pools, and the loop that emits an org's events in time order.

// idKind is a family of derived IDs (entries, assets, roles, …) whose pool
// size per org scales with the org's number of events.
type idKind struct {
	salt              uint64
	perEvents, lo, hi int // pool = clamp(events/perEvents, lo, hi)
}

// generator is everything per config that does not change per org.
type generator struct {
	day     audit.Day
	seed    int64
	routes  []routeGen
	cum     []float64 // cumulative route weights, normalised to 1
	idKinds []idKind
	hourCum [25]float64 // cumulative share of the day's events by UTC hour
}

func newGenerator(c Config) (*generator, error) {
	rs := routes.Audited(c.methods()...)
	if len(rs) == 0 {
		return nil, fmt.Errorf("synth: no audited route for the methods %v", c.methods())
	}
	g := &generator{day: c.Day, seed: c.Seed}
	kinds := map[string]int{}
	total := 0.0
	for _, r := range rs {
		rg := newRouteGen(r, func(name string) int {
			k, ok := kinds[name]
			if !ok {
				k = len(g.idKinds)
				kinds[name] = k
				g.idKinds = append(g.idKinds, newIDKind(name))
			}
			return k
		})
		g.routes = append(g.routes, rg)
		total += weight(r)
		g.cum = append(g.cum, total)
	}
	for i := range g.cum {
		g.cum[i] /= total
	}
	g.cum[len(g.cum)-1] = 1

	hours := hourWeights
	if wd := c.Day.Start().Weekday(); wd == time.Saturday || wd == time.Sunday {
		for h, w := range hours {
			hours[h] = 0.6 + (w-0.6)*0.25
		}
	}
	sum := 0.0
	for _, w := range hours {
		sum += w
	}
	acc := 0.0
	for h, w := range hours {
		acc += w / sum
		g.hourCum[h+1] = acc
	}
	g.hourCum[24] = 1
	return g, nil
}

func newIDKind(name string) idKind {
	k := idKind{salt: hashString(name), perEvents: 200, lo: 1, hi: 8}
	switch name {
	case "entry_id":
		k.perEvents, k.lo, k.hi = 3, 8, 5000
	case "asset_id":
		k.perEvents, k.lo, k.hi = 8, 4, 2000
	case "task_id", "space_membership_id":
		k.perEvents, k.lo, k.hi = 50, 2, 500
	case "workflow_id":
		k.perEvents, k.lo, k.hi = 100, 1, 300
	case "release_id":
		k.perEvents, k.lo, k.hi = 200, 1, 100
	}
	return k
}

// orgState is the per-org part of generation: its pools.
type orgState struct {
	id        string
	key       uint64
	spaces    []string
	devEnvs   [2]string
	users     []string // "user:<id>"
	apps      []string // app definition IDs
	appActors []string // "app:<id>"
	appRefs   []string // the apps' own origins
	pools     []int    // per ID kind
	ctOffset  int      // where the org's content types start in the shared list
	tagOffset int
}

func (g *generator) newOrg(id string, n int) *orgState {
	o := &orgState{id: id, key: orgKey(g.seed, id)}
	nSpaces := 1 + min(7, bits.Len(uint(n/300)))
	for i := range nSpaces {
		var b [12]byte                               // 36^12 < 2^64: one hash is enough
		h := mix64(o.key ^ 0x7370616365 + uint64(i)) // "space"
		for j := range b {
			b[j] = lowerAlnm[h%36]
			h /= 36
		}
		o.spaces = append(o.spaces, string(b[:]))
	}
	o.devEnvs = [2]string{devEnvs[o.key%uint64(len(devEnvs))], devEnvs[(o.key>>8)%uint64(len(devEnvs))]}
	nUsers := min(max(n/40, 1), 300)
	var b [32]byte
	for i := range nUsers {
		u := appendID(append(b[:0], "user:"...), mix64(o.key^0x75736572+uint64(i))) // "user"
		o.users = append(o.users, string(u))
	}
	nApps := min(n/1000+1, 6)
	for i := range nApps {
		actor := string(appendID(append(b[:0], "app:"...), mix64(o.key^0x617070+uint64(i)))) // "app"
		app := actor[len("app:"):]
		o.apps = append(o.apps, app)
		o.appActors = append(o.appActors, actor)
		o.appRefs = append(o.appRefs, "https://"+strings.ToLower(app[:12])+".ctfcloud.net/")
	}
	for _, k := range g.idKinds {
		o.pools = append(o.pools, min(max(n/k.perEvents, k.lo), k.hi))
	}
	o.ctOffset = int(o.key>>16) % len(contentTypes)
	o.tagOffset = int(o.key>>24) % len(tags)
	return o
}

// org emits the n events of one org.
func (g *generator) org(ctx context.Context, orgID string, n int, fn func(*audit.Event) error) error {
	o := g.newOrg(orgID, n)
	r := rand.New(rand.NewPCG(uint64(g.seed), o.key))
	ridKey := mix64(o.key ^ 0x72657169) // "reqi"
	nCT := min(max(n/100, 3), len(contentTypes))
	nTags := min(max(n/200, 2), len(tags))
	var (
		ev   audit.Event
		buf  = make([]byte, 0, 512)
		cur  = 1.0 // descending order statistic of n uniforms, see below
		dayT = g.day.Start()
	)
	for i := range n {
		if i&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// Ascending request times without sorting: the largest of k
		// uniforms is U^(1/k), so multiplying by such factors walks the
		// sorted sample from the top; 1-x turns it ascending.
		cur *= math.Exp(math.Log(1-r.Float64()) / float64(n-i))
		ms := g.dayMillis(1 - cur)

		rg := &g.routes[search(g.cum, r.Float64())]
		space, spaceIdx := "", 0
		if rg.hasSpace {
			spaceIdx = skew(r, len(o.spaces))
			space = o.spaces[spaceIdx]
		}
		env := "master"
		buf = buf[:0]
		pageStart, pageEnd := 0, 0
		for pi := range rg.pieces {
			p := &rg.pieces[pi]
			buf = append(buf, p.lit...)
			start := len(buf)
			switch p.kind {
			case pEnd:
			case pSpace:
				buf = append(buf, space...)
			case pEnv:
				switch u := r.Float64(); {
				case u < 0.85:
				case u < 0.94:
					env = "staging"
				default:
					env = o.devEnvs[r.IntN(2)]
				}
				buf = append(buf, env...)
			case pEnvNotMaster:
				env = "staging"
				if r.Float64() < 0.6 {
					env = o.devEnvs[r.IntN(2)]
				}
				buf = append(buf, env...)
			case pAlias:
				a := "master"
				if r.Float64() < 0.15 {
					a = "staging"
				}
				buf = append(buf, a...)
			case pAliasNotMaster:
				a := "staging"
				if r.Float64() < 0.4 {
					a = "preview"
				}
				buf = append(buf, a...)
			case pOrg:
				buf = append(buf, o.id...)
			case pLocale:
				buf = append(buf, locales[skew(r, len(locales))]...)
			case pContentType:
				buf = append(buf, contentTypes[(o.ctOffset+skew(r, nCT))%len(contentTypes)]...)
			case pTag:
				buf = append(buf, tags[(o.tagOffset+skew(r, nTags))%len(tags)]...)
			case pNumber:
				buf = append(buf, numbers[skew(r, len(numbers))]...)
			case pApp:
				buf = append(buf, o.apps[skew(r, len(o.apps))]...)
			case pID:
				k := &g.idKinds[p.id]
				h := o.key + k.salt + uint64(skew(r, o.pools[p.id]))
				if p.inSpace {
					h += uint64(spaceIdx) << 40
				}
				buf = appendID(buf, mix64(h))
			}
			if pi == rg.pagePiece {
				pageStart, pageEnd = start, len(buf)
			}
		}
		pathEnd := len(buf)

		// 32 hex digits: a bijection of the index, so unique in the org.
		lo := mix64(ridKey + uint64(i))
		hi := mix64(lo ^ o.key)
		buf = appendHex(appendHex(buf, hi), lo)
		ridEnd := len(buf)

		var actor, referrer string
		if r.Float64() < 0.8 {
			actor = o.users[skew(r, len(o.users))]
			if r.Float64() < 0.9 {
				buf = append(buf, appHost...)
				switch {
				case rg.hasSpace:
					buf = append(buf, "/spaces/"...)
					buf = append(buf, space...)
					if rg.envScoped && env != "master" {
						buf = append(buf, "/environments/"...)
						buf = append(buf, env...)
					}
					buf = append(buf, rg.page...)
					if pageEnd > pageStart {
						buf = append(buf, '/')
						buf = append(buf, buf[pageStart:pageEnd]...)
					}
				default:
					buf = append(buf, "/account/organizations/"...)
					buf = append(buf, o.id...)
				}
			}
		} else {
			a := skew(r, len(o.apps))
			actor = o.appActors[a]
			if r.Float64() < 0.15 {
				referrer = o.appRefs[a]
			}
		}
		s := string(buf)
		if len(s) > ridEnd {
			referrer = s[ridEnd:]
		}

		k, u := 0, r.Float64()
		for k < len(rg.outcomes)-1 && u >= rg.outcomes[k].cum {
			k++
		}
		oc := &rg.outcomes[k]
		var size int64
		if oc.mean > 0 {
			size = int64(oc.mean * math.Exp(oc.sigma*r.NormFloat64()))
		}
		query := ""
		if rg.queryProb > 0 && r.Float64() < rg.queryProb {
			query = queries[skew(r, len(queries))]
		}

		ev = audit.Event{
			OrgID:          o.id,
			RequestID:      s[pathEnd:ridEnd],
			RequestTime:    dayT.Add(time.Duration(ms) * time.Millisecond),
			RequestMethod:  rg.method,
			RequestPath:    s[:pathEnd],
			RequestQuery:   query,
			ResponseStatus: oc.status,
			ContentLength:  size,
			Space:          space,
			Route:          rg.template,
			Referrer:       referrer,
			ActorID:        actor,
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// dayMillis maps x in [0, 1] to a millisecond of the day through the
// inverse of the hourly activity distribution; it is monotonic, so sorted
// x give sorted times.
func (g *generator) dayMillis(x float64) int64 {
	h := 0
	for h < 23 && x >= g.hourCum[h+1] {
		h++
	}
	f := (x - g.hourCum[h]) / (g.hourCum[h+1] - g.hourCum[h])
	ms := int64(h)*3_600_000 + int64(f*3_600_000)
	return min(max(ms, 0), 86_400_000-1)
}
