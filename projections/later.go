package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/eventstore"
)

// pendingRows are the rows of one table that a delivery left for one
// multi-row write at its end (eventstore.PipelinedTx.Later), one per key:
// a later row of the same key (the same user, created then invited)
// replaces the earlier, since each carries the whole row.
type pendingRows[R any] struct {
	at   map[string]int
	rows []R
}

// writeLater has row written with the others of its kind at the end of the
// delivery, or before the delivery's next statement of another kind,
// whichever comes first: write gets them all at once. Outside a pipelined
// delivery (a rebuild's applied read model, a plain transaction) it is written at
// once, alone.
func writeLater[R any](ctx context.Context, tx pgx.Tx, kind any, key string, row R, write func(context.Context, pgx.Tx, []R) error) error {
	p, ok := tx.(*eventstore.PipelinedTx)
	if !ok {
		return write(ctx, tx, []R{row})
	}
	memo := p.Memo()
	pending, ok := memo[kind].(*pendingRows[R])
	if !ok {
		pending = &pendingRows[R]{at: map[string]int{}}
		memo[kind] = pending
		p.Later(kind, func(ctx context.Context) error {
			delete(memo, kind)
			return write(ctx, p, pending.rows)
		})
	}
	if i, seen := pending.at[key]; seen {
		pending.rows[i] = row
		return nil
	}
	pending.at[key] = len(pending.rows)
	pending.rows = append(pending.rows, row)
	return nil
}

// unnestInsert is `INSERT INTO table (columns) SELECT ... FROM unnest(...)`,
// one array parameter per column, each cast to its type, so that any
// number of rows is one statement with one plan; suffix follows (ON
// CONFLICT ...). Ids travel as text arrays, cast in the statement: pgx
// cannot put a Go string into a binary uuid array, and the failed attempt
// (with its error message) before the text fallback cost more than the
// encoding itself.
func unnestInsert(table string, columns, types []string, suffix string) string {
	params := make([]string, len(types))
	values := make([]string, len(types))
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = fmt.Sprintf("c%d", i+1)
		values[i] = names[i]
		wire := t
		if t == "uuid" {
			wire, values[i] = "text", names[i]+"::uuid"
		}
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, wire)
	}
	return `INSERT INTO ` + table + ` (` + strings.Join(columns, ", ") + `) SELECT ` + strings.Join(values, ", ") +
		` FROM unnest(` + strings.Join(params, ", ") + `) AS r(` + strings.Join(names, ", ") + `) ` + suffix
}

// columnArrays turns rows of values into one array argument per column,
// for unnestInsert.
func columnArrays(rows [][]any, columns int) []any {
	cols := make([][]any, columns)
	for c := range cols {
		cols[c] = make([]any, len(rows))
	}
	for r, row := range rows {
		for c, v := range row {
			cols[c][r] = v
		}
	}
	args := make([]any, columns)
	for c := range cols {
		args[c] = cols[c]
	}
	return args
}
