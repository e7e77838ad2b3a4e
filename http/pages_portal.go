package http

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// formOr sends a browser's form post to the page flow (CSRF-checked) and
// anything else — JSON from API clients — to the API handler, so one URL
// serves both as API.md and the pages promise.
func (s *Server) formOr(page, api http.HandlerFunc) http.HandlerFunc {
	protected := s.pages.csrf(page)
	return func(w http.ResponseWriter, r *http.Request) {
		form, err := isFormPost(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !form {
			api(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, r, badRequest("malformed_form", "the form could not be read"))
			return
		}
		protected(w, r)
	}
}

// page wraps a page's GET: it hands out the CSRF token its forms carry.
func (s *Server) page(h http.HandlerFunc) http.HandlerFunc { return s.pages.csrf(h) }

// formPost is a form-only POST: parsed, then CSRF-checked.
func (s *Server) formPost(h http.HandlerFunc) http.HandlerFunc {
	protected := s.pages.csrf(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeError(w, r, badRequest("malformed_form", "the form could not be read"))
			return
		}
		protected(w, r)
	}
}

// portalRoot sends people to their home page (or the login page).
func (s *Server) portalRoot(w http.ResponseWriter, r *http.Request) {
	seeOther(w, r, "/portal/"+mux.Vars(r)["slug"]+"/home")
}

// pageSession resolves the session cookie for a page; without a valid one
// the browser goes to the login page.
func (s *Server) pageSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		slug := mux.Vars(r)["slug"]
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			seeOther(w, r, "/portal/"+slug+"/login")
			return
		}
		id, err := s.app.PortalSession(r.Context(), slug, c.Value)
		if errors.Is(err, commands.ErrUnauthenticated) || errors.Is(err, domain.ErrPortalDisabled) || errors.Is(err, domain.ErrCompanyPortalInactive) {
			s.clearSessionCookie(w, slug)
			seeOther(w, r, "/portal/"+slug+"/login")
			return
		}
		if err != nil {
			v := s.view(r, "error.generic")
			s.render(w, v.fail(err), "message", v)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), portalIdentityKey, id)))
	}
}

func (s *Server) setSessionCookie(w http.ResponseWriter, session commands.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: session.Token, Path: "/portal/" + session.User.Slug, Expires: session.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"),
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, slug string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/portal/" + slug, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.PublicURL, "https://")})
}

// logInAndGoHome opens a session for a person who just proved who they
// are (a password set through an invitation or a sign-up) and sends them
// to their home page.
func (s *Server) logInAndGoHome(w http.ResponseWriter, r *http.Request, v *view, email, password string) {
	session, err := s.app.LogIn(r.Context(), v.Slug, email, password)
	if err != nil {
		// The account exists; only the portal's state can refuse now.
		v.Title = v.T("nav.login")
		v.Error = v.T("login.refused")
		s.render(w, http.StatusForbidden, "message", v)
		return
	}
	s.setSessionCookie(w, session)
	seeOther(w, r, v.Base+"/home")
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "")
	v.Title = v.T("login.title", v.PortalName)
	if r.URL.Query().Get("done") == "logout" {
		v.Notice = v.T("logout.done")
	}
	s.render(w, http.StatusOK, "login", v)
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "")
	v.Title = v.T("login.title", v.PortalName)
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	v.Values["email"] = email
	if strings.TrimSpace(email) == "" {
		v.fieldError("email", "is required")
	}
	if password == "" {
		v.fieldError("password", "is required")
	}
	if v.Errors != nil {
		v.Error = v.T("error.summary")
		s.render(w, http.StatusUnprocessableEntity, "login", v)
		return
	}
	session, err := s.app.LogIn(r.Context(), v.Slug, email, password)
	if err != nil {
		status := http.StatusUnauthorized
		var de *domain.Error
		switch {
		case errors.Is(err, domain.ErrInvalidCredentials):
			v.Error = v.T("login.failed")
		case errors.As(err, &de) && de.Kind == domain.KindForbidden:
			status, v.Error = http.StatusForbidden, v.T("login.refused")
		default:
			status = v.fail(err)
			writeRetryAfter(w, err)
		}
		s.render(w, status, "login", v)
		return
	}
	s.setSessionCookie(w, session)
	seeOther(w, r, v.Base+"/home")
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request) {
	slug := mux.Vars(r)["slug"]
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.app.LogOut(r.Context(), c.Value); err != nil {
			v := s.view(r, "error.generic")
			s.render(w, v.fail(err), "message", v)
			return
		}
	}
	s.clearSessionCookie(w, slug)
	seeOther(w, r, "/portal/"+slug+"/login?done=logout")
}

