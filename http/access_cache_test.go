package http_test

import (
	"context"
	"testing"

	"gatehouse/eventstore"
	"gatehouse/projections"
)

// GET /access answers from the server's cache (projections.AccessCache),
// and the cache forgets a decision as soon as anything it was read from
// changes, whoever changes it: here the read models' rows are also changed
// by hand, as a worker in another process or a repair would, and after a
// rebuild has swapped in new tables.
func TestAccessCacheAnswersAndForgets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	role := o.staff("POST", "/roles", map[string]any{"name": "Closer", "permissions": map[string]bool{"close_tickets": true}}).json(t)["id"].(string)
	ada := o.activeUser(company, "ada@globex.test", map[string]any{"role_id": role})
	bob := o.activeUser(company, "bob@globex.test", nil)
	h.caughtUp(t)
	ctx := context.Background()

	lookups := func(result string) float64 {
		return metric(t, string(h.do("GET", "/metrics", "", nil).body), `gatehouse_access_cache_lookups_total{result="`+result+`"}`)
	}
	decision := func(id string) map[string]any { return o.staff("GET", "/access/"+id, nil).json(t) }
	allowed := func(id string) bool { return decision(id)["allowed"] == true }
	// kept waits until a decision is answered from the cache, so that what
	// follows shows the cache forgetting it, not a first read.
	kept := func(id string, want bool) {
		t.Helper()
		eventually(t, "a decision answered from the cache", func() bool {
			before := lookups("hit")
			if allowed(id) != want {
				t.Fatalf("decision for %s: allowed %v before the change", id, !want)
			}
			return lookups("hit") > before
		})
	}
	sql := func(q string, args ...any) {
		t.Helper()
		if _, err := h.pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}

	kept(ada, true)
	kept(bob, true)
	sql(`UPDATE users_view SET status = 'deactivated' WHERE user_id = $1`, ada)
	eventually(t, "a user's row changed by hand", func() bool { return !allowed(ada) })
	kept(bob, true) // only the changed user was forgotten... or read again
	sql(`UPDATE users_view SET status = 'active' WHERE user_id = $1`, ada)
	eventually(t, "the row changed back", func() bool { return allowed(ada) })

	kept(ada, true)
	sql(`UPDATE companies_view SET portal_active = false WHERE company_id = $1`, company)
	eventually(t, "the company's portal switched off by hand", func() bool { return !allowed(ada) && !allowed(bob) })
	sql(`UPDATE companies_view SET portal_active = true WHERE company_id = $1`, company)
	// The change back reaches the cache by a notification of its own: until
	// it arrives, the cache may still answer the refusal it kept.
	eventually(t, "the company's portal switched on again", func() bool { return allowed(ada) && allowed(bob) })
	kept(ada, true)
	sql(`UPDATE orgs_view SET portal_enabled = false WHERE org_id = $1`, o.id)
	eventually(t, "the portal switched off by hand", func() bool { return !allowed(ada) })
	sql(`UPDATE orgs_view SET portal_enabled = true WHERE org_id = $1`, o.id)
	eventually(t, "the portal switched on again", func() bool { return allowed(ada) })

	// Through the API: a role's permissions.
	kept(ada, true)
	if p := decision(ada)["permissions"].(map[string]any); p["close_tickets"] != true {
		t.Fatalf("permissions from the role: %v", p)
	}
	if r := o.staff("PATCH", "/roles/"+role, map[string]any{"permissions": map[string]bool{"close_tickets": false}}); r.status != 200 {
		t.Fatalf("change role: %d %s", r.status, r.body)
	}
	eventually(t, "the role's permission withdrawn", func() bool {
		return decision(ada)["permissions"].(map[string]any)["close_tickets"] == false
	})

	// A user that did not exist when asked for exists once created.
	missing := "0190a000-0000-7000-8000-00000000abcd"
	for range 2 {
		o.staff("GET", "/access/"+missing, nil).problem(t, 404, "user_not_found")
	}
	sql(`INSERT INTO users_view (user_id, org_id, company_id, first_name, last_name, email, status, portal_access, version, created_at, updated_at)
		SELECT $1, org_id, company_id, 'New', 'User', 'new@globex.test', 'active', true, 1, now(), now() FROM users_view WHERE user_id = $2`, missing, ada)
	eventually(t, "a user inserted by hand", func() bool { return o.staff("GET", "/access/"+missing, nil).status == 200 })

	// A rebuild swaps in tables of its own: they get the triggers too.
	kept(ada, true)
	store := eventstore.New(h.pool)
	if _, err := projections.Rebuild(ctx, store, projections.NewUsers(store), nil); err != nil {
		t.Fatal(err)
	}
	var triggers int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users_view'::regclass AND NOT tgisinternal`).Scan(&triggers); err != nil || triggers != 3 {
		t.Fatalf("triggers on the rebuilt users_view: %d %v", triggers, err)
	}
	kept(ada, true)
	sql(`UPDATE users_view SET status = 'deactivated' WHERE user_id = $1`, ada)
	eventually(t, "a rebuilt user's row changed by hand", func() bool { return !allowed(ada) })
	if lookups("bypass") != 0 {
		t.Logf("%v lookups bypassed the cache (the listener reconnected)", lookups("bypass"))
	}
}
