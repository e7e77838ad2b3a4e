package projections

import (
	"context"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// AccessChannel announces every change to what an access decision reads
// (migration 00017: triggers on users_view, roles_view, companies_view and
// orgs_view). The payload is "<org> <user>" for one user, "<org>" for the
// whole organization, "*" for everything.
const AccessChannel = "gatehouse_access"

// accessCacheLimit bounds the decisions kept; past it the cache starts
// again empty (a decision costs one indexed query to read again).
const accessCacheLimit = 200_000

// AccessCache keeps access decisions between requests: the helpdesk asks
// on every page view, mostly for the same few users, and each question was
// a query. It is only trusted while its notifications are heard: it is
// empty and unused until the listener is connected, and emptied whenever
// the connection is lost. A change drops what it touches once its
// notification arrives, milliseconds after the change commits: for that
// long a process may still answer as before, as it would from a read model
// a few milliseconds behind.
//
// A lookup stores what it read only if nothing it depends on was dropped
// while it read (generations), so a read that raced a change cannot keep
// the old answer.
type AccessCache struct {
	users *Users

	mu   sync.Mutex
	live bool
	// epoch changes whenever everything is dropped; an organization's gen
	// whenever anything of it is.
	epoch uint64
	orgs  map[domain.OrgID]*orgDecisions
	size  int

	// hits, misses and bypasses count lookups, resolved once: a lookup is
	// the hot path of GET /access.
	hits, misses, bypasses prometheus.Counter
}

type orgDecisions struct {
	gen       uint64
	decisions map[domain.UserID]cachedDecision
}

type cachedDecision struct {
	found    bool
	decision Decision
}

// NewAccessCache answers from users' read models, keeping decisions once
// Watch has connected it to the notifications. reg may be nil.
func NewAccessCache(users *Users, reg prometheus.Registerer) *AccessCache {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_access_cache_lookups_total",
		Help: "Access decisions asked, by whether the cache answered (hit), the read models did (miss), or the read models did because notifications were not heard (bypass).",
	}, []string{"result"})
	if reg != nil {
		reg.MustRegister(lookups)
	}
	return &AccessCache{users: users, hits: lookups.WithLabelValues("hit"), misses: lookups.WithLabelValues("miss"),
		bypasses: lookups.WithLabelValues("bypass")}
}

// Watch connects the cache to wake's listener; call it before wake runs.
// Without it every question goes to the read models.
func (c *AccessCache) Watch(wake *eventstore.Wakeup) {
	wake.Watch(AccessChannel, eventstore.Watcher{Notified: c.changed, Listening: c.listening})
}

// Access is Users.Access, from the cache when it can be. The decision's
// permissions are shared: read them, do not change them.
func (c *AccessCache) Access(ctx context.Context, org domain.OrgID, id domain.UserID) (Decision, bool, error) {
	d, ok, st := c.get(org, id)
	if ok {
		return d.decision, d.found, nil
	}
	decision, found, err := c.users.Access(ctx, org, id)
	if err != nil {
		return decision, found, err
	}
	c.put(org, id, cachedDecision{found: found, decision: decision}, st)
	return decision, found, nil
}

// stamp is what a lookup that missed saw, so that it stores what it then
// reads only if nothing it depends on was dropped meanwhile.
type stamp struct{ epoch, gen uint64 }

func (c *AccessCache) get(org domain.OrgID, id domain.UserID) (cachedDecision, bool, stamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		c.bypasses.Inc()
		return cachedDecision{}, false, stamp{}
	}
	st := stamp{epoch: c.epoch}
	if o := c.orgs[org]; o != nil {
		st.gen = o.gen
		if d, ok := o.decisions[id]; ok {
			c.hits.Inc()
			return d, true, st
		}
	}
	c.misses.Inc()
	return cachedDecision{}, false, st
}

// put keeps d, read after get gave st, unless something it depends on was
// dropped since: a change to the organization makes its generation other
// than what get saw (a change to an organization with nothing kept makes
// it one).
func (c *AccessCache) put(org domain.OrgID, id domain.UserID, d cachedDecision, st stamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || st.epoch != c.epoch {
		return
	}
	// An organization's entry goes only with everything (a new epoch), so
	// one that is missing now was missing at get too, and nothing of it
	// changed since.
	o := c.orgs[org]
	if o == nil {
		o = &orgDecisions{}
		c.orgs[org] = o
	} else if o.gen != st.gen {
		return
	}
	if c.size >= accessCacheLimit {
		c.dropAll()
		return
	}
	if o.decisions == nil {
		o.decisions = map[domain.UserID]cachedDecision{}
	}
	if _, had := o.decisions[id]; !had {
		c.size++
	}
	o.decisions[id] = d
}

// changed drops what a notification names.
func (c *AccessCache) changed(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	org, user, one := strings.Cut(payload, " ")
	if payload == "*" || org == "" {
		c.dropAll()
		return
	}
	o := c.orgs[domain.OrgID(org)]
	if o == nil {
		// Nothing kept, but a read of this organization may be under way:
		// the generation tells it not to keep its answer.
		o = &orgDecisions{}
		c.orgs[domain.OrgID(org)] = o
	}
	o.gen++
	if !one {
		c.size -= len(o.decisions)
		o.decisions = nil
		return
	}
	if _, had := o.decisions[domain.UserID(user)]; had {
		delete(o.decisions, domain.UserID(user))
		c.size--
	}
}

// listening starts or stops trusting the cache; either way it starts empty.
func (c *AccessCache) listening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropAll()
	c.live = on
}

func (c *AccessCache) dropAll() {
	c.epoch++
	c.orgs = map[domain.OrgID]*orgDecisions{}
	c.size = 0
}
