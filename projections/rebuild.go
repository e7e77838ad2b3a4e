package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Fold builds a read model in memory from the whole log and writes it at
// once; read models that can afford the memory offer one for fast rebuilds.
type Fold interface {
	Add(e eventstore.RecordedEvent, ev domain.Event) error
	Flush(ctx context.Context, tx pgx.Tx) error
}

// Folder is a projection with a bulk rebuild path.
type Folder interface {
	Fold() Fold
}

// foldPreparer is a Folder that reads what its fold needs first.
type foldPreparer interface {
	prepareFold(ctx context.Context, conn *pgx.Conn) error
}

// RebuildProgress reports how far a rebuild is: events read so far, of
// about total.
type RebuildProgress func(done, total int64)

// RebuildResult describes a finished rebuild.
type RebuildResult struct {
	Projection string
	Events     int64
	Duration   time.Duration
	Position   int64
	// Read is how long reading and folding the log took, Written how long
	// writing, indexing and analyzing the new tables took after that.
	Read, Written time.Duration
}

// rebuildBatch is how many events one read of the log returns.
const rebuildBatch = 20000

// Rebuild builds the projection's tables afresh from the event log in a
// schema of their own while the live tables keep answering, then swaps
// them in atomically (blue/green) and moves the consumer group's offset to
// where the new tables stand. A live subscriber of the same consumer group
// (in any process) waits for the swap on the offset row's lock and goes on
// from there, so nothing is applied twice or skipped.
func Rebuild(ctx context.Context, store *eventstore.Store, p Projection, progress RebuildProgress) (RebuildResult, error) {
	res, err := RebuildAll(ctx, store, []Projection{p}, progress)
	if err != nil {
		return RebuildResult{Projection: p.Name()}, err
	}
	return res[0], nil
}

