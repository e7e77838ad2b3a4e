package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// RebuildProgress reports how far a rebuild is: events read so far, of
// about total.
type RebuildProgress func(done, total int64)

// RebuildResult describes a finished rebuild.
type RebuildResult struct {
	Projection string
	Events     int64
	Duration   time.Duration
	Position   int64
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
	start := time.Now()
	res := RebuildResult{Projection: p.Name()}
	pool := store.Pool()
	schema := "rebuild_" + p.Name()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	defer conn.Release()
	// The connection's search_path points the projection's unqualified
	// table names at the new tables; it is reset before release.
	defer conn.Exec(context.WithoutCancel(ctx), `RESET search_path`) //nolint:errcheck
	setup := fmt.Sprintf(`DROP SCHEMA IF EXISTS %[1]s CASCADE; CREATE SCHEMA %[1]s;`, schema)
	for _, t := range p.Tables() {
		setup += fmt.Sprintf(` CREATE TABLE %[1]s.%[2]s (LIKE public.%[2]s INCLUDING ALL);`, schema, t)
	}
	setup += fmt.Sprintf(` SET search_path TO %s, public;`, schema)
	if _, err := conn.Exec(ctx, setup); err != nil {
		return res, fmt.Errorf("rebuild %s: prepare tables: %w", p.Name(), err)
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) //nolint:errcheck

	var total int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&total); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	// Everything up to the head is covered by the scan (events of other
	// kinds included, which the projection ignores), so the consumer group
	// goes on from there, not from the last event of its own kind.
	head, err := store.HeadCursor(ctx)
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	fold := Fold(nil)
	if f, ok := p.(Folder); ok {
		fold = f.Fold()
	}
	// Read the log up to now, one batch ahead of the folding: reading waits
	// on the database, folding on the CPU. With a fold, rows build up in
	// memory and are written with one COPY; without, events are applied in
	// batches.
	filter := eventstore.ScanFilter{StreamPrefix: p.StreamPrefix()}
	if m, ok := p.(interface{ ScanMetadata() bool }); ok {
		filter.RawMetadata = m.ScanMetadata()
	}
	batches := make(chan []eventstore.RecordedEvent, 2)
	readErr := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		defer close(batches)
		var cursor eventstore.Cursor
		for {
			events, err := store.Scan(readCtx, cursor, rebuildBatch, filter)
			if err == nil {
				err = revealInParallel(readCtx, store, events)
			}
			if err != nil {
				readErr <- fmt.Errorf("rebuild %s: %w", p.Name(), err)
				return
			}
			if len(events) == 0 {
				return
			}
			select {
			case batches <- events:
			case <-readCtx.Done():
				return
			}
			if len(events) < rebuildBatch {
				return
			}
			cursor = eventstore.After(events[len(events)-1])
		}
	}()
	var cursor eventstore.Cursor
	for events := range batches {
		if fold != nil {
			for _, e := range events {
				ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
				if err != nil {
					return res, fmt.Errorf("rebuild %s at %d: %w", p.Name(), e.Position, err)
				}
				if err := fold.Add(e, ev); err != nil {
					return res, fmt.Errorf("rebuild %s at %d: %w", p.Name(), e.Position, err)
				}
			}
		} else if err := applyAll(ctx, conn.Conn(), p, events); err != nil {
			return res, err
		}
		cursor = eventstore.After(events[len(events)-1])
		res.Events += int64(len(events))
		if progress != nil {
			progress(res.Events, max(total, res.Events))
		}
	}
	select {
	case err := <-readErr:
		return res, err
	default:
	}
	if fold != nil {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
		if err := fold.Flush(ctx, tx); err != nil {
			_ = tx.Rollback(ctx)
			return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
		if err := tx.Commit(ctx); err != nil {
			return res, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
	}
	// Fresh tables have no planner statistics; without them the first
	// queries after the swap pick poor plans.
	for _, t := range p.Tables() {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`ANALYZE %s.%s`, schema, t)); err != nil {
			return res, fmt.Errorf("rebuild %s: analyze %s: %w", p.Name(), t, err)
		}
	}
	cursor = eventstore.Later(cursor, head)
	if err := swap(ctx, conn.Conn(), p, schema, cursor); err != nil {
		return res, err
	}
	res.Duration, res.Position = time.Since(start), cursor.Position
	return res, nil
}

// revealInParallel reveals a batch's personal fields on every core:
// decrypting and re-encoding them is most of a rebuild's reading.
func revealInParallel(ctx context.Context, store *eventstore.Store, events []eventstore.RecordedEvent) error {
	parts := runtime.GOMAXPROCS(0)
	if parts < 2 || len(events) < 2*parts {
		return store.Reveal(ctx, events)
	}
	size := (len(events) + parts - 1) / parts
	g, gctx := errgroup.WithContext(ctx)
	for start := 0; start < len(events); start += size {
		part := events[start:min(start+size, len(events))]
		g.Go(func() error { return store.Reveal(gctx, part) })
	}
	return g.Wait()
}

func applyAll(ctx context.Context, conn *pgx.Conn, p Projection, events []eventstore.RecordedEvent) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	for _, e := range events {
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", p.Name(), e.Position, err)
		}
		if err := p.Apply(ctx, tx, e, ev); err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", p.Name(), e.Position, err)
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

// All returns every projection of the service, in the order they are run.
func All(store *eventstore.Store) []Projection {
	return []Projection{NewUsers(store), NewCompanies(), NewRoles(), NewOrgs(), NewChain(), NewAccess()}
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
