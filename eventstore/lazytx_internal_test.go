package eventstore

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/migrations/dbtest"
)

func newLazyPool(t *testing.T) (lazyPool, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.NewPool(t)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE lazy_rows (n int)`); err != nil {
		t.Fatal(err)
	}
	return lazyPool{pool}, pool
}

var repeatableRead = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite}

// isolation reads the transaction's isolation level through first, the
// transaction's first statement: it is repeatable read only if the BEGIN
// went before it.
func isolation(t *testing.T, first string, tx pgx.Tx) string {
	t.Helper()
	ctx := t.Context()
	const q = `SELECT current_setting('transaction_isolation')`
	var level string
	var err error
	switch first {
	case "Query":
		rows, qerr := tx.Query(ctx, q)
		if qerr != nil {
			t.Fatal(qerr)
		}
		level, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	case "QueryRow":
		err = tx.QueryRow(ctx, q).Scan(&level)
	case "SendBatch":
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO lazy_rows VALUES (0)`)
		b.Queue(q).QueryRow(func(row pgx.Row) error { return row.Scan(&level) })
		err = tx.SendBatch(ctx, b).Close()
	case "Exec":
		if _, err = tx.Exec(ctx, `INSERT INTO lazy_rows VALUES (0)`); err == nil {
			err = tx.QueryRow(ctx, q).Scan(&level)
		}
	}
	if err != nil {
		t.Fatalf("%s first: %v", first, err)
	}
	return level
}

func countLazyRows(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM lazy_rows`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Given a transaction whose BEGIN goes with its first statement, whichever
// way that statement is sent, then it runs inside the transaction with the
// options asked for, what follows runs in the same transaction, a rollback
// undoes it and a commit keeps it, and the connection goes back to the pool.
func TestALazyTransactionBeginsWithItsFirstStatement(t *testing.T) {
	t.Parallel()
	lazy, pool := newLazyPool(t)
	ctx := t.Context()
	want := 0
	for _, first := range []string{"Query", "QueryRow", "SendBatch", "Exec"} {
		for _, commit := range []bool{false, true} {
			tx, err := lazy.BeginTx(ctx, repeatableRead)
			if err != nil {
				t.Fatal(err)
			}
			if level := isolation(t, first, tx); level != "repeatable read" {
				t.Fatalf("%s first: isolation %q, want repeatable read (the BEGIN did not go first)", first, level)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO lazy_rows VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			end := tx.Rollback
			if commit {
				end = tx.Commit
				want += 2
				if first == "Query" || first == "QueryRow" {
					want--
				}
			}
			if err := end(ctx); err != nil {
				t.Fatalf("%s first, commit %v: %v", first, commit, err)
			}
			if n := countLazyRows(t, pool); n != want {
				t.Fatalf("%s first, commit %v: %d rows, want %d", first, commit, n, want)
			}
			if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("a second end gave %v, want pgx.ErrTxClosed", err)
			}
			if n := pool.Stat().AcquiredConns(); n != 0 {
				t.Fatalf("%d connections still out of the pool", n)
			}
		}
	}
}

// Given a transaction that ran nothing, when it ends, then the connection
// goes back to the pool outside any transaction.
func TestALazyTransactionThatRanNothingEndsAtOnce(t *testing.T) {
	t.Parallel()
	lazy, pool := newLazyPool(t)
	ctx := t.Context()
	for _, end := range []func(pgx.Tx, context.Context) error{pgx.Tx.Commit, pgx.Tx.Rollback} {
		tx, err := lazy.BeginTx(ctx, repeatableRead)
		if err != nil {
			t.Fatal(err)
		}
		if status := tx.Conn().PgConn().TxStatus(); status != 'I' {
			t.Fatalf("transaction status %q before any statement, want I: BEGIN was sent alone", status)
		}
		if err := end(tx, ctx); err != nil {
			t.Fatal(err)
		}
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Fatalf("%d connections still out of the pool", n)
		}
	}
}

// Given a transaction whose first statement fails, then the error is that
// statement's, the commit reports the rollback as pgx does (watermill-sql
// passes it over), nothing is kept, and the connection is fit for reuse.
func TestALazyTransactionWhoseFirstStatementFails(t *testing.T) {
	t.Parallel()
	lazy, pool := newLazyPool(t)
	ctx := t.Context()
	tx, err := lazy.BeginTx(ctx, repeatableRead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lazy_rows VALUES (1/0)`); err == nil {
		t.Fatal("a division by zero succeeded")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lazy_rows VALUES (1)`); err == nil {
		t.Fatal("a statement after the failed one succeeded: it ran outside the transaction")
	}
	if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit gave %v, want pgx.ErrTxCommitRollback", err)
	}
	if n := countLazyRows(t, pool); n != 0 {
		t.Fatalf("%d rows kept", n)
	}
	if n := pool.Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still out of the pool", n)
	}
}
