package projections_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// Many writers at once (their appends grouped into shared commits that
// finish out of order) while the read models run: every event is applied
// exactly once, none is passed over.
func TestNoEventIsSkippedUnderConcurrentGroupCommits(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE counted (n int); INSERT INTO counted VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	var reacted atomic.Int64
	react := func(context.Context, eventstore.RecordedEvent, domain.Event) error {
		reacted.Add(1)
		time.Sleep(100 * time.Microsecond)
		return nil
	}
	runWithReactions(t, store, map[string]projections.Reaction{"reaction-a": react, "reaction-b": react}, tally{"counted"})
	const writers, each = 24, 100
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := uuid.NewString()
			for i := range each {
				if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: i,
					Events: []eventstore.NewEvent{{ID: uuid.New(), Type: "PortalEnabled", Data: []byte(`{}`)}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute) // generous: the race detector and parallel tests slow it down
	var n int
	for time.Now().Before(deadline) {
		if err := pool.QueryRow(ctx, `SELECT n FROM counted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == writers*each && reacted.Load() == 2*writers*each {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var behind int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM events e, watermill_offsets_events o WHERE o.consumer_group = 'counted'
		AND (e.transaction_id, e.position) > (o.last_processed_transaction_id, o.offset_acked)`).Scan(&behind)
	t.Fatalf("%d of %d events applied, %d reactions of %d; %d stored after the offset", n, writers*each, reacted.Load(), 2*writers*each, behind)
}
