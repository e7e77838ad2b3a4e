package http_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const password = "correct horse battery"

// activeUser creates, invites and activates a user of company.
func (o *org) activeUser(company, email string, extra map[string]any) string {
	t := o.h.t
	t.Helper()
	body := map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": email, "company_id": company, "portal_access": true, "send_invite": true}
	for k, v := range extra {
		body[k] = v
	}
	r := o.staff("POST", "/users", body)
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	u := r.json(t)
	path := strings.TrimPrefix(u["accept_url"].(string), "http://portal.test")
	if r := o.h.do("POST", path+"/accept", "", map[string]any{"password": password}); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	return u["id"].(string)
}

func (h *harness) login(slug, email, pw string) response {
	return h.do("POST", "/portal/"+slug+"/login", "", map[string]any{"email": email, "password": pw})
}

// session logs in and returns the session token.
func (o *org) session(email string) string {
	t := o.h.t
	t.Helper()
	r := o.h.login(o.slug, email, password)
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	if !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(r.header.Get("Set-Cookie"), "SameSite=Lax") {
		t.Fatalf("session cookie: %s", r.header.Get("Set-Cookie"))
	}
	return r.json(t)["session_token"].(string)
}

func (o *org) portal(method, path, session string, body any) response {
	return o.h.do(method, "/portal/"+o.slug+path, session, body)
}

func (o *org) newToken(role string) string {
	t := o.h.t
	t.Helper()
	r := o.staff("POST", "/tokens", map[string]any{"name": role + " token", "role": role})
	if r.status != 201 {
		t.Fatalf("create token: %d %s", r.status, r.body)
	}
	return r.json(t)["token"].(string)
}

