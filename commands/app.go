// Package commands holds the command handlers: each loads the aggregate it
// changes, asks the domain to decide, and appends the resulting events with
// their metadata and set-rule reservations in one transaction, retrying a
// concurrency conflict a bounded number of times. It also answers the few
// lookups commands and authentication need (tokens, slugs), which read the
// reservation tables the appends write.
//
// It depends on domain and eventstore; it must not import http or projections.
package commands

import (
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// PasswordHasher hashes and checks passwords with a slow hash.
type PasswordHasher interface {
	Hash(password string) (string, error)
	Verify(password, hash string) (bool, error)
}

// App is the set of command handlers, sharing their dependencies.
type App struct {
	store       *eventstore.Store
	pool        *pgxpool.Pool
	now         func() time.Time
	hasher      PasswordHasher
	maxAttempts int

	dummyOnce sync.Once
	dummy     string
	metrics   *commandMetrics
	sealer    *Sealer
	// What a new user is checked against, kept between commands.
	companies *streamCache[domain.Company, *domain.Company]
	orgs      *streamCache[domain.Organization, *domain.Organization]
	// Staff identities by token hash, while revocations are heard.
	staffTokens staffTokenCache
}

// Deps are what the command handlers need.
type Deps struct {
	Store  *eventstore.Store
	Clock  func() time.Time // time.Now when nil
	Hasher PasswordHasher   // NewArgon2Hasher() when nil
	// Metrics is where command metrics are registered (none when nil).
	Metrics prometheus.Registerer
	// Sealer, when set, seals invitation tokens into their events so that
	// the mail sender can build links (mail needs it).
	Sealer *Sealer
}

// New returns the command handlers.
func New(d Deps) *App {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Hasher == nil {
		d.Hasher = NewArgon2Hasher()
	}
	clock := d.Clock
	// Times are kept at the database's precision, so that answers and the
	// log agree to the microsecond.
	now := func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	return &App{store: d.Store, pool: d.Store.Pool(), now: now, hasher: d.Hasher, maxAttempts: 8, metrics: newCommandMetrics(d.Metrics), sealer: d.Sealer,
		companies: newStreamCache[domain.Company](), orgs: newStreamCache[domain.Organization]()}
}
