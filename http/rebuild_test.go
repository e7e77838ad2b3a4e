package http_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/eventstore"
	"gatehouse/projections"
)

// caughtUp waits until every read model has applied the whole log.
func (h *harness) caughtUp(t *testing.T) {
	t.Helper()
	eventually(t, "read models caught up", func() bool {
		ps, err := projections.Positions(context.Background(), h.pool)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Lag() != 0 {
				return false
			}
		}
		return len(ps) >= 6
	})
}

// snapshot reads every row of the read models, in key order, as JSON.
func (h *harness) snapshot(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, key := range map[string]string{"users_view": "user_id", "companies_view": "company_id", "roles_view": "role_id", "orgs_view": "org_id",
		"access_users": "user_id", "access_intervals": "user_id, valid_from", "event_chain": "position"} {
		rows, err := h.pool.Query(context.Background(), `SELECT to_jsonb(t)::text FROM `+table+` t ORDER BY `+key)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], s)
		}
		rows.Close()
	}
	return out
}

func sameRows(t *testing.T, live, rebuilt map[string][]string) {
	t.Helper()
	for table, rows := range live {
		if len(rows) != len(rebuilt[table]) {
			t.Fatalf("%s: %d live rows, %d rebuilt", table, len(rows), len(rebuilt[table]))
		}
		for i := range rows {
			if rows[i] != rebuilt[table][i] {
				t.Fatalf("%s row %d differs:\nlive    %s\nrebuilt %s", table, i, rows[i], rebuilt[table][i])
			}
		}
	}
}

// lifecycleState drives every kind of event through the API.
func lifecycleState(t *testing.T, o *org) {
	company := o.setup()
	parent := o.staff("POST", "/companies", map[string]any{"name": "Holding", "properties": map[string]any{"tier": "gold"}}).json(t)["id"].(string)
	o.staff("PATCH", "/companies/"+company, map[string]any{"parent_id": parent, "permissions": map[string]bool{"see_agents": true}})
	role := o.staff("POST", "/roles", map[string]any{"name": "Super", "permissions": map[string]bool{"manage_users": true}}).json(t)["id"].(string)
	o.staff("PATCH", "/roles/"+role, map[string]any{"permissions": map[string]bool{"manage_users": true, "close_tickets": true}})
	active := o.activeUser(company, "active@globex.test", map[string]any{"role_id": role})
	invited := o.createUser(company, "invited@globex.test")
	o.invite(invited)
	o.invite(invited)
	gone := o.activeUser(company, "gone@globex.test", nil)
	o.staff("DELETE", "/users/"+gone, nil)
	off := o.activeUser(company, "off@globex.test", nil)
	o.staff("POST", "/users/"+off+"/deactivate", map[string]any{"reason": "left"})
	o.staff("PATCH", "/users/"+active, map[string]any{"last_name": "Renamed", "email": "renamed@globex.test", "permissions": map[string]bool{"see_agents": false}})
	o.staff("POST", "/users", map[string]any{"first_name": "No", "last_name": "Access", "company_id": parent})
	o.staff("POST", "/portal/disable", nil)
	o.staff("POST", "/portal/enable", nil)
}

func TestRebuildEqualsLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lifecycleState(t, h.newOrg("acme"))
	lifecycleState(t, h.newOrg("umbrella"))
	h.caughtUp(t)
	live := h.snapshot(t)
	if len(live["users_view"]) != 10 || len(live["companies_view"]) != 4 || len(live["orgs_view"]) != 2 {
		t.Fatalf("unexpected live state: %d users, %d companies, %d orgs", len(live["users_view"]), len(live["companies_view"]), len(live["orgs_view"]))
	}
	store := eventstore.New(h.pool)
	for _, p := range projections.All(store) {
		var calls int
		res, err := projections.Rebuild(context.Background(), store, p, func(done, total int64) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if res.Events == 0 || calls == 0 {
			t.Fatalf("%s: rebuilt from %d events, %d progress reports", p.Name(), res.Events, calls)
		}
		// The group goes on from the head of the log, not from the last
		// event of the projection's own kind (which it would otherwise
		// have to wade through the rest of the log to pass).
		var head int64
		if err := h.pool.QueryRow(context.Background(), `SELECT max(position) FROM events`).Scan(&head); err != nil {
			t.Fatal(err)
		}
		if res.Position != head {
			t.Fatalf("%s: rebuilt up to %d, the log ends at %d", p.Name(), res.Position, head)
		}
	}
	sameRows(t, live, h.snapshot(t))
	// The live projections go on from the rebuilt position.
	o := h.newOrg("after")
	c := o.setup()
	o.createUser(c, "later@after.test")
	h.caughtUp(t)
	if got := len(h.snapshot(t)["users_view"]); got != 11 {
		t.Fatalf("%d users after the switch, want 11", got)
	}
	var leftovers int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'`).Scan(&leftovers); err != nil || leftovers != 0 {
		t.Fatalf("%d rebuild schemas left behind (%v)", leftovers, err)
	}
}

