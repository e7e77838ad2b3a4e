package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

// Readiness fails while a read model is further behind than allowed.
func TestReadinessReportsALaggingReadModel(t *testing.T) {
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	store := eventstore.New(pool)
	for i := 0; i < 5; i++ {
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: i,
			Events: []eventstore.NewEvent{{ID: uuid.New(), Type: "PortalEnabled", Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO watermill_offsets_events VALUES ('users', 0, '0')`); err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{"users": true}
	if err := ready(ctx, pool, 10, mine); err != nil {
		t.Fatalf("5 behind with a limit of 10: %v", err)
	}
	err := ready(ctx, pool, 3, mine)
	if err == nil || !strings.Contains(err.Error(), "users is 5 events behind") {
		t.Fatalf("5 behind with a limit of 3: %v", err)
	}
	// A group this process does not run (read models moved to workers)
	// does not make it unready.
	if err := ready(ctx, pool, 3, map[string]bool{"nats-relay": true}); err != nil {
		t.Fatalf("a group run elsewhere: %v", err)
	}
}