func (h *harness) countEvents(typ string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(h.t.Context(), `SELECT count(*) FROM events WHERE event_type = $1`, typ).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// eventually retries check until it passes or 20 s pass (read models are
// eventually consistent with commands; the bound is generous because the
// race detector and parallel tests slow everything down).
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in time", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPortalSettingsAndStaffRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	agent := o.newToken("agent")

	r := o.staff("GET", "/portal", nil)
	p := r.json(t)
	if r.status != 200 || p["signup_policy"] != "closed" || p["invitation_ttl_hours"] != float64(24) || p["language"] != "en" {
		t.Fatalf("default portal: %s", r.body)
	}
	r = o.staff("PATCH", "/portal", map[string]any{"language": "de", "custom_domain": "Support.Acme.test", "help_docs_enabled": true,
		"inboxes": []string{"support", "billing"}, "signup_policy": "allowed_domains", "allowed_domains": []string{"globex.test"},
		"auto_invite_departments": []string{"*"}, "invitation_ttl_hours": 48, "notify_on_deactivation": true}, "If-Match", fmt.Sprint(p["version"]))
	p = r.json(t)
	if r.status != 200 || p["custom_domain"] != "support.acme.test" || p["invitation_ttl_hours"] != float64(48) || p["signup_policy"] != "allowed_domains" {
		t.Fatalf("patch portal: %d %s", r.status, r.body)
	}
	h.unchanged(func() {
		o.staff("PATCH", "/portal", map[string]any{"custom_domain": "not a host!"}).problem(t, 422, "validation_failed")
		o.staff("PATCH", "/portal", map[string]any{"language": "fr"}, "If-Match", "1").problem(t, 412, "version_mismatch")
		o.staff("PATCH", "/portal", map[string]any{"signup_policy": "maybe"}).problem(t, 422, "validation_failed")
		o.staff("PATCH", "/portal", map[string]any{"shiny": true}).problem(t, 422, "validation_failed")
		h.do("PATCH", "/v1/orgs/"+o.id+"/portal", agent, map[string]any{"language": "fr"}).problem(t, 403, "admin_only")
		h.do("POST", "/v1/orgs/"+o.id+"/portal/disable", agent, nil).problem(t, 403, "admin_only")
		h.do("POST", "/v1/orgs/"+o.id+"/roles", agent, map[string]any{"name": "x"}).problem(t, 403, "admin_only")
		h.do("POST", "/v1/orgs/"+o.id+"/tokens", agent, map[string]any{"name": "x", "role": "admin"}).problem(t, 403, "admin_only")
		o.staff("POST", "/tokens", map[string]any{"name": "x", "role": "root"}).problem(t, 422, "validation_failed")
	})
	// An agent does everything else.
	if r := h.do("GET", "/v1/orgs/"+o.id+"/portal", agent, nil); r.status != 200 {
		t.Fatalf("agent reads the portal: %d", r.status)
	}
	if r := h.do("POST", "/v1/orgs/"+o.id+"/companies", agent, map[string]any{"name": "Globex"}); r.status != 201 {
		t.Fatalf("agent creates a company: %d %s", r.status, r.body)
	}
	// A revoked token stops working at once.
	r = o.staff("POST", "/tokens", map[string]any{"name": "temp", "role": "agent"})
	tok := r.json(t)
	if r := o.staff("DELETE", "/tokens/"+tok["id"].(string), nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	h.do("GET", "/v1/orgs/"+o.id+"/portal", tok["token"].(string), nil).problem(t, 401, "unauthenticated")
	o.staff("DELETE", "/tokens/0190a000-0000-7000-8000-00000000abcd", nil).problem(t, 404, "token_not_found")
}

func TestRolesCompaniesAndEffectivePermissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()

	r := o.staff("POST", "/roles", map[string]any{"name": "Agent-like", "permissions": map[string]bool{"view_tags": true, "close_tickets": true, "manage_users": true}})
	if r.status != 201 {
		t.Fatalf("create role: %d %s", r.status, r.body)
	}
	role := r.json(t)["id"].(string)
	h.unchanged(func() {
		o.staff("POST", "/roles", map[string]any{"name": "Agent-like"}).problem(t, 409, "role_name_taken")
		if f := o.staff("POST", "/roles", map[string]any{"name": "X", "permissions": map[string]bool{"fly": true}}).fields(t); fmt.Sprint(f) != "[permissions.fly]" {
			t.Fatalf("unknown permission fields: %v", f)
		}
		o.staff("PATCH", "/roles/0190a000-0000-7000-8000-00000000abcd", map[string]any{"name": "Y"}).problem(t, 404, "role_not_found")
		o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "r@x.test", "role_id": "0190a000-0000-7000-8000-00000000abcd"}).problem(t, 422, "validation_failed")
	})
	if r := o.staff("GET", "/roles", nil); r.status != 200 || len(r.json(t)["items"].([]any)) != 1 {
		t.Fatalf("list roles: %d %s", r.status, r.body)
	}

	// Company hierarchy: no cycles.
	parent := o.staff("POST", "/companies", map[string]any{"name": "Holding"}).json(t)["id"].(string)
	if r := o.staff("PATCH", "/companies/"+company, map[string]any{"parent_id": parent, "manager": "Hank", "permissions": map[string]bool{"close_tickets": false, "see_agents": true}}); r.status != 200 {
		t.Fatalf("patch company: %d %s", r.status, r.body)
	}
	h.unchanged(func() {
		if f := o.staff("PATCH", "/companies/"+parent, map[string]any{"parent_id": company}).fields(t); fmt.Sprint(f) != "[parent_id]" {
			t.Fatalf("cycle refused with fields %v", f)
		}
	})
	c := o.staff("GET", "/companies/"+company, nil).json(t)
	if c["parent_id"] != parent || c["manager"] != "Hank" {
		t.Fatalf("company after patch: %v", c)
	}

	user := o.createUser(company, "ada@globex.test")
	if r := o.staff("PATCH", "/users/"+user, map[string]any{"role_id": role, "permissions": map[string]bool{"manage_users": false}}); r.status != 200 {
		t.Fatalf("patch user: %d %s", r.status, r.body)
	}
	want := map[string]bool{"portal_access": true, "view_tags": true, "close_tickets": false, "see_agents": true, "manage_users": false, "edit_tags": false}
	eventually(t, "effective permissions from role, company and user", func() bool {
		eff, _ := o.staff("GET", "/users/"+user, nil).json(t)["effective_permissions"].(map[string]any)
		for p, w := range want {
			if eff[p] != w {
				return false
			}
		}
		return len(eff) == 11
	})
}

func TestUserLifecycleThroughTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	ada := o.activeUser(company, "ada@globex.test", nil)
	session := o.session("ada@globex.test")
	if r := o.portal("GET", "/me", session, nil); r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("me: %d %s", r.status, r.body)
	}

	// Edit: no invitation, no new link.
	invitations := h.countEvents("InvitationSent")
	r := o.staff("PATCH", "/users/"+ada, map[string]any{"first_name": "Augusta", "properties": map[string]any{"phone": "123"}})
	if r.status != 200 || r.json(t)["first_name"] != "Augusta" || h.countEvents("InvitationSent") != invitations {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	// Deactivate ends the session at once; login refused; reactivate restores.
	if r := o.staff("POST", "/users/"+ada+"/deactivate", map[string]any{"reason": "left the company"}); r.status != 200 || r.json(t)["status"] != "deactivated" {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	o.portal("GET", "/me", session, nil).problem(t, 401, "unauthenticated")
	h.login(o.slug, "ada@globex.test", password).problem(t, 403, "login_refused")
	o.staff("POST", "/users/"+ada+"/invitations", nil).problem(t, 409, "user_deactivated")
	if r := o.staff("POST", "/users/"+ada+"/reactivate", nil); r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("reactivate: %d %s", r.status, r.body)
	}
	session = o.session("ada@globex.test")

	// Revoke access: sessions end; grant again: back in.
	if r := o.staff("DELETE", "/users/"+ada+"/portal-access", nil); r.status != 200 || r.json(t)["status"] != "added" {
		t.Fatalf("revoke access: %d %s", r.status, r.body)
	}
	o.portal("GET", "/me", session, nil).problem(t, 401, "unauthenticated")
	h.login(o.slug, "ada@globex.test", password).problem(t, 403, "login_refused")
	if r := o.staff("POST", "/users/"+ada+"/portal-access", nil); r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("grant access: %d %s", r.status, r.body)
	}
	session = o.session("ada@globex.test")

	// Company portal off, then the organization's portal off: locked out, nothing lost.
	o.staff("POST", "/companies/"+company+"/portal/deactivate", nil)
	o.portal("GET", "/me", session, nil).problem(t, 403, "company_portal_inactive")
	h.login(o.slug, "ada@globex.test", password).problem(t, 403, "company_portal_inactive")
	o.staff("POST", "/companies/"+company+"/portal/activate", nil)
	o.staff("POST", "/portal/disable", nil)
	o.portal("GET", "/me", session, nil).problem(t, 403, "portal_disabled")
	o.staff("POST", "/portal/enable", nil)
	if r := o.portal("GET", "/me", session, nil); r.status != 200 {
		t.Fatalf("me after the portal is back: %d %s", r.status, r.body)
	}

	// Remove: session ends, login fails, the address is free again.
	if r := o.staff("DELETE", "/users/"+ada, map[string]any{"reason": "gdpr request"}); r.status != 204 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	o.portal("GET", "/me", session, nil).problem(t, 401, "unauthenticated")
	h.login(o.slug, "ada@globex.test", password).problem(t, 401, "invalid_credentials")
	o.staff("POST", "/users/"+ada+"/invitations", nil).problem(t, 409, "user_removed")
	o.staff("PATCH", "/users/"+ada, map[string]any{"first_name": "X"}).problem(t, 409, "user_removed")
	if r := o.staff("DELETE", "/users/"+ada, nil); r.status != 204 {
		t.Fatalf("removing twice: %d", r.status)
	}
	o.createUser(company, "ada@globex.test")
	eventually(t, "removed user listed as removed", func() bool {
		items := o.staff("GET", "/users?status=removed", nil).json(t)["items"].([]any)
		return len(items) == 1
	})

	// A user without an email cannot be invited.
	r = o.staff("POST", "/users", map[string]any{"first_name": "No", "last_name": "Mail", "company_id": company})
	if r.status != 201 || r.json(t)["status"] != "added" {
		t.Fatalf("user without email: %d %s", r.status, r.body)
	}
	noMail := r.json(t)["id"].(string)
	h.unchanged(func() {
		o.staff("POST", "/users/"+noMail+"/portal-access", nil).problem(t, 422, "email_required")
		o.staff("POST", "/users/"+noMail+"/invitations", nil).problem(t, 422, "email_required")
	})
}

func TestLoginRefusalsAndBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.activeUser(company, "ada@globex.test", nil)
	h.login(o.slug, "ada@globex.test", "wrong password").problem(t, 401, "invalid_credentials")
	h.login(o.slug, "nobody@globex.test", "wrong password").problem(t, 401, "invalid_credentials")
	h.login("no-such-portal", "ada@globex.test", password).problem(t, 404, "portal_not_found")
	if r := h.login(o.slug, "ADA@globex.test", password); r.status != 200 {
		t.Fatalf("login with another case: %d", r.status)
	}
	for i := 0; i < 4; i++ {
		h.login(o.slug, "ada@globex.test", "wrong password")
	}
	r := h.login(o.slug, "ada@globex.test", "wrong password")
	r.problem(t, 429, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Locked even with the right password, until the lock ends.
	h.login(o.slug, "ada@globex.test", password).problem(t, 429, "too_many_attempts")
	h.clock.Advance(31 * time.Second)
	if r := h.login(o.slug, "ada@globex.test", password); r.status != 200 {
		t.Fatalf("login after the lock: %d %s", r.status, r.body)
	}
	// Logout ends the session.
	session := o.session("ada@globex.test")
	if r := o.portal("POST", "/logout", session, nil); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	o.portal("GET", "/me", session, nil).problem(t, 401, "unauthenticated")
	o.portal("GET", "/me", "", nil).problem(t, 401, "unauthenticated")
}

