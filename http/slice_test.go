package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestInvitationWalkthrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")

	r := o.staff("POST", "/portal/enable", nil)
	if r.status != 200 || r.json(t)["enabled"] != true {
		t.Fatalf("enable portal: %d %s", r.status, r.body)
	}
	r = o.staff("POST", "/companies", map[string]any{"name": "Globex", "location": "Springfield", "properties": map[string]any{"tier": "gold"}})
	if r.status != 201 || r.header.Get("Location") == "" {
		t.Fatalf("create company: %d %s", r.status, r.body)
	}
	company := r.json(t)
	if company["portal_active"] != false || company["location"] != "Springfield" {
		t.Fatalf("new company: %v", company)
	}
	r = o.staff("POST", "/companies/"+company["id"].(string)+"/portal/activate", nil)
	if r.status != 200 || r.json(t)["portal_active"] != true {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}
	r = o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Globex.test",
		"company_id": company["id"], "portal_access": true})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	user := r.json(t)
	if user["status"] != "access_granted" || user["email"] != "ada@globex.test" || user["version"] != float64(1) {
		t.Fatalf("new user: %v", user)
	}
	id := user["id"].(string)
	r = o.staff("POST", "/users/"+id+"/invitations", nil)
	if r.status != 201 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	inv := r.json(t)
	acceptURL := inv["accept_url"].(string)
	if !strings.HasPrefix(acceptURL, "http://portal.test/portal/acme/invitations/") || inv["invitation_id"] == "" || inv["expires_at"] == "" {
		t.Fatalf("invitation answer: %v", inv)
	}
	expires, err := time.Parse(time.RFC3339, inv["expires_at"].(string))
	if err != nil || expires.Sub(h.clock.Now()) != 24*time.Hour {
		t.Fatalf("expires_at %v: want 24 h from now (%v)", inv["expires_at"], err)
	}
	r = o.staff("GET", "/users/"+id, nil)
	if r.status != 200 || r.json(t)["status"] != "invited" {
		t.Fatalf("after invite: %d %s", r.status, r.body)
	}
	path := strings.TrimPrefix(acceptURL, "http://portal.test")
	page := h.do("GET", path, "", nil)
	if page.status != 200 || !strings.Contains(string(page.body), "Welcome, Ada") || page.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("invitation page: %d %s", page.status, page.body)
	}
	r = h.do("POST", path+"/accept", "", map[string]any{"password": "correct horse battery"})
	if r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	r = o.staff("GET", "/users/"+id, nil)
	got := r.json(t)
	if r.status != 200 || got["status"] != "active" || got["version"] != float64(4) || r.header.Get("ETag") != `"4"` {
		t.Fatalf("GET after accept: %d %s", r.status, r.body)
	}
	if got["invitation"].(map[string]any)["status"] != "accepted" {
		t.Fatalf("invitation after accept: %v", got["invitation"])
	}
	r = o.staff("GET", "/users?status=active", nil)
	if items := r.json(t)["items"].([]any); r.status != 200 || len(items) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// No secret in the database in clear: the token is stored only as a hash.
	token := path[strings.LastIndex(path, "/")+1:]
	var hits int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%'`, token).Scan(&hits); err != nil || hits != 0 {
		t.Fatalf("token found in clear in %d events (%v)", hits, err)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	other := h.newOrg("umbrella")
	company := o.setup()
	otherCompany := other.setup()
	user := o.createUser(company, "ada@globex.test")
	acceptPath := o.invite(user)
	otherUser := other.createUser(otherCompany, "bob@umbrella.test")
	otherAccept := other.invite(otherUser)

	cases := []struct {
		name   string
		do     func() response
		status int
		code   string
		fields []string
	}{
		{"malformed JSON", func() response { return o.staff("POST", "/companies", `{"name": "Glo`) }, 400, "malformed_json", nil},
		{"not an object", func() response { return o.staff("POST", "/companies", `["x"]`) }, 400, "malformed_json", nil},
		{"empty body", func() response { return o.staff("POST", "/users", "") }, 400, "malformed_json", nil},
		{"two objects", func() response { return o.staff("POST", "/companies", `{"name":"a"}{"name":"b"}`) }, 400, "malformed_json", nil},
		{"unknown field", func() response { return o.staff("POST", "/companies", map[string]any{"name": "X", "colour": "red"}) }, 422, "validation_failed", []string{"colour"}},
		{"wrong type", func() response { return o.staff("POST", "/users", map[string]any{"first_name": 3}) }, 422, "validation_failed", []string{"first_name"}},
		{"missing company name", func() response { return o.staff("POST", "/companies", map[string]any{}) }, 422, "validation_failed", []string{"name"}},
		{"unknown parent company", func() response {
			return o.staff("POST", "/companies", map[string]any{"name": "Sub", "parent_id": otherCompany})
		}, 422, "validation_failed", []string{"parent_id"}},
		{"missing user fields", func() response { return o.staff("POST", "/users", map[string]any{}) }, 422, "validation_failed", []string{"first_name", "last_name"}},
		{"missing email for portal access", func() response { return o.staff("POST", "/users", map[string]any{"portal_access": true}) }, 422, "validation_failed", []string{"first_name", "last_name", "email"}},
		{"bad email", func() response {
			return o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "not-an-email"})
		}, 422, "validation_failed", []string{"email"}},
		{"unknown company", func() response {
			return o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "a@b.test", "company_id": "0190a000-0000-7000-8000-00000000abcd"})
		}, 422, "validation_failed", []string{"company_id"}},
		{"another organization's company", func() response {
			return o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "a@b.test", "company_id": otherCompany})
		}, 422, "validation_failed", []string{"company_id"}},
		{"duplicate email, other case", func() response {
			return o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "ADA@globex.test"})
		}, 409, "email_taken", nil},
		{"send_invite without access", func() response {
			return o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "c@b.test", "send_invite": true, "portal_access": false})
		}, 422, "validation_failed", []string{"send_invite"}},
		{"activate unknown company", func() response {
			return o.staff("POST", "/companies/0190a000-0000-7000-8000-00000000abcd/portal/activate", nil)
		}, 404, "company_not_found", nil},
		{"activate another organization's company", func() response { return o.staff("POST", "/companies/"+otherCompany+"/portal/activate", nil) }, 404, "company_not_found", nil},
		{"activate with a malformed id", func() response { return o.staff("POST", "/companies/nope/portal/activate", nil) }, 404, "company_not_found", nil},
		{"stale If-Match", func() response {
			return o.staff("POST", "/companies/"+company+"/portal/deactivate", nil, "If-Match", `"1"`)
		}, 412, "version_mismatch", nil},
		{"malformed If-Match", func() response {
			return o.staff("POST", "/companies/"+company+"/portal/deactivate", nil, "If-Match", "abc")
		}, 400, "invalid_if_match", nil},
		{"invite unknown user", func() response {
			return o.staff("POST", "/users/0190a000-0000-7000-8000-00000000abcd/invitations", nil)
		}, 404, "user_not_found", nil},
		{"invite another organization's user", func() response { return o.staff("POST", "/users/"+otherUser+"/invitations", nil) }, 404, "user_not_found", nil},
		{"get another organization's user", func() response { return o.staff("GET", "/users/"+otherUser, nil) }, 404, "user_not_found", nil},
		{"bad list filter", func() response { return o.staff("GET", "/users?status=happy&limit=9999", nil) }, 422, "validation_failed", []string{"status", "limit"}},
		{"bad cursor", func() response { return o.staff("GET", "/users?cursor=xyz", nil) }, 422, "validation_failed", []string{"cursor"}},
		{"no credentials", func() response { return h.do("POST", "/v1/orgs/"+o.id+"/portal/enable", "", nil) }, 401, "unauthenticated", nil},
		{"unknown token", func() response { return h.do("POST", "/v1/orgs/"+o.id+"/portal/enable", "not-a-token", nil) }, 401, "unauthenticated", nil},
		{"another organization's token", func() response {
			return h.do("POST", "/v1/orgs/"+o.id+"/companies", other.token, map[string]any{"name": "X"})
		}, 404, "not_found", nil},
		{"short password", func() response { return h.do("POST", acceptPath+"/accept", "", map[string]any{"password": "short"}) }, 422, "validation_failed", []string{"password"}},
		{"unknown invitation token", func() response {
			return h.do("POST", "/portal/"+o.slug+"/invitations/nope/accept", "", map[string]any{"password": "long enough pw"})
		}, 404, "invitation_not_found", nil},
		{"another portal's invitation", func() response {
			return h.do("POST", strings.Replace(otherAccept, "/portal/"+other.slug+"/", "/portal/"+o.slug+"/", 1)+"/accept", "", map[string]any{"password": "long enough pw"})
		}, 404, "invitation_not_found", nil},
		{"unknown portal", func() response {
			return h.do("POST", "/portal/nowhere/invitations/x/accept", "", map[string]any{"password": "long enough pw"})
		}, 404, "portal_not_found", nil},
		{"unknown route", func() response { return o.staff("GET", "/nothing-here", nil) }, 404, "not_found", nil},
		{"wrong method", func() response { return o.staff("DELETE", "/companies", nil) }, 405, "method_not_allowed", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r response
			h.unchanged(func() { r = c.do() })
			r.problem(t, c.status, c.code)
			if c.fields != nil && fmt.Sprint(r.fields(t)) != fmt.Sprint(c.fields) {
				t.Fatalf("fields %v, want %v", r.fields(t), c.fields)
			}
		})
	}
}

func TestUsedAndExpiredInvitationsAreGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()

	used := o.createUser(company, "used@globex.test")
	usedPath := o.invite(used)
	if r := h.do("POST", usedPath+"/accept", "", map[string]any{"password": "correct horse battery"}); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	h.unchanged(func() {
		h.do("POST", usedPath+"/accept", "", map[string]any{"password": "another password"}).problem(t, 410, "invitation_used")
	})
	if r := o.staff("POST", "/users/"+used+"/invitations", nil); r.status != 409 {
		t.Fatalf("invite after acceptance: %d %s", r.status, r.body)
	}

	resent := o.createUser(company, "resent@globex.test")
	first := o.invite(resent)
	second := o.invite(resent)
	h.unchanged(func() {
		h.do("POST", first+"/accept", "", map[string]any{"password": "correct horse battery"}).problem(t, 410, "invitation_revoked")
	})

	h.clock.Advance(24*time.Hour + time.Second)
	h.unchanged(func() {
		h.do("POST", second+"/accept", "", map[string]any{"password": "correct horse battery"}).problem(t, 410, "invitation_expired")
	})
	if page := h.do("GET", second, "", nil); page.status != 410 || !strings.Contains(string(page.body), "expired") {
		t.Fatalf("expired page: %d %s", page.status, page.body)
	}
	// A new link works again.
	third := o.invite(resent)
	if r := h.do("POST", third+"/accept", "", map[string]any{"password": "correct horse battery"}); r.status != 200 {
		t.Fatalf("accept a fresh link: %d %s", r.status, r.body)
	}
}