// signupAllowed tells whether the portal takes sign-ups at all (the policy
// may still refuse a given address).
func (s *Server) signupAllowed(r *http.Request) bool {
	org, err := s.app.OrgBySlug(r.Context(), mux.Vars(r)["slug"])
	if err != nil {
		return false
	}
	p, err := s.app.Portal(r.Context(), org)
	return err == nil && p.Enabled && p.Settings.SignupPolicy != domain.SignupClosed
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "")
	open := s.signupAllowed(r)
	v.Data = open
	if open {
		v.Title = v.T("signup.title", v.PortalName)
	} else {
		v.Title = v.T("signup.closed.title", v.PortalName)
	}
	s.render(w, http.StatusOK, "signup", v)
}

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "")
	v.Title = v.T("signup.title", v.PortalName)
	v.Data = true
	f := r.PostForm
	for _, k := range []string{"first_name", "last_name", "email"} {
		v.Values[k] = f.Get(k)
	}
	if f.Get("password") != f.Get("confirm") {
		v.fieldError("confirm", "error.confirm")
		v.Error = v.T("error.summary")
		s.render(w, http.StatusUnprocessableEntity, "signup", v)
		return
	}
	_, err := s.app.SignUp(r.Context(), commands.Meta{RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context())},
		commands.SignUp{Slug: v.Slug, Email: f.Get("email"), FirstName: f.Get("first_name"), LastName: f.Get("last_name"), Password: f.Get("password")})
	if err != nil {
		status := http.StatusForbidden
		switch {
		case errors.Is(err, domain.ErrSignupClosed), errors.Is(err, domain.ErrPortalDisabled):
			v.Error = v.T("signup.refused")
		case errors.Is(err, domain.ErrEmailTaken):
			status, v.Error = http.StatusConflict, v.T("signup.taken")
		default:
			status = v.fail(err, "first_name", "last_name", "email", "password")
		}
		s.render(w, status, "signup", v)
		return
	}
	s.logInAndGoHome(w, r, v, f.Get("email"), f.Get("password"))
}

func (s *Server) resendPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "resend", s.view(r, "resend.title"))
}

// resendForm gives the same answer for every address, like the API.
func (s *Server) resendForm(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "resend.title")
	email := r.PostForm.Get("email")
	if strings.TrimSpace(email) == "" {
		v.fieldError("email", "is required")
		v.Error = v.T("error.summary")
		s.render(w, http.StatusUnprocessableEntity, "resend", v)
		return
	}
	err := s.app.ResendInvitation(r.Context(), commands.Meta{RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context())},
		v.Slug, email)
	if err != nil && !errors.Is(err, commands.ErrPortalNotFound) {
		s.render(w, v.fail(err), "resend", v)
		return
	}
	v.Notice = v.T("resend.done")
	s.render(w, http.StatusAccepted, "message", v)
}

// invitationPage greets the invited person and asks for a password; a
// link that can no longer be used explains why and offers a new one.
func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	v := s.view(r, "")
	p, err := s.app.PreviewInvitation(r.Context(), v.Slug, token)
	var de *domain.Error
	switch {
	case errors.As(err, &de) && de.Kind == domain.KindNotFound:
		v.Title, v.Error = v.T("invite.notfound.title"), v.T("invite.notfound")
		s.render(w, http.StatusNotFound, "message", v)
	case err != nil:
		s.render(w, v.fail(err), "message", v)
	case p.State == domain.InvitationStatePending:
		v.Title = v.T("invite.title", p.FirstName)
		v.Data = v.Base + "/invitations/" + token + "/accept"
		s.render(w, http.StatusOK, "invitation", v)
	default:
		s.invitationGone(w, v, p.State)
	}
}

func (s *Server) invitationGone(w http.ResponseWriter, v *view, state domain.InvitationState) {
	switch state {
	case domain.InvitationStateExpired:
		v.Title, v.Error = v.T("invite.expired.title"), v.T("invite.expired")
	case domain.InvitationStateAccepted:
		v.Title, v.Error = v.T("invite.used.title"), v.T("invite.used")
		s.render(w, http.StatusGone, "message", v)
		return
	default:
		v.Title, v.Error = v.T("invite.revoked.title"), v.T("invite.revoked")
	}
	s.render(w, http.StatusGone, "invitation", v)
}

// acceptForm sets the password, logs the person in and sends them home:
// the redirect takes the token out of the address bar.
func (s *Server) acceptForm(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	v := s.view(r, "")
	password := r.PostForm.Get("password")
	p, err := s.app.PreviewInvitation(r.Context(), v.Slug, token)
	if err == nil {
		v.Title = v.T("invite.title", p.FirstName)
	}
	v.Data = v.Base + "/invitations/" + token + "/accept"
	if password != r.PostForm.Get("confirm") {
		v.fieldError("confirm", "error.confirm")
		v.Error = v.T("error.summary")
		s.render(w, http.StatusUnprocessableEntity, "invitation", v)
		return
	}
	u, err := s.app.AcceptInvitation(r.Context(), commands.AcceptInvitation{Slug: v.Slug, Token: token, Password: password})
	var de *domain.Error
	switch {
	case err == nil:
		s.logInAndGoHome(w, r, v, u.Email, password)
	case errors.Is(err, domain.ErrInvitationExpired):
		s.invitationGone(w, v, domain.InvitationStateExpired)
	case errors.Is(err, domain.ErrInvitationUsed):
		s.invitationGone(w, v, domain.InvitationStateAccepted)
	case errors.As(err, &de) && (de.Kind == domain.KindGone || de.Kind == domain.KindNotFound):
		s.invitationGone(w, v, domain.InvitationStateRevoked)
	default:
		s.render(w, v.fail(err, "password"), "invitation", v)
	}
}

// homePage: who I am, my company, what I may do, in plain words.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "")
	v.Title = v.T("home.title", v.Me.User.FirstName)
	var allowed []string
	for _, p := range domain.AllPermissions {
		if v.Me.Permissions[p] {
			allowed = append(allowed, "perm."+string(p))
		}
	}
	v.Data = allowed
	s.render(w, http.StatusOK, "home", v)
}
