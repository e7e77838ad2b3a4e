package http

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// SessionCookie carries the portal session token.
const SessionCookie = "gatehouse_session"

type portalKeyType int

const portalIdentityKey portalKeyType = 0

func portalIdentity(r *http.Request) commands.PortalIdentity {
	id, _ := r.Context().Value(portalIdentityKey).(commands.PortalIdentity)
	return id
}

// sessionToken reads the session from Authorization: Bearer or the cookie.
func sessionToken(r *http.Request) string {
	if t, ok := bearer(r); ok {
		return t
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// authenticatePortal resolves the portal session for the slug in the path.
func (s *Server) authenticatePortal(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.app.PortalSession(r.Context(), mux.Vars(r)["slug"], sessionToken(r))
		if err != nil {
			writeError(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), portalIdentityKey, id)))
	})
}

type meJSON struct {
	userJSON
	Company              *companyJSON    `json:"company"`
	EffectivePermissions map[string]bool `json:"effective_permissions"`
}

func toMeJSON(id commands.PortalIdentity) meJSON {
	me := meJSON{userJSON: userFromCommand(id.User), EffectivePermissions: permissionsJSON(id.Permissions)}
	if id.Company != nil {
		c := toCompanyJSON(*id.Company)
		me.Company = &c
	}
	return me
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body loginRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	var v domain.Validation
	if strings.TrimSpace(body.Email) == "" {
		v.Add("email", "is required")
	}
	if body.Password == "" {
		v.Add("password", "is required")
	}
	if err := v.Err(); err != nil {
		writeError(w, r, err)
		return
	}
	session, err := s.app.LogIn(r.Context(), mux.Vars(r)["slug"], body.Email, body.Password)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeSession(w, session)
}

// writeSession answers with a new session, in the cookie for browsers and
// in the body for API clients.
func (s *Server) writeSession(w http.ResponseWriter, session commands.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: session.Token, Path: "/portal/" + session.User.Slug, Expires: session.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"),
	})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		SessionToken string    `json:"session_token"`
		ExpiresAt    time.Time `json:"expires_at"`
		User         meJSON    `json:"user"`
	}{session.Token, session.ExpiresAt, toMeJSON(session.User)})
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword ends every session of the account (this one included) and
// answers with a fresh one.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var body changePasswordRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	session, err := s.app.ChangePassword(r.Context(), portalIdentity(r), commands.ChangePassword{Current: body.CurrentPassword, New: body.NewPassword})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeSession(w, session)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if t := sessionToken(r); t != "" {
		if err := s.app.LogOut(r.Context(), t); err != nil {
			writeError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/portal/" + mux.Vars(r)["slug"], MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toMeJSON(portalIdentity(r)))
}

type signupRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Password  string `json:"password"`
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var body signupRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.SignUp(r.Context(), commands.Meta{RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context())},
		commands.SignUp{Slug: mux.Vars(r)["slug"], Email: body.Email, FirstName: body.FirstName, LastName: body.LastName, Password: body.Password})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusCreated, u.Version, userFromCommand(u))
}

type resendRequest struct {
	Email string `json:"email"`
}

// resendInvitation answers 202 whatever the address: it never tells
// whether a person exists or whether a link was due.
func (s *Server) resendInvitation(w http.ResponseWriter, r *http.Request) {
	var body resendRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if strings.TrimSpace(body.Email) == "" {
		writeError(w, r, invalidField("email", "is required"))
		return
	}
	err := s.app.ResendInvitation(r.Context(), commands.Meta{RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context())},
		mux.Vars(r)["slug"], body.Email)
	if err != nil && !errors.Is(err, commands.ErrPortalNotFound) {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}