// RebuildAll rebuilds several projections, as Rebuild does each, from one
// read of the log: every event is read, revealed and decoded once, and the
// projections fold it side by side. progress counts the events read.
func RebuildAll(ctx context.Context, store *eventstore.Store, ps []Projection, progress RebuildProgress) ([]RebuildResult, error) {
	start := time.Now()
	targets := make([]*rebuildTarget, 0, len(ps))
	defer func() {
		for _, t := range targets {
			t.close(context.WithoutCancel(ctx), store)
		}
	}()
	filter := eventstore.ScanFilter{StreamPrefix: commonPrefix(ps)}
	for _, p := range ps {
		t, err := newRebuildTarget(ctx, store, p)
		if t != nil {
			targets = append(targets, t)
		}
		if err != nil {
			return nil, err
		}
		if m, ok := p.(interface{ ScanMetadata() bool }); ok && m.ScanMetadata() {
			filter.RawMetadata = true
		}
	}
	var total int64
	if err := store.Pool().QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&total); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	// Everything up to the head is covered by the scan (events of other
	// kinds included, which a projection ignores), so each consumer group
	// goes on from there, not from the last event of its own kind.
	head, err := store.HeadCursor(ctx)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	filter.Settled = head

	// Three stages, so that waiting on the database and working on the CPU
	// overlap: one reads the log, one reveals and decodes each batch on
	// every core, and each projection folds (or applies) the batches in a
	// goroutine of its own. Rows build up in memory and are written with
	// one COPY per table at the end.
	g, gctx := errgroup.WithContext(ctx)
	read := make(chan []eventstore.RecordedEvent, 1)
	for _, t := range targets {
		t.batches = make(chan []decodedEvent, 2)
	}
	var scanned int64
	g.Go(func() error {
		defer close(read)
		var cursor eventstore.Cursor
		for {
			events, err := store.Scan(gctx, cursor, rebuildBatch, filter)
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
			if len(events) == 0 {
				return nil
			}
			select {
			case read <- events:
			case <-gctx.Done():
				return gctx.Err()
			}
			if len(events) < rebuildBatch {
				return nil
			}
			cursor = eventstore.After(events[len(events)-1])
		}
	})
	g.Go(func() error {
		defer func() {
			for _, t := range targets {
				close(t.batches)
			}
		}()
		for events := range read {
			decoded, err := prepareInParallel(gctx, store, events)
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
			for _, t := range targets {
				select {
				case t.batches <- decoded:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			scanned += int64(len(events))
			if progress != nil {
				progress(scanned, max(total, scanned))
			}
		}
		return nil
	})
	for _, t := range targets {
		g.Go(func() error {
			return t.consume(gctx)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	readFor := time.Since(start)
	// The writes are independent: each projection's tables are filled,
	// indexed and analyzed on a connection of its own at the same time.
	cursor := head
	for _, t := range targets {
		cursor = eventstore.Later(cursor, t.last)
	}
	shareCores(targets)
	g, gctx = errgroup.WithContext(ctx)
	for _, t := range targets {
		g.Go(func() error { return t.write(gctx) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	written := time.Since(start) - readFor
	out := make([]RebuildResult, 0, len(targets))
	for _, t := range targets {
		if err := swap(ctx, t.conn, t.p, t.schema, cursor); err != nil {
			return nil, err
		}
		out = append(out, RebuildResult{Projection: t.p.Name(), Events: t.events, Duration: time.Since(start), Position: cursor.Position,
			Read: readFor, Written: written})
	}
	return out, nil
}

// decodedEvent is an event of the log as every projection gets it.
type decodedEvent struct {
	e  eventstore.RecordedEvent
	ev domain.Event
}

// rebuildTarget is one projection being rebuilt: its connection (whose
// search_path points the projection's unqualified table names at the new
// tables; its own, not the pool's, so that any number of projections can
// be rebuilt whatever the pool's size), its schema and its fold.
type rebuildTarget struct {
	p       Projection
	conn    *pgx.Conn
	schema  string
	fold    Fold
	prefix  string
	batches chan []decodedEvent
	events  int64
	last    eventstore.Cursor
	// builders is how many connections build the new tables' indexes
	// (see index): the machine's cores shared among the targets, which
	// write side by side.
	builders int
}

func newRebuildTarget(ctx context.Context, store *eventstore.Store, p Projection) (*rebuildTarget, error) {
	conn, err := pgx.ConnectConfig(ctx, store.Pool().Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	t := &rebuildTarget{p: p, conn: conn, schema: "rebuild_" + p.Name(), prefix: p.StreamPrefix()}
	if f, ok := p.(Folder); ok {
		if pf, ok := p.(foldPreparer); ok {
			if err := pf.prepareFold(ctx, conn); err != nil {
				return t, fmt.Errorf("rebuild %s: %w", p.Name(), err)
			}
		}
		t.fold = f.Fold()
	}
	setup := fmt.Sprintf(`DROP SCHEMA IF EXISTS %[1]s CASCADE; CREATE SCHEMA %[1]s;`, t.schema)
	for _, table := range p.Tables() {
		setup += fmt.Sprintf(` CREATE TABLE %[1]s.%[2]s (LIKE public.%[2]s INCLUDING ALL EXCLUDING INDEXES);`, t.schema, table)
	}
	setup += fmt.Sprintf(` SET search_path TO %s, public;`, t.schema)
	if _, err := conn.Exec(ctx, setup); err != nil {
		return t, fmt.Errorf("rebuild %s: prepare tables: %w", p.Name(), err)
	}
	// A fold's tables get their indexes after the COPY: building an index
	// over 100,000 rows at once is several times faster than updating it
	// row by row (the users' trigram indexes most of all). Applied read
	// models need theirs from the start (ON CONFLICT).
	if t.fold == nil {
		return t, t.index(ctx)
	}
	return t, nil
}

// shareCores gives each target its share of the machine's cores for
// building indexes: one per core (the database's own cores are not known
// here; on one machine they are the same), at least one, at most 4.
func shareCores(targets []*rebuildTarget) {
	for _, t := range targets {
		t.builders = max(1, min(runtime.NumCPU()/len(targets), 4))
	}
}

// close drops what is left of the new tables (nothing after a swap) and
// the connection.
func (t *rebuildTarget) close(ctx context.Context, store *eventstore.Store) {
	_ = t.conn.Close(ctx)
	_, _ = store.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS `+t.schema+` CASCADE`)
}

// consume folds (or, without a fold, applies in one transaction per
// batch) the events of the projection's kind.
func (t *rebuildTarget) consume(ctx context.Context) error {
	var mine []decodedEvent
	for batch := range t.batches {
		mine = mine[:0]
		for _, d := range batch {
			if !strings.HasPrefix(d.e.StreamID, t.prefix) {
				continue
			}
			t.events++
			if t.fold != nil {
				if err := t.fold.Add(d.e, d.ev); err != nil {
					return fmt.Errorf("rebuild %s at %d: %w", t.p.Name(), d.e.Position, err)
				}
			} else {
				mine = append(mine, d)
			}
		}
		if t.fold == nil && len(mine) > 0 {
			if err := applyAll(ctx, t.conn, t.p, mine); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			t.last = eventstore.After(batch[len(batch)-1].e)
		}
	}
	return nil
}

// write flushes the fold and gives the fresh tables planner statistics:
// without them the first queries after the swap pick poor plans.
func (t *rebuildTarget) write(ctx context.Context) error {
	if t.fold != nil {
		tx, err := t.conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", t.p.Name(), err)
		}
		if err := t.fold.Flush(ctx, tx); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("rebuild %s: %w", t.p.Name(), err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("rebuild %s: %w", t.p.Name(), err)
		}
		if err := t.index(ctx); err != nil {
			return err
		}
	}
	for _, table := range t.p.Tables() {
		if _, err := t.conn.Exec(ctx, fmt.Sprintf(`ANALYZE %s.%s`, t.schema, table)); err != nil {
			return fmt.Errorf("rebuild %s: analyze %s: %w", t.p.Name(), table, err)
		}
	}
	return nil
}

// indexDefinitions gives the statements that recreate a live table's
// constraints backed by indexes and its other indexes, with the same
// names, on the table of the same name in another schema ($1).
const indexDefinitions = `
SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', $1::text, $2::text, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c
 WHERE c.conrelid = format('public.%I', $2::text)::regclass AND c.contype IN ('p', 'u', 'x')
UNION ALL
SELECT replace(pg_get_indexdef(i.indexrelid), format(' ON public.%I ', $2::text), format(' ON %I.%I ', $1::text, $2::text))
  FROM pg_index i
 WHERE i.indrelid = format('public.%I', $2::text)::regclass
   AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`

// index gives the new tables the live tables' indexes, under the same
// names (LIKE … INCLUDING INDEXES would make up new ones).
//
// Constraints come first, on the target's connection: adding one locks
// the table. The other indexes are then built side by side, each builder
// on a connection of its own (CREATE INDEX only takes a share lock, which
// does not conflict with itself): PostgreSQL builds a trigram index on
// one core, and building the users' six one after the other left the
// machine's other cores idle for most of a rebuild's writing.
func (t *rebuildTarget) index(ctx context.Context) error {
	if _, err := t.conn.Exec(ctx, `SET maintenance_work_mem = '256MB'`); err != nil {
		return fmt.Errorf("rebuild %s: %w", t.p.Name(), err)
	}
	var constraints, indexes []string
	for _, table := range t.p.Tables() {
		rows, err := t.conn.Query(ctx, indexDefinitions, t.schema, table)
		if err != nil {
			return fmt.Errorf("rebuild %s: indexes of %s: %w", t.p.Name(), table, err)
		}
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("rebuild %s: indexes of %s: %w", t.p.Name(), table, err)
		}
		for _, def := range defs {
			if strings.HasPrefix(def, "ALTER TABLE") {
				constraints = append(constraints, def)
			} else {
				indexes = append(indexes, def)
			}
		}
	}
	for _, def := range constraints {
		if _, err := t.conn.Exec(ctx, def); err != nil {
			return fmt.Errorf("rebuild %s: %s: %w", t.p.Name(), def, err)
		}
	}
	return buildIndexes(ctx, t.conn, max(1, min(t.builders, len(indexes))), indexes)
}

// buildIndexes runs the CREATE INDEX statements defs on conn and n-1 more
// connections like it, the slowest kinds first (a GIN index takes several
// times a B-tree's time), so that the last to finish is a short one.
func buildIndexes(ctx context.Context, conn *pgx.Conn, n int, defs []string) error {
	defs = slices.Clone(defs)
	slices.SortStableFunc(defs, func(a, b string) int {
		return cmp.Compare(indexCost(b), indexCost(a))
	})
	next := make(chan string, len(defs))
	for _, def := range defs {
		next <- def
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	build := func(c *pgx.Conn) error {
		for def := range next {
			if _, err := c.Exec(gctx, def); err != nil {
				return fmt.Errorf("%s: %w", def, err)
			}
		}
		return nil
	}
	g.Go(func() error { return build(conn) })
	for range n - 1 {
		g.Go(func() error {
			c, err := pgx.ConnectConfig(gctx, conn.Config().Copy())
			if err != nil {
				return fmt.Errorf("index builder: %w", err)
			}
			defer c.Close(context.WithoutCancel(gctx))
			if _, err := c.Exec(gctx, `SET maintenance_work_mem = '256MB'`); err != nil {
				return fmt.Errorf("index builder: %w", err)
			}
			return build(c)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("build indexes: %w", err)
	}
	return nil
}

// indexCost ranks an index definition by how long it takes to build: a
// trigram (GIN) index several times as long as a B-tree of the same rows.
func indexCost(def string) int {
	if strings.Contains(def, " USING gin ") || strings.Contains(def, " USING gist ") {
		return 1
	}
	return 0
}

// commonPrefix is the stream prefix every projection reads within, so
// that rebuilding only the users reads only user streams.
func commonPrefix(ps []Projection) string {
	if len(ps) == 0 {
		return ""
	}
	prefix := ps[0].StreamPrefix()
	for _, p := range ps[1:] {
		if p.StreamPrefix() != prefix {
			return ""
		}
	}
	return prefix
}

// prepareInParallel reveals and decodes a batch on every core: decrypting
// personal fields and parsing JSON are most of a rebuild's reading.
func prepareInParallel(ctx context.Context, store *eventstore.Store, events []eventstore.RecordedEvent) ([]decodedEvent, error) {
	out := make([]decodedEvent, len(events))
	parts := runtime.GOMAXPROCS(0)
	size := (len(events) + parts - 1) / parts
	g, gctx := errgroup.WithContext(ctx)
	for start := 0; start < len(events); start += size {
		part := events[start:min(start+size, len(events))]
		g.Go(func() error {
			if err := store.Reveal(gctx, part); err != nil {
				return err
			}
			for i, e := range part {
				ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
				if err != nil {
					return fmt.Errorf("at %d: %w", e.Position, err)
				}
				out[start+i] = decodedEvent{e: e, ev: ev}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func applyAll(ctx context.Context, conn *pgx.Conn, p Projection, events []decodedEvent) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	for _, d := range events {
		if err := p.Apply(ctx, tx, d.e, d.ev); err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", p.Name(), d.e.Position, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	return nil
}

// swap replaces the live tables with the rebuilt ones and sets the
// consumer group's offset to the rebuilt position, in one transaction
// that holds the offset row's lock (a live batch finishes first).
func swap(ctx context.Context, conn *pgx.Conn, p Projection, schema string, cursor eventstore.Cursor) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", p.Name(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := tx.Exec(ctx, `INSERT INTO public.watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, 0, '0') ON CONFLICT DO NOTHING`, p.Name()); err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", p.Name(), err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM public.watermill_offsets_events WHERE consumer_group = $1 FOR UPDATE`, p.Name()); err != nil {
		return fmt.Errorf("rebuild %s: swap: lock offset: %w", p.Name(), err)
	}
	for _, t := range p.Tables() {
		q := fmt.Sprintf(`DROP TABLE public.%[2]s; ALTER TABLE %[1]s.%[2]s SET SCHEMA public;`, schema, t)
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("rebuild %s: swap %s: %w", p.Name(), t, err)
		}
	}
	// The swapped-in tables have no triggers; those of them that access
	// decisions read get theirs, and every kept decision is dropped.
	if _, err := tx.Exec(ctx, `SELECT gatehouse_access_triggers($1)`, p.Tables()); err != nil {
		return fmt.Errorf("rebuild %s: swap: access triggers: %w", p.Name(), err)
	}
	if _, err := tx.Exec(ctx, `UPDATE public.watermill_offsets_events SET offset_acked = $2, last_processed_transaction_id = $3::text::xid8
		WHERE consumer_group = $1`, p.Name(), cursor.Position, fmt.Sprint(cursor.TransactionID)); err != nil {
		return fmt.Errorf("rebuild %s: swap: move offset: %w", p.Name(), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", p.Name(), err)
	}
	return nil
}

// ErrUnknownProjection is returned for a name no projection has.
var ErrUnknownProjection = errors.New("unknown projection")

// All returns every projection of the service, in the order they are run
// on each event. The chain comes first: it reads its organization's head
// at the first event of a delivery, and a read sends the rows the other
// read models left for later (PipelinedTx.Later) first. Behind them, it
// split a new user's two events into two writes of each row; first, it
// reads before anything is pending, and each row is written once, in its
// last state.
func All(store *eventstore.Store) []Projection {
	return []Projection{NewChain(), NewUsers(store), NewCompanies(), NewRoles(), NewOrgs(), NewAccess()}
}

// ByName picks projections by name; no names means all.
func ByName(store *eventstore.Store, names ...string) ([]Projection, error) {
	all := All(store)
	if len(names) == 0 {
		return all, nil
	}
	var out []Projection
	for _, n := range names {
		found := false
		for _, p := range all {
			if p.Name() == n {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%q: %w (have users, companies, roles, orgs, chain, access)", n, ErrUnknownProjection)
		}
	}
	return out, nil
}