// TestPasswordChangeEndsEverySession: a password change ends every session
// of the account (the one on a stolen laptop too), answers with a fresh
// session, and the old password stops working; a wrong current password
// changes nothing and counts towards the back-off.
func TestPasswordChangeEndsEverySession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.activeUser(company, "ada@globex.test", nil)
	laptop, phone := o.session("ada@globex.test"), o.session("ada@globex.test")
	const newPassword = "a much better passphrase"

	h.unchanged(func() {
		o.portal("POST", "/me/password", phone, map[string]any{"current_password": "not it at all", "new_password": newPassword}).
			problem(t, 422, "validation_failed")
		r := o.portal("POST", "/me/password", phone, map[string]any{"current_password": password, "new_password": "short"})
		if f := r.fields(t); len(f) != 1 || f[0] != "new_password" {
			t.Fatalf("short new password: %d %s", r.status, r.body)
		}
		r = o.portal("POST", "/me/password", phone, map[string]any{"current_password": password, "new_password": newPassword, "extra": 1})
		if f := r.fields(t); r.status != 422 || len(f) != 1 || f[0] != "extra" {
			t.Fatalf("unknown field: %d %s", r.status, r.body)
		}
	})
	for _, s := range []string{laptop, phone} {
		if r := o.portal("GET", "/me", s, nil); r.status != 200 {
			t.Fatalf("a refused change ended a session: %d", r.status)
		}
	}

	r := o.portal("POST", "/me/password", phone, map[string]any{"current_password": password, "new_password": newPassword})
	if r.status != 200 {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	fresh := r.json(t)["session_token"].(string)
	if !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("no new session cookie: %q", r.header.Get("Set-Cookie"))
	}
	for _, s := range []string{laptop, phone} {
		o.portal("GET", "/me", s, nil).problem(t, 401, "unauthenticated")
	}
	if r := o.portal("GET", "/me", fresh, nil); r.status != 200 {
		t.Fatalf("the fresh session: %d %s", r.status, r.body)
	}
	h.login(o.slug, "ada@globex.test", password).problem(t, 401, "invalid_credentials")
	if r := h.login(o.slug, "ada@globex.test", newPassword); r.status != 200 {
		t.Fatalf("login with the new password: %d %s", r.status, r.body)
	}
	// Guessing the current password through a stolen session runs into the
	// same back-off as guessing at the login form.
	for i := 0; i < 4; i++ {
		o.portal("POST", "/me/password", fresh, map[string]any{"current_password": "guess number " + strconv.Itoa(i), "new_password": "attacker's choice!"}).
			problem(t, 422, "validation_failed")
	}
	locked := o.portal("POST", "/me/password", fresh, map[string]any{"current_password": "guess number 5", "new_password": "attacker's choice!"})
	locked.problem(t, 429, "too_many_attempts")
	if locked.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestSignupPolicies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	o.setup()
	signup := func(email string) response {
		return o.portal("POST", "/signup", "", map[string]any{"email": email, "first_name": "Sam", "last_name": "Signer", "password": password})
	}
	h.unchanged(func() { signup("sam@anywhere.test").problem(t, 403, "signup_refused") })

	o.staff("PATCH", "/portal", map[string]any{"signup_policy": "allowed_domains", "allowed_domains": []string{"globex.test"}})
	h.unchanged(func() { signup("sam@anywhere.test").problem(t, 403, "signup_refused") })
	if r := signup("sam@globex.test"); r.status != 201 || r.json(t)["status"] != "active" {
		t.Fatalf("allowed domain: %d %s", r.status, r.body)
	}
	h.unchanged(func() { signup("SAM@globex.test").problem(t, 409, "email_taken") })

	o.staff("PATCH", "/portal", map[string]any{"signup_policy": "previous_requesters"})
	h.unchanged(func() { signup("asker@anywhere.test").problem(t, 403, "signup_refused") })
	if r := o.staff("POST", "/events/tickets", map[string]any{"ticket_id": "T-1", "requester_email": "Asker@anywhere.test", "requester_name": "Ann Asker", "department": "support"}); r.status != 202 {
		t.Fatalf("ticket: %d %s", r.status, r.body)
	}
	if r := o.staff("POST", "/events/tickets", map[string]any{"ticket_id": "T-1", "requester_email": "asker@anywhere.test", "department": "support"}); r.status != 202 || h.countEvents("TicketCreated") != 1 {
		t.Fatalf("duplicate ticket: %d, %d TicketCreated", r.status, h.countEvents("TicketCreated"))
	}
	o.staff("POST", "/events/tickets", map[string]any{"ticket_id": "T-2", "requester_email": "bad"}).problem(t, 422, "validation_failed")

	// The default role is given to people who sign up.
	role := o.staff("POST", "/roles", map[string]any{"name": "Customer", "permissions": map[string]bool{"view_company_tickets": true}}).json(t)["id"].(string)
	o.staff("PATCH", "/portal", map[string]any{"default_role_id": role})
	r := signup("asker@anywhere.test")
	if r.status != 201 || r.json(t)["role_id"] != role {
		t.Fatalf("previous requester: %d %s", r.status, r.body)
	}
	h.unchanged(func() {
		o.portal("POST", "/signup", "", map[string]any{"email": "x@anywhere.test", "password": "short"}).problem(t, 403, "signup_refused")
	})
	o.staff("PATCH", "/portal", map[string]any{"signup_policy": "open"})
	h.unchanged(func() {
		r := o.portal("POST", "/signup", "", map[string]any{"email": "x@anywhere.test", "password": "short"})
		r.problem(t, 422, "validation_failed")
		if fmt.Sprint(r.fields(t)) != "[password]" {
			t.Fatalf("fields %v", r.fields(t))
		}
	})
	o.staff("POST", "/portal/disable", nil)
	h.unchanged(func() { signup("late@anywhere.test").problem(t, 403, "portal_disabled") })
}

func TestResendAnswersTheSameForEveryAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	invited := o.createUser(company, "invited@globex.test")
	first := o.invite(invited)
	o.activeUser(company, "active@globex.test", nil)
	o.createUser(company, "never-invited@globex.test")

	resend := func(email string) {
		r := o.portal("POST", "/invitations/resend", "", map[string]any{"email": email})
		if r.status != 202 || string(r.body) != "{\"status\":\"accepted\"}\n" {
			t.Fatalf("resend %s: %d %s", email, r.status, r.body)
		}
	}
	h.unchanged(func() {
		resend("nobody@globex.test")
		resend("active@globex.test")
		resend("never-invited@globex.test")
	})
	h.clock.Advance(25 * time.Hour)
	before := h.countEvents("InvitationSent")
	resend("INVITED@globex.test")
	if n := h.countEvents("InvitationSent") - before; n != 1 {
		t.Fatalf("resend to an invited person sent %d invitations", n)
	}
	h.do("POST", first+"/accept", "", map[string]any{"password": password}).problem(t, 410, "invitation_revoked")
	o.portal("POST", "/invitations/resend", "", map[string]any{}).problem(t, 422, "validation_failed")

	// The expired-link page offers the same request as a form.
	if page := h.do("GET", first, "", nil); page.status != 410 || !strings.Contains(string(page.body), `action="/portal/`+o.slug+`/invitations/resend"`) {
		t.Fatalf("gone page without a resend form: %d %s", page.status, page.body)
	}
	// A form post needs the page's CSRF token (the page flow: pages_test.go).
	h.unchanged(func() {
		if form := o.h.doForm("/portal/"+o.slug+"/invitations/resend", "email=invited%40globex.test"); form.status != 403 {
			t.Fatalf("resend form without a CSRF token: %d %s", form.status, form.body)
		}
	})
}

// Scenario (a), team-based: company with parent → activate portal → member
// with role → add an existing member (not activated) → grant → invite → accept.
func TestScenarioTeamBased(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("teams")
	o.staff("POST", "/portal/enable", nil)
	parent := o.staff("POST", "/companies", map[string]any{"name": "Holding"}).json(t)["id"].(string)
	team := o.staff("POST", "/companies", map[string]any{"name": "Team Blue", "parent_id": parent, "location": "Berlin"}).json(t)["id"].(string)
	other := o.staff("POST", "/companies", map[string]any{"name": "Team Red", "parent_id": parent}).json(t)["id"].(string)
	for _, c := range []string{team, other} {
		if r := o.staff("POST", "/companies/"+c+"/portal/activate", nil); r.status != 200 {
			t.Fatalf("activate: %d", r.status)
		}
	}
	role := o.staff("POST", "/roles", map[string]any{"name": "Member", "permissions": map[string]bool{"view_company_tickets": true}}).json(t)["id"].(string)
	member := o.activeUser(team, "member@teams.test", map[string]any{"role_id": role})
	// An existing member of Team Red is added to Team Blue: added, not activated.
	existing := o.activeUser(other, "existing@teams.test", nil)
	r := o.staff("PATCH", "/users/"+existing, map[string]any{"company_id": team})
	if r.status != 200 || r.json(t)["status"] != "added" || r.json(t)["company_id"] != team {
		t.Fatalf("add to team: %d %s", r.status, r.body)
	}
	h.login(o.slug, "existing@teams.test", password).problem(t, 403, "login_refused")
	if r := o.staff("POST", "/users/"+existing+"/portal-access", nil); r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	o.session("existing@teams.test")
	// A newcomer: created without access, granted, invited, accepts.
	r = o.staff("POST", "/users", map[string]any{"first_name": "New", "last_name": "Comer", "email": "new@teams.test", "company_id": team})
	newcomer := r.json(t)["id"].(string)
	if r.json(t)["status"] != "added" {
		t.Fatalf("newcomer: %s", r.body)
	}
	o.staff("POST", "/users/"+newcomer+"/portal-access", nil)
	path := o.invite(newcomer)
	if r := h.do("POST", path+"/accept", "", map[string]any{"password": password}); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	me := o.portal("GET", "/me", o.session("member@teams.test"), nil).json(t)
	if me["effective_permissions"].(map[string]any)["view_company_tickets"] != true || me["company"].(map[string]any)["id"] != team {
		t.Fatalf("member's me: %v", me)
	}
	eventually(t, "team lists three active members", func() bool {
		return len(o.staff("GET", "/users?company_id="+team+"&status=active", nil).json(t)["items"].([]any)) == 3
	})
	_ = member
}

