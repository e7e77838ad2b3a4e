package eventstore

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"strings"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PipelinedTx is a transaction whose Exec does not wait: statements whose
// answer nobody reads are queued and sent together with the next statement
// that must answer (a query, the subscriber's offset update, the commit).
// A delivery of many events then costs a round trip per read instead of
// one per statement. The error of a queued statement surfaces at that next
// statement and fails the transaction, which then rolls back as a whole.
//
// Exec's arguments are encoded when the queue is sent, so callers must not
// change them after the call.
type PipelinedTx struct {
	pgx.Tx
	pending pgx.Batch
	memo    map[any]any
	// later is what handlers left to write at the last moment (see Later).
	later    []func(context.Context) error
	laterSet map[any]bool
	// committed run once the delivery has committed (see AfterCommit).
	committed []func()
}

// AfterCommit has fn run once the transaction has committed, and never if
// it does not: for what must only count work that lasted (a metric).
// Outside a subscriber's delivery (a rebuild) it never runs.
func (t *PipelinedTx) AfterCommit(fn func()) {
	t.committed = append(t.committed, fn)
}

// Later leaves a write to the last moment: write runs (and queues its
// statements) just before the transaction's next statement that is not
// itself left for later: another handler's Exec, any read, the
// subscriber's offset update or the commit. A handler collects rows under
// key meanwhile, so that the events of a batch that touch one table in a
// row become one multi-row statement instead of one statement each: most
// of a delivery's cost was the database starting and running a statement
// per event and read model. Because every other statement writes what was
// left first, the order of writes as the database sees them is the order
// in which the handlers ran. key is registered once until write runs.
func (t *PipelinedTx) Later(key any, write func(context.Context) error) {
	if t.laterSet[key] {
		return
	}
	if t.laterSet == nil {
		t.laterSet = map[any]bool{}
	}
	t.laterSet[key] = true
	t.later = append(t.later, write)
}

// writeLater runs what was left for later, in the order it was left.
func (t *PipelinedTx) writeLater(ctx context.Context) error {
	for len(t.later) > 0 {
		writes := t.later
		t.later = nil
		clear(t.laterSet)
		for _, w := range writes {
			if err := w(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Memo is where handlers keep what they learned in this transaction (a
// row they read or wrote), so that the next event of the batch need not
// read it again. It ends with the transaction: a batch read again after a
// rollback starts with an empty one.
func (t *PipelinedTx) Memo() map[any]any {
	if t.memo == nil {
		t.memo = map[any]any{}
	}
	return t.memo
}

// Exec queues the statement; its error, if any, comes with a later call.
func (t *PipelinedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.writeLater(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	t.pending.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// Flush sends what is queued and waits for it.
func (t *PipelinedTx) Flush(ctx context.Context) error {
	if err := t.writeLater(ctx); err != nil {
		return err
	}
	n := t.pending.Len()
	if n == 0 {
		return nil
	}
	b := t.pending
	t.pending = pgx.Batch{}
	br := t.Tx.SendBatch(ctx, &b)
	if err := drain(br, &b, n); err != nil {
		_ = br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("queued statements: %w", err)
	}
	return nil
}

func drain(br pgx.BatchResults, b *pgx.Batch, n int) error {
	for i := 0; i < n; i++ {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("queued statement %d of %d (%s): %w", i+1, n, firstLine(b.QueuedQueries[i].SQL), err)
		}
	}
	return nil
}

func firstLine(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, '\n'); i > 0 {
		sql = sql[:i]
	}
	return sql
}

// QueryRow sends the queued statements and the query in one round trip.
func (t *PipelinedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.writeLater(ctx); err != nil {
		return errRow{err}
	}
	if t.pending.Len() == 0 {
		return t.Tx.QueryRow(ctx, sql, args...)
	}
	br, err := t.sendWith(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return batchRow{row: br.QueryRow(), br: br}
}

// sendWith sends the queued statements and then sql in one round trip,
// and returns the results at sql's; the caller closes them.
func (t *PipelinedTx) sendWith(ctx context.Context, sql string, args ...any) (pgx.BatchResults, error) {
	b := t.pending
	t.pending = pgx.Batch{}
	n := b.Len()
	b.Queue(sql, args...)
	br := t.Tx.SendBatch(ctx, &b)
	if err := drain(br, &b, n); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

// batchRow closes its batch once scanned, as a pgx.Row must release its
// connection.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Query sends the queued statements first.
func (t *PipelinedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.Flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Query(ctx, sql, args...)
}

// SendBatch sends the queued statements first.
func (t *PipelinedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.Flush(ctx); err != nil {
		return errBatch{err}
	}
	return t.Tx.SendBatch(ctx, b)
}

// CopyFrom sends the queued statements first.
func (t *PipelinedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.Flush(ctx); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(ctx, table, columns, src)
}

// Begin sends the queued statements first; the savepoint's own statements
// are not deferred.
func (t *PipelinedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.Flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Begin(ctx)
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// pipelinedBeginner gives watermill-sql delivery transactions whose
// handlers write through a PipelinedTx; the subscriber's own offset
// update and the commit send whatever is still queued first.
type pipelinedBeginner struct {
	wsql.PgxBeginner
}

func (b pipelinedBeginner) BeginTx(ctx context.Context, options *stdsql.TxOptions) (wsql.Tx, error) {
	tx, err := b.PgxBeginner.BeginTx(ctx, options)
	if err != nil {
		return nil, err
	}
	inner := tx.(*wsql.PgxTx)
	return &deliveryTx{p: &PipelinedTx{Tx: inner.Tx}, inner: inner, ctx: ctx}, nil
}

// deliveryTx is the subscriber's side of a pipelined delivery transaction.
type deliveryTx struct {
	p     *PipelinedTx
	inner *wsql.PgxTx
	ctx   context.Context
}

// Pipelined is the transaction handlers write through.
func (d *deliveryTx) Pipelined() *PipelinedTx { return d.p }

// ExecContext is the subscriber's offset update: it goes in the same round
// trip as what the handlers queued.
func (d *deliveryTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	if err := d.p.writeLater(ctx); err != nil {
		return nil, err
	}
	if d.p.pending.Len() == 0 {
		return d.inner.ExecContext(ctx, query, args...)
	}
	br, err := d.p.sendWith(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("offset update: %w", err)
	}
	return wsql.PgxResult{CommandTag: tag}, nil
}

func (d *deliveryTx) QueryContext(ctx context.Context, query string, args ...any) (wsql.Rows, error) {
	if err := d.p.Flush(ctx); err != nil {
		return nil, err
	}
	return d.inner.QueryContext(ctx, query, args...)
}

func (d *deliveryTx) Commit() error {
	if err := d.p.Flush(d.ctx); err != nil {
		_ = d.inner.Rollback()
		return err
	}
	if err := d.inner.Commit(); err != nil {
		return err
	}
	for _, fn := range d.p.committed {
		fn()
	}
	return nil
}

func (d *deliveryTx) Rollback() error {
	d.p.pending = pgx.Batch{}
	d.p.later, d.p.laterSet, d.p.committed = nil, nil, nil
	return d.inner.Rollback()
}