// indexes lists the read models' indexes as PostgreSQL would recreate
// them.
func (h *harness) indexes(t *testing.T) []string {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
		AND tablename IN ('users_view', 'access_users', 'access_intervals', 'access_orgs', 'access_companies', 'event_chain', 'chain_heads', 'companies_view')
		ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestRebuildAllAtOnceEqualsLive rebuilds every read model from one read
// of the log: the same rows, and the same indexes under the same names
// (a fold's tables get theirs after the COPY).
func TestRebuildAllAtOnceEqualsLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lifecycleState(t, h.newOrg("acme"))
	lifecycleState(t, h.newOrg("umbrella"))
	h.caughtUp(t)
	live, liveIndexes := h.snapshot(t), h.indexes(t)
	store := eventstore.New(h.pool)
	var calls int
	results, err := projections.RebuildAll(context.Background(), store, projections.All(store), func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	var head int64
	if err := h.pool.QueryRow(context.Background(), `SELECT max(position) FROM events`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if len(results) != len(projections.All(store)) || calls == 0 {
		t.Fatalf("%d results, %d progress reports", len(results), calls)
	}
	for _, res := range results {
		if res.Events == 0 || res.Position != head {
			t.Fatalf("%s: %d events, up to %d (the log ends at %d)", res.Projection, res.Events, res.Position, head)
		}
	}
	sameRows(t, live, h.snapshot(t))
	if got := h.indexes(t); strings.Join(got, "\n") != strings.Join(liveIndexes, "\n") {
		t.Fatalf("indexes after the rebuild:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(liveIndexes, "\n"))
	}
	if len(liveIndexes) < 15 {
		t.Fatalf("only %d indexes listed", len(liveIndexes))
	}
	o := h.newOrg("after")
	o.createUser(o.setup(), "later@after.test")
	h.caughtUp(t)
	if got := len(h.snapshot(t)["users_view"]); got != 11 {
		t.Fatalf("%d users after the switch, want 11", got)
	}
}

func TestRebuildWhileCommandsArrive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("busy")
	company := o.setup()
	for i := 0; i < 30; i++ {
		o.createUser(company, fmt.Sprintf("before%d@busy.test", i))
	}
	var created atomic.Int64
	created.Store(30)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := o.staff("POST", "/users", map[string]any{"first_name": "During", "last_name": fmt.Sprint(i), "email": fmt.Sprintf("during%d-%d@busy.test", w, i), "company_id": company})
				if r.status == 201 {
					created.Add(1)
					if i%3 == 0 {
						o.staff("POST", "/users/"+r.json(t)["id"].(string)+"/deactivate", nil)
					}
				}
			}
		}()
	}
	store := eventstore.New(h.pool)
	users := projections.NewUsers(store)
	for round := 0; round < 3; round++ {
		if _, err := projections.Rebuild(context.Background(), store, users, nil); err != nil {
			t.Fatal(err)
		}
		// And every read model at once, from one read of the log.
		if _, err := projections.RebuildAll(context.Background(), store, projections.All(store), nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	h.caughtUp(t)
	live := h.snapshot(t)
	if got := int64(len(live["users_view"])); got != created.Load() {
		t.Fatalf("%d users in the read model, %d created", got, created.Load())
	}
	if _, err := projections.Rebuild(context.Background(), store, users, nil); err != nil {
		t.Fatal(err)
	}
	sameRows(t, live, h.snapshot(t))
	if !strings.Contains(live["users_view"][0], "user_id") {
		t.Fatal("snapshot holds no rows")
	}
}