// Scenario (b), self-service: a customer super user invites a colleague,
// edits them (no new invitation), removes them (login then fails).
func TestScenarioSelfService(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("selfserve")
	company := o.setup()
	otherCompany := o.staff("POST", "/companies", map[string]any{"name": "Initech"}).json(t)["id"].(string)
	outsider := o.createUser(otherCompany, "outsider@initech.test")
	super := o.staff("POST", "/roles", map[string]any{"name": "Super user", "permissions": map[string]bool{"manage_users": true}}).json(t)["id"].(string)
	o.activeUser(company, "boss@globex.test", map[string]any{"role_id": super})
	o.activeUser(company, "plain@globex.test", nil)
	boss := o.session("boss@globex.test")
	plain := o.session("plain@globex.test")

	h.unchanged(func() {
		o.portal("GET", "/users", plain, nil).problem(t, 403, "manage_users_required")
		o.portal("POST", "/users", plain, map[string]any{"first_name": "X", "last_name": "Y", "email": "x@globex.test"}).problem(t, 403, "manage_users_required")
		o.portal("GET", "/users", "", nil).problem(t, 401, "unauthenticated")
		o.portal("PATCH", "/users/"+outsider, boss, map[string]any{"first_name": "Hacked"}).problem(t, 404, "user_not_found")
		o.portal("DELETE", "/users/"+outsider, boss, nil).problem(t, 404, "user_not_found")
		o.portal("PATCH", "/users/"+outsider, boss, map[string]any{"company_id": company}).problem(t, 422, "validation_failed")
	})
	r := o.portal("POST", "/users", boss, map[string]any{"first_name": "Colin", "last_name": "League", "email": "colin@globex.test"})
	if r.status != 201 || r.json(t)["company_id"] != company || r.json(t)["status"] != "invited" {
		t.Fatalf("self-service invite: %d %s", r.status, r.body)
	}
	colin := r.json(t)["id"].(string)
	var actor, trigger string
	if err := h.pool.QueryRow(t.Context(), `SELECT metadata->>'actor_kind', metadata->>'trigger' FROM events WHERE stream_id = $1 AND stream_version = 1`, "user-"+colin).Scan(&actor, &trigger); err != nil || actor != "portal_user" || trigger != "self_service" {
		t.Fatalf("metadata of the self-service invite: %s %s %v", actor, trigger, err)
	}
	path := strings.TrimPrefix(r.json(t)["accept_url"].(string), "http://portal.test")
	if r := h.do("POST", path+"/accept", "", map[string]any{"password": password}); r.status != 200 {
		t.Fatalf("colleague accepts: %d %s", r.status, r.body)
	}
	invitations := h.countEvents("InvitationSent")
	if r := o.portal("PATCH", "/users/"+colin, boss, map[string]any{"last_name": "Leaguer"}); r.status != 200 || r.json(t)["last_name"] != "Leaguer" {
		t.Fatalf("self-service edit: %d %s", r.status, r.body)
	}
	if h.countEvents("InvitationSent") != invitations {
		t.Fatal("an edit sent an invitation")
	}
	eventually(t, "boss sees their company only", func() bool {
		items := o.portal("GET", "/users", boss, nil).json(t)["items"].([]any)
		return len(items) == 3
	})
	colinSession := o.session("colin@globex.test")
	o.portal("DELETE", "/users/"+o.portal("GET", "/me", boss, nil).json(t)["id"].(string), boss, nil).problem(t, 409, "cannot_remove_self")
	if r := o.portal("DELETE", "/users/"+colin, boss, nil); r.status != 204 {
		t.Fatalf("self-service remove: %d %s", r.status, r.body)
	}
	o.portal("GET", "/me", colinSession, nil).problem(t, 401, "unauthenticated")
	h.login(o.slug, "colin@globex.test", password).problem(t, 401, "invalid_credentials")
}

