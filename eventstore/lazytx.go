package eventstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyPool is the subscribers' pool as watermill-sql's PgxBeginner sees it:
// its transactions send their BEGIN together with their first statement.
// Every delivery begins with the read of its events, so BEGIN and that read
// cost one round trip instead of two: on a small machine under load each
// round trip is a wake-up of the database's backend and of the subscriber,
// and a delivery made five.
type lazyPool struct{ *pgxpool.Pool }

func (p lazyPool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &lazyTx{conn: conn, opts: opts}, nil
}

// lazyTx is a transaction on a pooled connection whose BEGIN has not been
// sent yet: the first Exec, Query, QueryRow or SendBatch sends it in the
// same round trip (pgx.Batch.BeginTx), and pgx's transaction takes over
// from there. A transaction that ran nothing commits or rolls back without
// a word to the database.
type lazyTx struct {
	conn *pgxpool.Conn
	opts pgx.TxOptions
	// tx is pgx's transaction, once begun.
	tx     pgx.Tx
	closed bool
}

// withBegin sends b after the BEGIN and returns the results of b's own
// statements.
func (t *lazyTx) withBegin(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	all := &pgx.Batch{}
	all.BeginTx(t.opts)
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, all)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

// beginWith sends the BEGIN and one statement.
func (t *lazyTx) beginWith(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return t.withBegin(ctx, b)
}

// begun is pgx's transaction, BEGIN sent alone if it was still to be sent,
// for what cannot share a batch with it.
func (t *lazyTx) begun(ctx context.Context) (pgx.Tx, error) {
	if t.tx != nil || t.closed {
		return t.tx, nil
	}
	br, err := t.withBegin(ctx, &pgx.Batch{})
	if err != nil {
		return nil, err
	}
	return t.tx, br.Close()
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.tx != nil {
		return t.tx.Exec(ctx, sql, args...)
	}
	br, err := t.beginWith(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.tx != nil {
		return t.tx.Query(ctx, sql, args...)
	}
	br, err := t.beginWith(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.tx != nil {
		return t.tx.QueryRow(ctx, sql, args...)
	}
	rows, err := t.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.tx != nil {
		return t.tx.SendBatch(ctx, b)
	}
	br, err := t.withBegin(ctx, b)
	if err != nil {
		return errBatch{err}
	}
	return br
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return 0, err
	}
	if tx == nil {
		return 0, pgx.ErrTxClosed
	}
	return tx.CopyFrom(ctx, table, columns, src)
}

func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// Begin starts a savepoint.
func (t *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, pgx.ErrTxClosed
	}
	return tx.Begin(ctx)
}

func (t *lazyTx) LargeObjects() pgx.LargeObjects {
	if tx, err := t.begun(context.Background()); err == nil && tx != nil {
		return tx.LargeObjects()
	}
	return pgx.LargeObjects{}
}

func (t *lazyTx) Conn() *pgx.Conn { return t.conn.Conn() }

func (t *lazyTx) Commit(ctx context.Context) error {
	return t.end(func(tx pgx.Tx) error { return tx.Commit(ctx) })
}

func (t *lazyTx) Rollback(ctx context.Context) error {
	return t.end(func(tx pgx.Tx) error { return tx.Rollback(ctx) })
}

// end commits or rolls back pgx's transaction, if begun, and gives the
// connection back to the pool, which closes it should it be left in a
// transaction or busy.
func (t *lazyTx) end(how func(pgx.Tx) error) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	defer t.conn.Release()
	if t.tx == nil {
		return nil
	}
	return how(t.tx)
}

// batchRows are the rows of a batch's last statement; once read to the
// end or closed, they close the batch, which frees the connection.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	finished bool
	closeErr error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.finish()
}

func (r *batchRows) finish() {
	if r.finished {
		return
	}
	r.finished = true
	r.Rows.Close()
	r.closeErr = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// firstRow is pgx.Row over rows, as pgx's own QueryRow gives it.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
