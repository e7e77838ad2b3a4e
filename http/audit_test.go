package http_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/projections"
)

func TestUserHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	id := o.activeUser(company, "ada@globex.test", nil)
	o.staff("PATCH", "/users/"+id, map[string]any{"last_name": "Byron"})
	o.staff("POST", "/users/"+id+"/deactivate", map[string]any{"reason": "left"})
	o.staff("POST", "/users/"+id+"/reactivate", nil)
	o.staff("DELETE", "/users/"+id, map[string]any{"reason": "request"})
	r := o.staff("GET", "/users/"+id+"/history", nil)
	if r.status != 200 {
		t.Fatalf("history: %d %s", r.status, r.body)
	}
	items := r.json(t)["items"].([]any)
	want := []string{"UserCreated", "InvitationSent", "InvitationAccepted", "PasswordSet", "UserUpdated", "UserDeactivated", "UserReactivated", "UserRemoved"}
	if len(items) != len(want) {
		t.Fatalf("%d history items: %s", len(items), r.body)
	}
	var prev float64
	for i, it := range items {
		m := it.(map[string]any)
		if m["type"] != want[i] || m["position"].(float64) <= prev || m["stream_version"] != float64(i+1) {
			t.Fatalf("item %d: %v", i, m)
		}
		prev = m["position"].(float64)
	}
	first := items[0].(map[string]any)
	if a := first["actor"].(map[string]any); a["kind"] != "staff" || !strings.HasPrefix(a["name"].(string), "admin ") || first["trigger"] != "manual" {
		t.Fatalf("creation actor: %v", first)
	}
	accept := items[2].(map[string]any)
	if accept["actor"].(map[string]any)["kind"] != "portal_user" || accept["trigger"] != "portal" {
		t.Fatalf("acceptance actor: %v", accept)
	}
	if d := items[3].(map[string]any)["data"].(map[string]any); d["password_hash"] != "[secret]" {
		t.Fatalf("password hash shown: %v", d)
	}
	if d := items[1].(map[string]any)["data"].(map[string]any); d["token_hash"] != "[secret]" {
		t.Fatalf("token hash shown: %v", d)
	}
	if d := items[5].(map[string]any)["data"].(map[string]any); d["reason"] != "left" {
		t.Fatalf("deactivation reason: %v", d)
	}
	h.newOrg("other").staff("GET", "/users/"+id+"/history", nil).problem(t, 404, "user_not_found")
}

func TestAuditEventsPageInCommitOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	other := h.newOrg("other")
	company := o.setup()
	for i := 0; i < 5; i++ {
		o.createUser(company, fmt.Sprintf("u%d@globex.test", i))
	}
	otherCompany := other.setup()
	var total int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE org_id = $1`, o.id).Scan(&total); err != nil {
		t.Fatal(err)
	}
	var seen []float64
	from := "0"
	// The log is served below the oldest open transaction on the server,
	// so a parallel test's transaction can hold the last page back a moment.
	eventually(t, "every event paged", func() bool {
		for pages := 0; pages < 50; pages++ {
			r := o.staff("GET", "/audit/events?limit=3&from_position="+from, nil).json(t)
			for _, it := range r["items"].([]any) {
				seen = append(seen, it.(map[string]any)["position"].(float64))
				from = fmt.Sprint(int64(seen[len(seen)-1]))
			}
			if _, ok := r["next_position"].(float64); !ok {
				break
			}
		}
		return len(seen) >= total
	})
	if len(seen) != total {
		t.Fatalf("paged %d events, the organization has %d", len(seen), total)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("not in order: %v", seen)
		}
	}
	r := o.staff("GET", "/audit/events?type=UserCreated,CompanyCreated", nil).json(t)
	if n := len(r["items"].([]any)); n != 6 {
		t.Fatalf("type filter gave %d events", n)
	}
	var otherPos int64
	if err := h.pool.QueryRow(t.Context(), `SELECT position FROM events WHERE stream_id = $1`, "company-"+otherCompany).Scan(&otherPos); err != nil {
		t.Fatal(err)
	}
	o.staff("GET", fmt.Sprintf("/audit/events?from_position=%d", otherPos), nil).problem(t, 422, "validation_failed")
	o.staff("GET", "/audit/events?limit=0", nil).problem(t, 422, "validation_failed")
}

func TestAccessAtAnInstant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	at := map[string]time.Time{}
	mark := func(name string) {
		h.clock.Advance(time.Minute)
		at[name] = h.clock.Now()
		h.clock.Advance(time.Minute)
	}
	mark("before")
	ada := o.createUser(company, "ada@globex.test")
	mark("created")
	path := o.invite(ada)
	h.do("POST", path+"/accept", "", map[string]any{"password": password})
	mark("active")
	o.staff("POST", "/users/"+ada+"/deactivate", nil)
	mark("deactivated")
	o.staff("POST", "/users/"+ada+"/reactivate", nil)
	mark("reactivated")
	o.staff("POST", "/companies/"+company+"/portal/deactivate", nil)
	mark("company off")
	o.staff("POST", "/companies/"+company+"/portal/activate", nil)
	role := o.staff("POST", "/roles", map[string]any{"name": "Closer", "permissions": map[string]bool{"close_tickets": true}}).json(t)["id"].(string)
	o.staff("PATCH", "/users/"+ada, map[string]any{"role_id": role})
	mark("company on, with role")
	o.staff("POST", "/portal/disable", nil)
	mark("portal off")
	o.staff("POST", "/portal/enable", nil)
	o.staff("DELETE", "/users/"+ada+"/portal-access", nil)
	mark("access revoked")

	want := map[string]bool{"before": false, "created": false, "active": true, "deactivated": false, "reactivated": true,
		"company off": false, "company on, with role": true, "portal off": false, "access revoked": false}
	// The intervals read model and the replay give the same answer at every instant.
	h.caughtUp(t)
	store := eventstore.New(h.pool)
	for name, instant := range at {
		fast, err := projections.AccessAtFast(context.Background(), h.pool, domain.OrgID(o.id), instant, "")
		if err != nil {
			t.Fatal(err)
		}
		replay, err := projections.AccessAt(context.Background(), store, domain.OrgID(o.id), instant, "")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(accessFacts(fast)) != fmt.Sprint(accessFacts(replay)) {
			t.Errorf("%s: intervals %v, replay %v", name, accessFacts(fast), accessFacts(replay))
		}
	}
	for name, allowed := range want {
		r := o.staff("GET", "/audit/access?at="+at[name].Format(time.RFC3339Nano), nil)
		items := r.json(t)["items"].([]any)
		if (len(items) == 1) != allowed {
			t.Errorf("%s: %d users with access, want allowed=%v", name, len(items), allowed)
		}
		one := o.staff("GET", "/audit/access?user_id="+ada+"&at="+at[name].Format(time.RFC3339Nano), nil).json(t)["items"].([]any)
		if len(one) != len(items) {
			t.Errorf("%s: user filter disagrees", name)
		}
	}
	r := o.staff("GET", "/audit/access?at="+at["company on, with role"].Format(time.RFC3339Nano), nil).json(t)["items"].([]any)
	if p := r[0].(map[string]any)["permissions"].(map[string]any); p["close_tickets"] != true {
		t.Fatalf("permissions then: %v", p)
	}
	r = o.staff("GET", "/audit/access?at="+at["reactivated"].Format(time.RFC3339Nano), nil).json(t)["items"].([]any)
	if p := r[0].(map[string]any)["permissions"].(map[string]any); p["close_tickets"] != false {
		t.Fatalf("permissions before the role: %v", p)
	}
	o.staff("GET", "/audit/access?at=yesterday", nil).problem(t, 422, "validation_failed")

	// The answer is the replay of the events up to the instant, through the
	// domain, and it agrees with the live access decision now.
	now, err := projections.AccessAt(context.Background(), eventstore.New(h.pool), domain.OrgID(o.id), h.clock.Now().Add(time.Hour), "")
	if err != nil || len(now) != 0 {
		t.Fatalf("replay now: %v %v", now, err)
	}
	eventually(t, "live decision agrees", func() bool { return o.staff("GET", "/access/"+ada, nil).json(t)["allowed"] == false })
}

func TestHashChainDetectsTampering(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*harness, *org) {
		h := newHarness(t)
		o := h.newOrg("acme")
		company := o.setup()
		for i := 0; i < 4; i++ {
			o.createUser(company, fmt.Sprintf("u%d@globex.test", i))
		}
		h.newOrg("other").setup()
		h.caughtUp(t)
		r := o.staff("GET", "/audit/verify", nil).json(t)
		if r["ok"] != true || r["problem"] != nil || r["events"].(float64) < 8 {
			t.Fatalf("untampered chain: %v", r)
		}
		head := o.staff("GET", "/audit/head", nil).json(t)
		if len(head["hash"].(string)) != 64 || head["seq"].(float64) != r["events"].(float64) {
			t.Fatalf("head: %v", head)
		}
		return h, o
	}
	position := func(t *testing.T, h *harness, q string, args ...any) int64 {
		var p int64
		if err := h.pool.QueryRow(t.Context(), q, args...).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	check := func(t *testing.T, o *org, kind string, at int64) {
		r := o.staff("GET", "/audit/verify", nil).json(t)
		p, _ := r["problem"].(map[string]any)
		if r["ok"] != false || p == nil || p["kind"] != kind || p["position"].(float64) != float64(at) {
			t.Fatalf("verify after tampering: %v; want %s at %d", r, kind, at)
		}
	}
	t.Run("edited event", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		p := position(t, h, `SELECT min(position) FROM events WHERE org_id = $1 AND event_type = 'UserCreated'`, o.id)
		if _, err := h.pool.Exec(t.Context(), `UPDATE events SET data = jsonb_set(data, '{email}', '"mallory@evil.test"') WHERE position = $1`, p); err != nil {
			t.Fatal(err)
		}
		check(t, o, "altered", p)
	})
	t.Run("deleted event", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		p := position(t, h, `SELECT position FROM events WHERE org_id = $1 AND event_type = 'CompanyPortalActivated'`, o.id)
		if _, err := h.pool.Exec(t.Context(), `DELETE FROM events WHERE position = $1`, p); err != nil {
			t.Fatal(err)
		}
		check(t, o, "deleted", p)
	})
	t.Run("swapped pair", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		rows, err := h.pool.Query(t.Context(), `SELECT position FROM events WHERE org_id = $1 AND event_type = 'UserCreated' ORDER BY position LIMIT 2`, o.id)
		if err != nil {
			t.Fatal(err)
		}
		var ps []int64
		for rows.Next() {
			var p int64
			_ = rows.Scan(&p)
			ps = append(ps, p)
		}
		rows.Close()
		if _, err := h.pool.Exec(t.Context(), `UPDATE events e SET data = o.data FROM events o
			WHERE (e.position, o.position) IN (($1, $2), ($2, $1))`, ps[0], ps[1]); err != nil {
			t.Fatal(err)
		}
		check(t, o, "altered", ps[0])
	})
	t.Run("changed schema version", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		p := position(t, h, `SELECT max(position) FROM events WHERE org_id = $1 AND event_type = 'UserCreated'`, o.id)
		if _, err := h.pool.Exec(t.Context(), `UPDATE events SET schema_version = schema_version + 1 WHERE position = $1`, p); err != nil {
			t.Fatal(err)
		}
		check(t, o, "altered", p)
	})
	t.Run("event moved to another organization's log", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		other := h.newOrg("third")
		other.setup()
		h.caughtUp(t)
		p := position(t, h, `SELECT min(position) FROM events WHERE org_id = $1 AND event_type = 'UserCreated'`, o.id)
		// The receiving chain sees an event it never sealed; the first
		// chain misses one.
		if _, err := h.pool.Exec(t.Context(), `UPDATE events SET org_id = $2 WHERE position = $1`, p, other.id); err != nil {
			t.Fatal(err)
		}
		check(t, o, "deleted", p)
		check(t, other, "inserted", p)
	})
	t.Run("inserted event", func(t *testing.T) {
		t.Parallel()
		h, o := setup(t)
		// Forged directly into the table, then sealed-over history is checked.
		if _, err := h.pool.Exec(t.Context(), `ALTER TABLE event_chain DISABLE TRIGGER ALL`); err != nil {
			t.Fatal(err)
		}
		var p int64
		err := h.pool.QueryRow(t.Context(), `INSERT INTO events (event_id, stream_id, stream_version, org_id, event_type, data, metadata, transaction_id)
			VALUES (gen_random_uuid(), 'user-forged', 1, $1, 'UserCreated', '{}', '{}',
			(SELECT transaction_id FROM events WHERE org_id = $1 ORDER BY transaction_id, position LIMIT 1)) RETURNING position`, o.id).Scan(&p)
		if err != nil {
			t.Fatal(err)
		}
		// The sealer would seal the forged row as new; stop it from seeing it
		// by marking it sealed-over: it sorts before the head in commit order.
		check(t, o, "inserted", p)
	})
}

// accessFacts is what the intervals and the replay must agree on: who, and
// with which permissions.
func accessFacts(entries []projections.AccessEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %v", e.UserID, e.Permissions))
	}
	return out
}

// A database whose log was sealed before migration 00016 cuts over to the
// second hash rule at the position after its last event: the chain before
// it stays sealed by the first rule, whoever re-computes it.
func TestHashChainCutOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	for i := 0; i < 4; i++ {
		o.createUser(company, fmt.Sprintf("u%d@globex.test", i))
	}
	h.caughtUp(t)
	ctx := t.Context()
	ps := func(q string) []int64 {
		rows, err := h.pool.Query(ctx, q, o.id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(out) < 4 {
			t.Fatalf("positions: %v %v", out, err)
		}
		return out
	}
	created := ps(`SELECT position FROM events WHERE org_id = $1 AND event_type = 'UserCreated' ORDER BY position`)
	first := ps(`SELECT position FROM events WHERE org_id = $1 ORDER BY position`)[0]
	cutOver := created[2]
	verify := func() map[string]any { return o.staff("GET", "/audit/verify", nil).json(t) }

	// This database was sealed with the second rule throughout. Were the
	// cut-over later, the events before it would not match their seals:
	// verify reads the rule.
	if _, err := h.pool.Exec(ctx, `UPDATE chain_rule SET v2_from = $1`, cutOver); err != nil {
		t.Fatal(err)
	}
	if p, _ := verify()["problem"].(map[string]any); p == nil || p["kind"] != "altered" || p["position"].(float64) != float64(first) {
		t.Fatalf("verify with a later cut-over than the seals: %v; want altered at %d", p, first)
	}
	// A rebuild seals the events before the cut-over with the first rule.
	store := eventstore.New(h.pool)
	if _, err := projections.Rebuild(context.Background(), store, projections.NewChain(), nil); err != nil {
		t.Fatal(err)
	}
	if r := verify(); r["ok"] != true || r["events"].(float64) < 9 {
		t.Fatalf("verify after the rebuild: %v", r)
	}
	// Both rules cover the data; only the second covers the schema version.
	if _, err := h.pool.Exec(ctx, `UPDATE events SET schema_version = schema_version + 1 WHERE position = $1`, created[0]); err != nil {
		t.Fatal(err)
	}
	if r := verify(); r["ok"] != true {
		t.Fatalf("the first rule covers the schema version after all: %v", r)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE events SET schema_version = schema_version + 1 WHERE position = $1`, cutOver); err != nil {
		t.Fatal(err)
	}
	if p, _ := verify()["problem"].(map[string]any); p == nil || p["kind"] != "altered" || p["position"].(float64) != float64(cutOver) {
		t.Fatalf("verify after changing the schema version at the cut-over: %v; want altered at %d", p, cutOver)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE events SET schema_version = schema_version - 1 WHERE position = $1`, cutOver); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE events SET data = jsonb_set(data, '{email}', '"mallory@evil.test"') WHERE position = $1`, created[1]); err != nil {
		t.Fatal(err)
	}
	if p, _ := verify()["problem"].(map[string]any); p == nil || p["kind"] != "altered" || p["position"].(float64) != float64(created[1]) {
		t.Fatalf("verify after changing data before the cut-over: %v; want altered at %d", p, created[1])
	}
}
