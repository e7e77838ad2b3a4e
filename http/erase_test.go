package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/projections"
	"gatehouse/sagas"
)

// textHits counts the rows of every table of the database whose text holds s.
func (h *harness) textHits(t *testing.T, s string) map[string]int {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		_ = rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	hits := map[string]int{}
	for _, table := range tables {
		var n int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM "`+table+`" x WHERE lower(x::text) LIKE '%' || lower($1) || '%'`, s).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n > 0 {
			hits[table] = n
		}
	}
	return hits
}

func TestErasureByCryptoShredding(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	secrets := []string{"zyxwvut.qwerty@globex.test", "zyxwvut.second@globex.test", "Zyxwvut", "Qwertyuiop", "+49 30 5551234"}
	r := o.staff("POST", "/users", map[string]any{"first_name": "Zyxwvut", "last_name": "Qwertyuiop", "email": secrets[0],
		"company_id": company, "send_invite": true, "properties": map[string]any{"phone": secrets[4]}}, "Idempotency-Key", "create-z")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	path := strings.TrimPrefix(r.json(t)["accept_url"].(string), "http://portal.test")
	h.do("POST", path+"/accept", "", map[string]any{"password": password})
	o.staff("PATCH", "/users/"+id, map[string]any{"email": secrets[1]})
	h.login(o.slug, secrets[1], "wrong password") // a login-failure row for the address
	h.caughtUp(t)
	if hits := h.textHits(t, secrets[1]); hits["users_view"] == 0 || hits["email_reservations"] == 0 || hits["events"] != 0 {
		t.Fatalf("before erasure, the address is where expected (read models, reservation) and sealed in the log: %v", hits)
	}
	agent := o.newToken("agent")
	h.do("POST", "/v1/orgs/"+o.id+"/users/"+id+"/erase", agent, nil).problem(t, 403, "admin_only")

	if r := o.staff("POST", "/users/"+id+"/erase", nil); r.status != 204 {
		t.Fatalf("erase: %d %s", r.status, r.body)
	}
	if r := o.staff("POST", "/users/"+id+"/erase", nil); r.status != 204 {
		t.Fatalf("erase again: %d %s", r.status, r.body)
	}
	h.caughtUp(t)
	for _, s := range secrets {
		if hits := h.textHits(t, s); len(hits) != 0 {
			t.Errorf("%q still in clear in %v", s, hits)
		}
	}
	u := o.staff("GET", "/users/"+id, nil).json(t)
	if u["status"] != "removed" || u["email"] != "[erased]" || u["first_name"] != "[erased]" || len(u["properties"].(map[string]any)) != 0 {
		t.Fatalf("read model after erasure: %v", u)
	}
	items := o.staff("GET", "/users/"+id+"/history", nil).json(t)["items"].([]any)
	created := items[0].(map[string]any)["data"].(map[string]any)
	if created["email"] != "[erased]" || created["last_name"] != "[erased]" || created["properties"] != nil {
		t.Fatalf("history after erasure: %v", created)
	}
	if last := items[len(items)-1].(map[string]any); last["type"] != "UserErased" {
		t.Fatalf("last event %v", last["type"])
	}
	csv := string(o.staff("GET", "/users/export.csv?ids="+id, nil).body)
	if !strings.Contains(csv, "[erased]") {
		t.Fatalf("export after erasure: %s", csv)
	}
	if v := o.staff("GET", "/audit/verify", nil).json(t); v["ok"] != true {
		t.Fatalf("chain after erasure: %v", v)
	}
	o.staff("PATCH", "/users/"+id, map[string]any{"first_name": "Back"}).problem(t, 409, "user_erased")
	// The address is free again, and a rebuild gives the same rows.
	if r := o.staff("POST", "/users", map[string]any{"first_name": "New", "last_name": "Person", "email": secrets[1]}); r.status != 201 {
		t.Fatalf("reuse the address: %d %s", r.status, r.body)
	}
	h.caughtUp(t)
	live := h.snapshot(t)
	store := eventstore.New(h.pool)
	if _, err := projections.Rebuild(context.Background(), store, projections.NewUsers(store), nil); err != nil {
		t.Fatal(err)
	}
	sameRows(t, live, h.snapshot(t))
}

// Given a contact who filed a ticket (and was invited from it), confirmed
// an order, then moved to a new address and filed a ticket from it, and
// another contact's ticket, when the contact is erased as a user, then their address and name are nowhere in clear in
// the database, their ticket and order events read as erased, the other
// contact's ticket still reads in full, and the chain still verifies. Before
// the erasure, the ticket and order events were stored sealed and read in
// full.
func TestErasureReachesTheTicketsAndOrdersThatNameTheUser(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.staff("PATCH", "/portal", map[string]any{"auto_invite_departments": []string{"*"}})
	email, first, last := "quxbaz.contact@globex.test", "Quxbaz", "Plughxyzzy"
	for _, tk := range []struct{ id, email, name string }{{"T-1", email, first + " " + last}, {"T-2", "other.person@globex.test", "Other Person"}} {
		if r := o.staff("POST", "/events/tickets", map[string]any{"ticket_id": tk.id, "requester_email": tk.email, "requester_name": tk.name,
			"department": "support", "company_id": company}); r.status != 202 {
			t.Fatalf("ticket %s: %d %s", tk.id, r.status, r.body)
		}
	}
	if r := o.staff("POST", "/events/orders", map[string]any{"order_id": "O-1", "company_id": company,
		"contact": map[string]any{"first_name": first, "last_name": last, "email": email}}); r.status != 202 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	eventually(t, "the contact invited from the ticket", func() bool { return len(h.mail.To(email)) == 1 })
	h.caughtUp(t)
	if hits := h.textHits(t, email); hits["events"] != 0 || hits["stream_keys"] != 2 {
		t.Fatalf("before erasure, the address is sealed in the log and kept beside the ticket's and the order's keys: %v", hits)
	}
	if hits := h.textHits(t, last); hits["events"] != 0 {
		t.Fatalf("before erasure, the name is sealed in the log: %v", hits)
	}
	store := eventstore.New(h.pool)
	read := func(stream, field string) any {
		t.Helper()
		events, err := store.ReadStream(context.Background(), stream, 0)
		if err != nil || len(events) == 0 {
			t.Fatalf("read %s: %v (%d events)", stream, err, len(events))
		}
		var data map[string]any
		if err := json.Unmarshal(events[0].Data, &data); err != nil {
			t.Fatal(err)
		}
		return data[field]
	}
	ticket, other, order := "ticket-"+o.id+"-T-1", "ticket-"+o.id+"-T-2", "order-"+o.id+"-O-1"
	if read(ticket, "requester_email") != email || read(order, "last_name") != last {
		t.Fatalf("before erasure: ticket %v, order %v", read(ticket, "requester_email"), read(order, "last_name"))
	}
	items := o.staff("GET", "/users?q="+email, nil).json(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%d users for %s", len(items), email)
	}
	id := items[0].(map[string]any)["id"].(string)
	// They move to a new address and file a ticket from it: erasure must
	// reach what names either.
	newEmail := "quxbaz.moved@globex.test"
	if r := o.staff("PATCH", "/users/"+id, map[string]any{"email": newEmail}); r.status != 200 {
		t.Fatalf("change email: %d %s", r.status, r.body)
	}
	if r := o.staff("POST", "/events/tickets", map[string]any{"ticket_id": "T-3", "requester_email": newEmail, "requester_name": first + " " + last,
		"department": "support", "company_id": company}); r.status != 202 {
		t.Fatalf("ticket T-3: %d %s", r.status, r.body)
	}
	h.caughtUp(t)

	if r := o.staff("POST", "/users/"+id+"/erase", nil); r.status != 204 {
		t.Fatalf("erase: %d %s", r.status, r.body)
	}
	h.caughtUp(t)
	for _, s := range []string{email, newEmail, first, last} {
		if hits := h.textHits(t, s); len(hits) != 0 {
			t.Errorf("%q still in clear in %v", s, hits)
		}
	}
	// A fresh store: nothing cached from before.
	store = eventstore.New(h.pool)
	moved := "ticket-" + o.id + "-T-3"
	if read(ticket, "requester_email") != eventstore.Erased || read(ticket, "requester_name") != eventstore.Erased ||
		read(order, "email") != eventstore.Erased || read(order, "first_name") != eventstore.Erased || read(moved, "requester_email") != eventstore.Erased {
		t.Errorf("after erasure: ticket %v %v, order %v %v, ticket from the new address %v", read(ticket, "requester_email"), read(ticket, "requester_name"),
			read(order, "email"), read(order, "first_name"), read(moved, "requester_email"))
	}
	if read(other, "requester_email") != "other.person@globex.test" {
		t.Errorf("the other contact's ticket after erasure: %v", read(other, "requester_email"))
	}
	// The sagas, given the erased events (as when they run after the
	// erasure), skip them: nobody is created, and they say why.
	reg := prometheus.NewRegistry()
	created := h.countEvents("UserCreated")
	for _, c := range []struct {
		stream string
		react  func(context.Context, eventstore.RecordedEvent, domain.Event) error
	}{
		{ticket, sagas.NewAutoInvite(h.app, zerolog.Nop(), reg).React},
		{order, sagas.NewSuperUser(h.app, zerolog.Nop(), reg).React},
	} {
		events, err := store.ReadStream(context.Background(), c.stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := domain.DecodeEvent(events[0].Type, events[0].SchemaVersion, events[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.react(context.Background(), events[0], ev); err != nil {
			t.Errorf("saga on %s after erasure: %v", c.stream, err)
		}
	}
	if n := h.countEvents("UserCreated"); n != created {
		t.Errorf("the sagas created %d users from erased contacts", n-created)
	}
	if got := sagaOutcomes(t, reg, "erased"); got != 2 {
		t.Errorf("%v outcomes \"erased\", want 2 (one per saga)", got)
	}
	if v := o.staff("GET", "/audit/verify", nil).json(t); v["ok"] != true {
		t.Fatalf("chain after erasure: %v", v)
	}
}

// sagaOutcomes sums gatehouse_saga_outcomes_total with the given outcome.
func sagaOutcomes(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "gatehouse_saga_outcomes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
