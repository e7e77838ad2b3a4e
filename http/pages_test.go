package http_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// browser is a plain HTTP client with a cookie jar, for page tests below
// the level of a real browser: it keeps the session and CSRF cookies and
// does not follow redirects, so tests see them.
type browser struct {
	t    *testing.T
	h    *harness
	http *http.Client
}

func (h *harness) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, h: h, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.http.Get(b.h.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

// post sends a form; csrf is the token to send ("" sends none).
func (b *browser) post(path, csrf string, form url.Values) page {
	b.t.Helper()
	if csrf != "" {
		form.Set("csrf_token", csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.url)
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

func readPage(t *testing.T, resp *http.Response) page {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %d %s", p.status, p.body)
	}
	return strings.ReplaceAll(m[1], "&#43;", "+")
}

// submit loads the page at path and posts its form (the first one with
// the given action) with the values.
func (b *browser) submit(path, action string, values url.Values) page {
	b.t.Helper()
	p := b.get(path)
	if !strings.Contains(p.body, `action="`+action+`"`) {
		b.t.Fatalf("%s has no form posting to %s: %s", path, action, p.body)
	}
	return b.post(action, p.csrf(b.t), values)
}

func TestPagesCarrySecurityHeadersAndLabels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	o.setup()
	b := h.browser(t)
	for _, path := range []string{"/login", "/signup", "/resend"} {
		p := b.get("/portal/" + o.slug + path)
		if p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") || strings.Contains(p.body, "<script") {
			t.Errorf("%s: script allowed or present: %q", path, csp)
		}
		if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("X-Content-Type-Options") != "nosniff" ||
			p.header.Get("Referrer-Policy") != "same-origin" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", path, p.header)
		}
		// Every visible input has a label.
		for _, m := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
			if !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
				t.Errorf("%s: input %s has no label", path, m[1])
			}
		}
		if strings.Contains(p.body, "<form") && !strings.Contains(p.body, `type="hidden" name="csrf_token"`) {
			t.Errorf("%s: form without a CSRF field", path)
		}
	}
	u, _ := url.Parse(h.url + "/portal/" + o.slug + "/login")
	var csrfCookie *http.Cookie
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "gatehouse_csrf" {
			csrfCookie = c
		}
	}
	if csrfCookie == nil {
		t.Fatal("no CSRF cookie set")
	}
	css := b.get("/assets/portal.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", css.status, css.header)
	}
}

func TestFormPostsNeedTheirPagesCSRFToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.activeUser(company, "ada@globex.test", nil)
	login := url.Values{"email": {"ada@globex.test"}, "password": {password}}

	b := h.browser(t)
	token := b.get("/portal/" + o.slug + "/login").csrf(t)
	refused := []struct {
		name string
		b    *browser
		csrf string
	}{
		{"no token", b, ""},
		{"a made-up token", b, "AAAA" + token[4:]},
		{"another browser's token", h.browser(t), token},
	}
	for _, c := range refused {
		p := c.b.post("/portal/"+o.slug+"/login", c.csrf, login)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "reload the page") {
			t.Errorf("%s: %d %s", c.name, p.status, p.body)
		}
		if strings.Contains(strings.Join(p.header.Values("Set-Cookie"), ";"), "gatehouse_session=") {
			t.Errorf("%s: a session was opened", c.name)
		}
	}
	p := b.post("/portal/"+o.slug+"/login", token, login)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal/"+o.slug+"/home" {
		t.Fatalf("login with the page's token: %d %v %s", p.status, p.header, p.body)
	}
	cookie := strings.Join(p.header.Values("Set-Cookie"), ";")
	for _, want := range []string{"gatehouse_session=", "HttpOnly", "SameSite=Lax", "Path=/portal/" + o.slug} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	home := b.get("/portal/" + o.slug + "/home")
	if home.status != 200 || !strings.Contains(home.body, "Hello, Ada") || !strings.Contains(home.body, "Use the customer portal") {
		t.Fatalf("home: %d %s", home.status, home.body)
	}
	// The JSON API on the same URL is not a form: no CSRF token needed.
	if r := h.login(o.slug, "ada@globex.test", password); r.status != 200 {
		t.Fatalf("JSON login: %d", r.status)
	}
	// Wrong password on the page: an error, announced, and no session.
	p = b.submit("/portal/"+o.slug+"/login", "/portal/"+o.slug+"/login", url.Values{"email": {"ada@globex.test"}, "password": {"wrong one"}})
	if p.status != 401 || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, "email address or password is not right") {
		t.Fatalf("wrong password page: %d %s", p.status, p.body)
	}
	// Logging out through the page ends the session.
	p = b.submit("/portal/"+o.slug+"/home", "/portal/"+o.slug+"/logout", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", p.status, p.body)
	}
	if p := b.get("/portal/" + o.slug + "/home"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal/"+o.slug+"/login" {
		t.Fatalf("home after logout: %d %v", p.status, p.header)
	}
}

func TestCompanyUserPagesFollowPermissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	other := o.staff("POST", "/companies", map[string]any{"name": "Initech"}).json(t)["id"].(string)
	o.staff("POST", "/companies/"+other+"/portal/activate", nil)
	role := o.staff("POST", "/roles", map[string]any{"name": "Super user", "permissions": map[string]bool{"manage_users": true}}).json(t)["id"].(string)
	o.activeUser(company, "plain@globex.test", nil)
	o.activeUser(company, "boss@globex.test", map[string]any{"role_id": role})
	stranger := o.createUser(other, "someone@initech.test")
	colleague := o.createUser(company, "colleague@globex.test")

	logIn := func(email string) *browser {
		b := h.browser(t)
		if p := b.submit("/portal/"+o.slug+"/login", "/portal/"+o.slug+"/login", url.Values{"email": {email}, "password": {password}}); p.status != http.StatusSeeOther {
			t.Fatalf("login %s: %d %s", email, p.status, p.body)
		}
		return b
	}
	plain := logIn("plain@globex.test")
	if p := plain.get("/portal/" + o.slug + "/company/users"); p.status != 403 || !strings.Contains(p.body, "permission to manage") {
		t.Fatalf("without manage_users: %d %s", p.status, p.body)
	}
	if p := plain.get("/portal/" + o.slug + "/home"); strings.Contains(p.body, "/company/users") {
		t.Fatal("the home page links to user management for a user without manage_users")
	}
	boss := logIn("boss@globex.test")
	var list page
	eventually(t, "the read model shows the company's users", func() bool {
		list = boss.get("/portal/" + o.slug + "/company/users")
		return strings.Contains(list.body, "colleague@globex.test")
	})
	if list.status != 200 || !strings.Contains(list.body, "colleague@globex.test") || strings.Contains(list.body, "someone@initech.test") {
		t.Fatalf("list: %d %s", list.status, list.body[strings.Index(list.body, "<main"):])
	}
	for _, path := range []string{"/company/users/" + stranger + "/edit", "/company/users/" + stranger + "/remove", "/company/users/not-an-id/edit"} {
		if p := boss.get("/portal/" + o.slug + path); p.status != 404 {
			t.Errorf("%s: %d, want 404", path, p.status)
		}
	}
	// Removing a user of another company through a forged form changes nothing.
	h.unchanged(func() {
		p := boss.post("/portal/"+o.slug+"/company/users/"+stranger+"/remove", list.csrf(t), url.Values{})
		if p.status != 404 {
			t.Fatalf("remove a stranger: %d", p.status)
		}
	})
	// Edit, then remove after the confirmation page.
	p := boss.submit("/portal/"+o.slug+"/company/users/"+colleague+"/edit", "/portal/"+o.slug+"/company/users/"+colleague+"/edit",
		url.Values{"first_name": {"Grace"}, "last_name": {"Hopper"}, "email": {"grace@globex.test"}, "version": {"1"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", p.status, p.body)
	}
	// The page waits (boundedly) for the read model; under a loaded CI
	// machine it may take a reload.
	after := p.header.Get("Location")
	eventually(t, "the list names the edited colleague", func() bool {
		return strings.Contains(boss.get(after).body, "The changes to Grace Hopper are saved")
	})
	confirm := boss.get("/portal/" + o.slug + "/company/users/" + colleague + "/remove")
	if confirm.status != 200 || !strings.Contains(confirm.body, "Remove Grace Hopper?") {
		t.Fatalf("confirmation page: %d %s", confirm.status, confirm.body)
	}
	p = boss.submit("/portal/"+o.slug+"/company/users/"+colleague+"/remove", "/portal/"+o.slug+"/company/users/"+colleague+"/remove", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", p.status, p.body)
	}
	after = p.header.Get("Location")
	eventually(t, "the list without the removed colleague", func() bool {
		l := boss.get(after).body
		return !strings.Contains(l, "grace@globex.test") && strings.Contains(l, "Grace Hopper has been removed")
	})
	if u := o.staff("GET", "/users/"+colleague, nil).json(t); u["status"] != "removed" {
		t.Fatalf("colleague after removal: %v", u)
	}
}
