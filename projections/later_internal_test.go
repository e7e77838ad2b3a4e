package projections

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

type laterRow struct {
	k string
	n int
}

// Given rows left for later under two keys, one of them twice, when
// another statement comes, then one write of the latest rows runs before
// it; rows left after that are written by a write of their own.
func TestRowsLeftForLaterAreWrittenOnceBeforeTheNextStatement(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE later_rows (k text PRIMARY KEY, n int)`); err != nil {
		t.Fatal(err)
	}
	inner, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inner.Rollback(ctx) }()
	tx := &eventstore.PipelinedTx{Tx: inner}
	var writes [][]laterRow
	write := func(ctx context.Context, tx pgx.Tx, rows []laterRow) error {
		writes = append(writes, append([]laterRow(nil), rows...))
		ks, ns := make([]string, len(rows)), make([]int, len(rows))
		for i, r := range rows {
			ks[i], ns[i] = r.k, r.n
		}
		_, err := tx.Exec(ctx, `INSERT INTO later_rows SELECT * FROM unnest($1::text[], $2::int[])
			ON CONFLICT (k) DO UPDATE SET n = excluded.n`, ks, ns)
		return err
	}
	type kind struct{}
	for _, r := range []laterRow{{"a", 1}, {"b", 1}, {"a", 2}} {
		if err := writeLater(ctx, tx, kind{}, r.k, r, write); err != nil {
			t.Fatal(err)
		}
	}
	if len(writes) != 0 {
		t.Fatalf("written before any other statement: %v", writes)
	}
	// The next statement depends on the rows: it must see them.
	if _, err := tx.Exec(ctx, `UPDATE later_rows SET n = n * 10 WHERE k = 'a'`); err != nil {
		t.Fatal(err)
	}
	if err := writeLater(ctx, tx, kind{}, "c", laterRow{"c", 3}, write); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := tx.QueryRow(ctx, `SELECT sum(n) FROM later_rows`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 20+1+3 {
		t.Fatalf("sum %d, want 24 (a written as 2 before being multiplied, then b and c)", sum)
	}
	if len(writes) != 2 || len(writes[0]) != 2 || writes[0][0] != (laterRow{"a", 2}) || writes[0][1] != (laterRow{"b", 1}) ||
		len(writes[1]) != 1 || writes[1][0] != (laterRow{"c", 3}) {
		t.Fatalf("writes %v, want [[a:2 b:1] [c:3]]", writes)
	}
}

// Outside a pipelined delivery a row is written at once.
func TestRowsOutsideADeliveryAreWrittenAtOnce(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	n := 0
	err = writeLater(ctx, tx, struct{}{}, "a", 1, func(context.Context, pgx.Tx, []int) error { n++; return nil })
	if err != nil || n != 1 {
		t.Fatalf("written %d times (%v), want once at once", n, err)
	}
}