func TestAcceptNeedsAnOpenPortal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	user := o.createUser(company, "ada@globex.test")
	path := o.invite(user)
	if r := o.staff("POST", "/companies/"+company+"/portal/deactivate", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	h.unchanged(func() {
		h.do("POST", path+"/accept", "", map[string]any{"password": "correct horse battery"}).problem(t, 403, "company_portal_inactive")
	})
	if r := o.staff("POST", "/companies/"+company+"/portal/activate", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := o.staff("POST", "/portal/disable", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	h.unchanged(func() {
		h.do("POST", path+"/accept", "", map[string]any{"password": "correct horse battery"}).problem(t, 403, "portal_disabled")
	})
	if r := o.staff("POST", "/portal/enable", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := h.do("POST", path+"/accept", "", map[string]any{"password": "correct horse battery"}); r.status != 200 {
		t.Fatalf("accept once the portal is open: %d %s", r.status, r.body)
	}
}

func TestIdempotencyKeyReturnsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	body := map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@globex.test", "company_id": company, "portal_access": true}
	first := o.staff("POST", "/users", body, "Idempotency-Key", "create-ada")
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	var again response
	h.unchanged(func() { again = o.staff("POST", "/users", body, "Idempotency-Key", "create-ada") })
	if again.status != 201 || again.json(t)["id"] != first.json(t)["id"] {
		t.Fatalf("retry answered %d %s, first %s", again.status, again.body, first.body)
	}
	body["first_name"] = "Eve"
	h.unchanged(func() {
		o.staff("POST", "/users", body, "Idempotency-Key", "create-ada").problem(t, 422, "idempotency_key_reused")
	})

	// Concurrent retries of one request: one set of events, one answer.
	user := o.createUser(company, "bob@globex.test")
	before := h.eventCount()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := o.staff("POST", "/users/"+user+"/invitations", nil, "Idempotency-Key", "invite-bob")
			if r.status == 201 {
				ids[i] = r.json(t)["invitation_id"].(string)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent retries answered %v", ids)
		}
	}
	if n := h.eventCount() - before; n != 1 {
		t.Fatalf("concurrent retries stored %d events, want 1", n)
	}
}

func TestConcurrentCreatesWithOneEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": fmt.Sprint(i), "email": "same@globex.test", "company_id": company}).status
		}()
	}
	wg.Wait()
	created, conflicts := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
			conflicts++
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("statuses %v: want one 201 and %d 409", statuses, n-1)
	}
	var users int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE event_type = 'UserCreated'`).Scan(&users); err != nil || users != 1 {
		t.Fatalf("%d UserCreated events (%v)", users, err)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	if _, err := h.pool.Exec(t.Context(), `UPDATE goose_db_version SET is_applied = false WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	h.do("GET", "/readyz", "", nil).problem(t, 503, "not_ready")
}
