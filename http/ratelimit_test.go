package http_test

import (
	"strconv"
	"strings"
	"testing"

	"gatehouse/migrations/dbtest"
)

// The public endpoints that spend or guess secrets are limited per client
// address: 429 with Retry-After, and nothing is recorded.
func TestPortalEndpointsAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	h := newHarnessWith(t, pool, harnessOptions{contract: true, portalRate: 1})
	o := h.newOrg("acme")
	o.setup()
	limited := 0
	for i := 0; i < 30; i++ {
		r := h.login(o.slug, "nobody"+strconv.Itoa(i)+"@globex.test", "wrong password")
		switch r.status {
		case 401:
		case 429:
			limited++
			r.problem(t, 429, "rate_limited")
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("login answered %d", r.status)
		}
	}
	// A burst of 20 passes, the rest waits (one a minute).
	if limited != 10 {
		t.Fatalf("%d of 30 logins limited, want 10", limited)
	}
	h.unchanged(func() {
		h.do("POST", "/portal/"+o.slug+"/signup", "", map[string]any{"email": "x@y.test", "password": "long enough pw"}).problem(t, 429, "rate_limited")
		h.do("POST", "/portal/"+o.slug+"/invitations/resend", "", map[string]any{"email": "x@y.test"}).problem(t, 429, "rate_limited")
		h.do("POST", "/portal/"+o.slug+"/invitations/abc/accept", "", map[string]any{"password": "long enough pw"}).problem(t, 429, "rate_limited")
	})
	// Staff routes are not limited this way.
	if r := o.staff("GET", "/portal", nil); r.status != 200 {
		t.Fatalf("staff route: %d", r.status)
	}
}

// Given an address past its limit, when a browser posts a portal form,
// then it gets a page saying how long to wait (429, Retry-After), not a
// JSON problem, and nothing is recorded.
func TestRateLimitedFormPostsGetAPage(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	h := newHarnessWith(t, pool, harnessOptions{portalRate: 1})
	o := h.newOrg("acme")
	o.setup()
	for i := 0; i < 20; i++ { // the burst
		h.login(o.slug, "nobody"+strconv.Itoa(i)+"@globex.test", "wrong password")
	}
	h.unchanged(func() {
		for _, path := range []string{"/login", "/signup", "/invitations/resend", "/invitations/abc/accept"} {
			r := h.doForm("/portal/"+o.slug+path, "email=x%40y.test&password=long+enough+pw")
			if r.status != 429 {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("%s: Content-Type %q", path, ct)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("%s: Retry-After %q", path, r.header.Get("Retry-After"))
			}
			if !strings.Contains(string(r.body), "Too many attempts. Please wait") {
				t.Fatalf("%s: the page does not say to wait:\n%s", path, r.body)
			}
		}
	})
}