// Scenario (c), site-based: enable portal → open sign-up → sign up →
// deactivate → login refused → reactivate → login works.
func TestScenarioSiteBased(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("site")
	o.staff("POST", "/portal/enable", nil)
	o.staff("PATCH", "/portal", map[string]any{"signup_policy": "open"})
	r := o.portal("POST", "/signup", "", map[string]any{"email": "walkin@anywhere.test", "first_name": "Walk", "last_name": "In", "password": password})
	if r.status != 201 {
		t.Fatalf("sign up: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	o.session("walkin@anywhere.test")
	o.staff("POST", "/users/"+id+"/deactivate", nil)
	h.login(o.slug, "walkin@anywhere.test", password).problem(t, 403, "login_refused")
	o.staff("POST", "/users/"+id+"/reactivate", nil)
	o.session("walkin@anywhere.test")
	var trigger string
	if err := h.pool.QueryRow(t.Context(), `SELECT metadata->>'trigger' FROM events WHERE stream_id = $1 AND stream_version = 1`, "user-"+id).Scan(&trigger); err != nil || trigger != "signup" {
		t.Fatalf("sign-up trigger %q (%v)", trigger, err)
	}
}

// Nothing of another organization resolves: every id is 404, changes nothing.
func TestAnotherOrganizationsIDsAreNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := h.newOrg("alpha"), h.newOrg("beta")
	a.setup()
	bCompany := b.setup()
	bUser := b.activeUser(bCompany, "bee@beta.test", nil)
	bRole := b.staff("POST", "/roles", map[string]any{"name": "R"}).json(t)["id"].(string)
	bToken := b.staff("POST", "/tokens", map[string]any{"name": "t", "role": "agent"}).json(t)["id"].(string)
	bSession := b.session("bee@beta.test")
	cases := []struct{ method, path, code string }{
		{"GET", "/companies/" + bCompany, "company_not_found"},
		{"PATCH", "/companies/" + bCompany, "company_not_found"},
		{"POST", "/companies/" + bCompany + "/portal/deactivate", "company_not_found"},
		{"GET", "/users/" + bUser, "user_not_found"},
		{"PATCH", "/users/" + bUser, "user_not_found"},
		{"DELETE", "/users/" + bUser, "user_not_found"},
		{"POST", "/users/" + bUser + "/deactivate", "user_not_found"},
		{"POST", "/users/" + bUser + "/reactivate", "user_not_found"},
		{"POST", "/users/" + bUser + "/portal-access", "user_not_found"},
		{"DELETE", "/users/" + bUser + "/portal-access", "user_not_found"},
		{"POST", "/users/" + bUser + "/invitations", "user_not_found"},
		{"PATCH", "/roles/" + bRole, "role_not_found"},
		{"DELETE", "/tokens/" + bToken, "token_not_found"},
	}
	for _, c := range cases {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"name": "Hijacked"}
			if strings.HasPrefix(c.path, "/users/") {
				body = map[string]any{"first_name": "Hijacked"}
			}
		}
		h.unchanged(func() { a.staff(c.method, c.path, body).problem(t, 404, c.code) })
	}
	// Organization b's staff path with a's token, and b's session on a's portal.
	h.do("GET", "/v1/orgs/"+b.id+"/users/"+bUser, a.token, nil).problem(t, 404, "not_found")
	a.portal("GET", "/me", bSession, nil).problem(t, 401, "unauthenticated")
}
