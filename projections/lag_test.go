package projections_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// Given a transaction that took its id first but stored its event last
// (the higher position), when a group has read both, then it is not
// behind, although its offset is below the head position.
func TestLagCountsInCommitOrder(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	insert := `INSERT INTO events (event_id, stream_id, stream_version, event_type, data, metadata) VALUES ($1, $2, 1, 'PortalEnabled', '{}', '{}') RETURNING position`
	early, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx) //nolint:errcheck
	if _, err := early.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	var late int64
	if err := pool.QueryRow(ctx, insert, uuid.New(), "late").Scan(&late); err != nil {
		t.Fatal(err)
	}
	var head int64
	if err := early.QueryRow(ctx, insert, uuid.New(), "early").Scan(&head); err != nil {
		t.Fatal(err)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// In commit order the early transaction's event comes first; a group
	// that has read up to the late one has read everything.
	if _, err := pool.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'done', position, transaction_id FROM events WHERE position = $1`, late); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id) VALUES ('new', 0, '0')`); err != nil {
		t.Fatal(err)
	}
	ps, err := projections.Positions(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	lag := map[string]int64{}
	for _, p := range ps {
		lag[p.Group] = p.Lag()
		if p.Head != head {
			t.Fatalf("head %d, want %d", p.Head, head)
		}
	}
	if late >= head || lag["done"] != 0 || lag["new"] != 2 {
		t.Fatalf("positions late %d, head %d; lag %v, want done 0 and new 2", late, head, lag)
	}
}
