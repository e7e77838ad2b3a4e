package http_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/migrations/dbtest"
	"gatehouse/notify/smtptest"
)

// The portal's pages end to end in headless Chromium (Debian's chromium
// package; scripts/test.sh installs it when missing): what a person does
// with the links in their emails. On failure each subtest leaves a
// screenshot of the page it was on in $GATEHOUSE_SCREENSHOTS (default
// http/screenshots).

// chromiumPath finds the browser; CHROMIUM overrides.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium package (scripts/test.sh does) or set CHROMIUM")
	return ""
}

// tab is one isolated browser context (own cookies) on the service.
type tab struct {
	t   *testing.T
	ctx context.Context
	h   *harness
}

func newTab(t *testing.T, browser context.Context, h *harness) *tab {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	tb := &tab{t: t, ctx: ctx, h: h}
	t.Cleanup(tb.screenshotOnFailure)
	return tb
}

func (tb *tab) screenshotOnFailure() {
	if !tb.t.Failed() {
		return
	}
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		dir = "screenshots"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Logf("screenshot: %v", err)
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot: %v", err)
		return
	}
	name := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(tb.t.Name(), "_")+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		tb.t.Logf("screenshot: %v", err)
		return
	}
	abs, _ := filepath.Abs(name)
	tb.t.Logf("screenshot of the page at failure: %s", abs)
}

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.h.url+path))
}

func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do("fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// click clicks and waits for the element the next page must show.
func (tb *tab) click(sel, thenVisible string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(thenVisible)))
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	a, err := chromedp.Run(tb.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		tb.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return a.Value
}

func (tb *tab) location() string {
	tb.t.Helper()
	l, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatal(err)
	}
	return l
}

func (tb *tab) expectText(sel string, want ...string) {
	tb.t.Helper()
	got := tb.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			tb.t.Fatalf("%s shows %q, want it to contain %q (page %s)", sel, got, w, tb.location())
		}
	}
}

// pathOf turns a link from an email or answer into a path on the test server.
func pathOf(link string) string { return strings.TrimPrefix(link, "http://portal.test") }

func TestPortalPagesInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1024, 900))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}

	newSite := func(t *testing.T, slug string) (*harness, *org, string) {
		pool, _ := dbtest.NewPool(t)
		h := newHarnessWith(t, pool, harnessOptions{contract: true, mail: smtptest.New(t)})
		o := h.newOrg(slug)
		return h, o, o.setup()
	}

	t.Run("invitation link, password with a wrong confirmation, then home", func(t *testing.T) {
		h, o, company := newSite(t, "invite")
		created := o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@globex.test",
			"company_id": company, "send_invite": true}).json(t)
		tb := newTab(t, browser, h)
		tb.open(pathOf(created["accept_url"].(string)))
		tb.expectText("h1", "Welcome, Ada")
		tb.expectText("label[for=password]", "Choose a password")
		tb.expectText("#password-hint", "At least 10 characters")

		tb.fill("#password", "correct horse battery")
		tb.fill("#confirm", "correct horse staple")
		tb.click("button[type=submit]", "#form-error")
		tb.expectText("[role=alert]", "Please correct the fields")
		tb.expectText("#confirm-error", "The two passwords do not match")
		if tb.attr("#confirm", "aria-invalid") != "true" || !strings.Contains(tb.attr("#confirm", "aria-describedby"), "confirm-error") {
			t.Fatal("the field in error is not marked for assistive technology")
		}
		// Keyboard only: type, Tab to the confirmation, Enter submits.
		tb.do("keyboard", chromedp.Focus(chromedp.CSS("#password")), chromedp.KeyEvent("correct horse battery"),
			chromedp.KeyEvent("\t"), chromedp.KeyEvent("correct horse battery"), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS("ul.permissions")))
		tb.expectText("h1", "Hello, Ada")
		tb.expectText("main", "ada@globex.test", "Globex", "Use the customer portal")
		if loc := tb.location(); !strings.HasSuffix(loc, "/portal/"+o.slug+"/home") {
			t.Fatalf("after accepting, the address bar shows %s (the token must be gone)", loc)
		}
		// The link is used now: opening it again says so.
		tb.open(pathOf(created["accept_url"].(string)))
		tb.expectText("h1", "This link has been used")
	})

	t.Run("expired link, ask for a new one, it works", func(t *testing.T) {
		h, o, company := newSite(t, "expired")
		created := o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@globex.test",
			"company_id": company, "send_invite": true}).json(t)
		eventually(t, "first invitation email", func() bool { return len(h.mail.To("ada@globex.test")) == 1 })
		h.clock.Advance(25 * time.Hour)
		tb := newTab(t, browser, h)
		tb.open(pathOf(created["accept_url"].(string)))
		tb.expectText("h1", "This link has expired")
		tb.fill("#email", "ada@globex.test")
		tb.click("button[type=submit]", ".notice")
		tb.expectText("[role=status]", "a new link is on its way")
		eventually(t, "second invitation email", func() bool { return len(h.mail.To("ada@globex.test")) == 2 })
		_, body := decoded(t, h.mail.To("ada@globex.test")[1])
		tb.open(pathOf(linkPattern.FindString(body)))
		tb.expectText("h1", "Welcome, Ada")
	})

	t.Run("self sign-up", func(t *testing.T) {
		h, o, _ := newSite(t, "signup")
		tb := newTab(t, browser, h)
		tb.open("/portal/" + o.slug + "/signup")
		tb.expectText("main", "does not take sign-ups")
		o.staff("PATCH", "/portal", map[string]any{"signup_policy": "open"})
		tb.open("/portal/" + o.slug + "/signup")
		tb.fill("#first_name", "Zoë")
		tb.fill("#last_name", "Quinn")
		tb.fill("#email", "Zoe@Example.com")
		tb.fill("#password", "a long enough passphrase")
		tb.fill("#confirm", "a long enough passphrase")
		tb.click("button[type=submit]", "ul.permissions")
		tb.expectText("h1", "Hello, Zoë")
		tb.expectText("main", "zoe@example.com")
	})

	t.Run("a super user invites, edits and removes a colleague", func(t *testing.T) {
		h, o, company := newSite(t, "super")
		role := o.staff("POST", "/roles", map[string]any{"name": "Super user", "permissions": map[string]bool{"manage_users": true}}).json(t)["id"].(string)
		o.activeUser(company, "boss@globex.test", map[string]any{"role_id": role})
		tb := newTab(t, browser, h)
		tb.open("/portal/" + o.slug + "/home")
		tb.expectText("h1", "Log in to")
		tb.fill("#email", "boss@globex.test")
		tb.fill("#password", password)
		tb.click("button[type=submit]", "ul.permissions")
		tb.expectText("ul.permissions", "Invite and manage your company's users")
		tb.click(`nav a[href$="/company/users"]`, "table")
		tb.fill("#first_name", "Grace")
		tb.fill("#last_name", "Hopper")
		tb.fill("#email", "grace@globex.test")
		tb.click("form[action$='/company/users'] button[type=submit]", ".notice")
		tb.expectText("[role=status]", "Grace Hopper has been invited")
		tb.expectText("table", "grace@globex.test", "Invited")
		eventually(t, "the colleague's invitation email", func() bool { return len(h.mail.To("grace@globex.test")) == 1 })

		tb.click(`a[aria-label="Remove Grace Hopper"]`, "button.danger")
		tb.expectText("h1", "Remove Grace Hopper?")
		tb.click("button.danger", ".notice")
		tb.expectText("[role=status]", "Grace Hopper has been removed")
		if strings.Contains(tb.text("table"), "grace@globex.test") {
			t.Fatal("the removed colleague is still listed")
		}
	})

	t.Run("a German portal speaks German", func(t *testing.T) {
		h, o, company := newSite(t, "deutsch")
		o.staff("PATCH", "/portal", map[string]any{"language": "de"})
		created := o.staff("POST", "/users", map[string]any{"first_name": "Jürgen", "last_name": "Groß", "email": "juergen@globex.test",
			"company_id": company, "send_invite": true}).json(t)
		tb := newTab(t, browser, h)
		tb.open("/portal/" + o.slug + "/login")
		tb.expectText("h1", "Bei deutsch anmelden")
		tb.expectText("label[for=password]", "Passwort")
		if lang := tb.attr("html", "lang"); lang != "de" {
			t.Fatalf("html lang=%q", lang)
		}
		tb.open(pathOf(created["accept_url"].(string)))
		tb.expectText("h1", "Willkommen, Jürgen")
		tb.fill("#password", "richtiges pferd batterie")
		tb.fill("#confirm", "falsches pferd batterie")
		tb.click("button[type=submit]", "#form-error")
		tb.expectText("#confirm-error", "Die beiden Passwörter stimmen nicht überein")
		tb.fill("#password", "richtiges pferd batterie")
		tb.fill("#confirm", "richtiges pferd batterie")
		tb.click("button[type=submit]", "ul.permissions")
		tb.expectText("h1", "Hallo, Jürgen")
		tb.expectText("ul.permissions", "Das Kundenportal nutzen")
	})
}
