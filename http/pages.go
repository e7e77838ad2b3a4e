package http

import (
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strings"

	"github.com/gorilla/csrf"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// The portal's pages are server-rendered html/template with no script at
// all, so the Content-Security-Policy can forbid every script. Strings come
// from the message catalogues in locales/, one per portal language.

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed locales/*.json
var localeFiles embed.FS

//go:embed assets/portal.css
var portalCSS []byte

// pageCSP allows the one stylesheet and form posts to this origin; nothing
// else, no script, no framing.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pages renders the portal's HTML.
type pages struct {
	templates map[string]*template.Template
	catalog   catalog.Catalog
	languages []language.Tag
	protect   func(http.Handler) http.Handler
	plaintext bool
}

func newPages(csrfKey []byte, secureCookies bool, refused http.Handler) (*pages, error) {
	layout, err := template.ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse page layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{templates: map[string]*template.Template{}, plaintext: !secureCookies}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.templates[name] = t
	}
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	locales, err := fs.Glob(localeFiles, "locales/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range locales {
		raw, err := localeFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var msgs map[string]string
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, fmt.Errorf("read message catalogue %s: %w", f, err)
		}
		tag := language.Make(strings.TrimSuffix(strings.TrimPrefix(f, "locales/"), ".json"))
		for k, v := range msgs {
			if err := b.SetString(tag, k, v); err != nil {
				return nil, fmt.Errorf("catalogue %s, message %q: %w", f, k, err)
			}
		}
		p.languages = append(p.languages, tag)
	}
	p.catalog = b
	if len(csrfKey) == 0 {
		csrfKey = make([]byte, 32)
		if _, err := rand.Read(csrfKey); err != nil {
			return nil, err
		}
	}
	p.protect = csrf.Protect(csrfKey,
		csrf.CookieName("gatehouse_csrf"), csrf.FieldName("csrf_token"), csrf.Path("/portal"),
		csrf.Secure(secureCookies), csrf.HttpOnly(true), csrf.SameSite(csrf.SameSiteLaxMode),
		csrf.ErrorHandler(refused))
	return p, nil
}

// csrf wraps a page handler: form posts need the token of the page they
// came from. Over plain HTTP (a local setup) the library must be told so,
// or it insists on an HTTPS Referer.
func (p *pages) csrf(h http.HandlerFunc) http.HandlerFunc {
	protected := p.protect(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if p.plaintext {
			r = csrf.PlaintextHTTPRequest(r)
		}
		protected.ServeHTTP(w, r)
	}
}

// csrfRefused answers a form post without a valid token with a page (in
// the portal's language) and changes nothing.
func (s *Server) csrfRefused(w http.ResponseWriter, r *http.Request) {
	zerolog.Ctx(r.Context()).Warn().AnErr("reason", csrf.FailureReason(r)).Msg("form post refused: CSRF token")
	v := s.view(r, "error.generic")
	v.Error = v.T("error.csrf")
	s.render(w, http.StatusForbidden, "message", v)
}

// view is what every page template gets.
type view struct {
	printer    *message.Printer
	Lang       string
	PortalName string
	Slug       string
	Base       string
	Title      string
	CSRF       template.HTML
	Me         *commands.PortalIdentity
	CanManage  bool
	Notice     string
	Error      string
	Values     map[string]string
	Errors     map[string]string
	Data       any
}

// T translates a catalogue key.
func (v *view) T(key string, args ...any) string { return v.printer.Sprintf(key, args...) }

// formField is one labelled input.
type formField struct {
	ID, Type, Label, Hint, Value, Autocomplete, Error string
	Required, Autofocus                               bool
	MinLength                                         int
}

// Field describes an input named id, with its value and error from the
// last post; the first field in error gets the focus.
func (v *view) Field(id, typ, labelKey, autocomplete string, required bool) formField {
	f := formField{ID: id, Type: typ, Label: v.T(labelKey), Autocomplete: autocomplete, Required: required, Error: v.Errors[id]}
	if typ != "password" {
		f.Value = v.Values[id]
	}
	if f.Error != "" && v.Errors["_focus"] == id {
		f.Autofocus = true
	}
	return f
}

// PasswordField is a new-password input with the rules shown next to it.
func (v *view) PasswordField(id, labelKey string) formField {
	f := v.Field(id, "password", labelKey, "new-password", true)
	f.Hint = v.T("password.rules", domain.MinPasswordLength)
	f.MinLength = domain.MinPasswordLength
	return f
}

// fieldError records an error message for a field (translated when the
// catalogue knows it).
func (v *view) fieldError(field, msg string) {
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	if _, ok := v.Errors["_focus"]; !ok {
		v.Errors["_focus"] = field
	}
	v.Errors[field] = v.T(msg)
}

// fail shows err on the page: field errors next to their inputs, anything
// else as the page's error. It returns the status to answer with.
func (v *view) fail(err error, fields ...string) int {
	var de *domain.Error
	switch {
	case errors.As(err, &de) && len(de.Fields) > 0:
		known := map[string]bool{}
		for _, f := range fields {
			known[f] = true
		}
		for _, fe := range de.Fields {
			if known[fe.Field] {
				v.fieldError(fe.Field, fe.Message)
			}
		}
		v.Error = v.T("error.summary")
		return http.StatusUnprocessableEntity
	case errors.As(err, &de) && de.Kind == domain.KindTooManyRequests:
		v.Error = v.T("error.too_many", int(math.Ceil(de.RetryAfter.Seconds())))
		return http.StatusTooManyRequests
	case eventstore.Unavailable(err):
		v.Error = v.T("error.unavailable")
		return http.StatusServiceUnavailable
	}
	v.Error = v.T("error.generic")
	return http.StatusInternalServerError
}

// view starts a page for the portal in the path, in its language. A slug
// that does not resolve still gets a page (in English) so that a broken
// link explains itself.
func (s *Server) view(r *http.Request, titleKey string, args ...any) *view {
	return s.viewOf(r, true, titleKey, args...)
}

// viewOf is view, reading the portal's name and language only when
// lookup is true: a page refused by the rate limiter must not cost the
// database anything, and is in English.
func (s *Server) viewOf(r *http.Request, lookup bool, titleKey string, args ...any) *view {
	v := &view{Lang: "en", Slug: mux.Vars(r)["slug"], CSRF: csrf.TemplateField(r), Values: map[string]string{}}
	v.Base = "/portal/" + v.Slug
	v.PortalName = v.Slug
	if lookup {
		if org, err := s.app.OrgBySlug(r.Context(), v.Slug); err == nil {
			if p, err := s.app.Portal(r.Context(), org); err == nil {
				v.PortalName, v.Lang = p.Name, p.Settings.Language
			}
		}
	}
	tag, _, _ := language.NewMatcher(s.pages.languages).Match(language.Make(v.Lang))
	base, _ := tag.Base()
	v.Lang = base.String()
	v.printer = message.NewPrinter(tag, message.Catalog(s.pages.catalog))
	if id, ok := r.Context().Value(portalIdentityKey).(commands.PortalIdentity); ok {
		v.Me = &id
		v.CanManage = id.Permissions[domain.PermManageUsers] && id.User.CompanyID != ""
	}
	if titleKey != "" {
		v.Title = v.T(titleKey, args...)
	}
	return v
}

// render writes a page with the headers every page carries.
func (s *Server) render(w http.ResponseWriter, status int, page string, v *view) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: an invitation page's address holds the
	// token, which must not leave the site, but a form post needs its
	// Origin header (no-referrer makes it "null") for the CSRF check.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	if err := s.pages.templates[page].ExecuteTemplate(w, "layout", v); err != nil {
		s.log.Error().Err(err).Str("page", page).Msg("render page")
	}
}

// seeOther sends the browser on with a GET (post/redirect/get), so that no
// form is posted twice and no token stays in the address bar.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (s *Server) stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(portalCSS)
}
