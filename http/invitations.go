package http

import (
	"bufio"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// The pages here are deliberately plain: a form that works without script.
var invitationPage = template.Must(template.New("invitation").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Message}}<p role="status" aria-live="polite">{{.Message}}</p>{{end}}
{{if .Resend}}
<form method="post" action="{{.ResendAction}}">
<p><label for="email">Your email address</label><br>
<input id="email" name="email" type="email" autocomplete="email" required></p>
<p><button type="submit">Send me a new link</button></p>
</form>
{{end}}
{{if .Form}}
<form method="post" action="{{.Action}}">
<p><label for="password">Choose a password (at least {{.MinLength}} characters)</label><br>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="{{.MinLength}}" required></p>
<p><button type="submit">Set password</button></p>
</form>
{{end}}
</main></body></html>
`))

type pageData struct {
	Title        string
	Message      string
	Form         bool
	Action       string
	MinLength    int
	Resend       bool
	ResendAction string
}

func writePage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = invitationPage.Execute(w, d)
}

// secretURL marks answers to URLs that carry a token: never cached, never
// sent on as a Referer.
func secretURL(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func goneMessage(err error) string {
	switch {
	case errors.Is(err, domain.ErrInvitationExpired):
		return "This invitation link has expired. Enter your email address to get a new one."
	case errors.Is(err, domain.ErrInvitationUsed):
		return "This invitation link has been used already. Sign in with your password."
	default:
		return "This invitation link is no longer valid. Enter your email address to get a new one."
	}
}

func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) {
	secretURL(w)
	vars := mux.Vars(r)
	p, err := s.app.PreviewInvitation(r.Context(), vars["slug"], vars["token"])
	var de *domain.Error
	switch {
	case errors.As(err, &de) && de.Kind == domain.KindNotFound:
		writePage(w, http.StatusNotFound, pageData{Title: "Invitation not found", Message: "This link does not lead to an invitation."})
	case err != nil:
		writeError(w, r, err)
	case p.State == domain.InvitationStatePending:
		writePage(w, http.StatusOK, pageData{Title: "Welcome, " + p.FirstName, Form: true, Action: vars["token"] + "/accept",
			MinLength: domain.MinPasswordLength})
	case p.State == domain.InvitationStateExpired:
		writePage(w, http.StatusGone, pageData{Title: "Invitation expired", Message: goneMessage(domain.ErrInvitationExpired), Resend: true, ResendAction: "resend"})
	case p.State == domain.InvitationStateAccepted:
		writePage(w, http.StatusGone, pageData{Title: "Invitation used", Message: goneMessage(domain.ErrInvitationUsed)})
	default:
		writePage(w, http.StatusGone, pageData{Title: "Invitation no longer valid", Message: goneMessage(domain.ErrInvitationRevoked), Resend: true, ResendAction: "resend"})
	}
}

type acceptRequest struct {
	Password string `json:"password"`
}

// acceptInvitation takes JSON from API clients and a form post from the
// invitation page (answered with a page).
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	secretURL(w)
	vars := mux.Vars(r)
	form, err := isFormPost(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body acceptRequest
	if form {
		if err := r.ParseForm(); err != nil {
			writeError(w, r, badRequest("malformed_form", "the form could not be read"))
			return
		}
		body.Password = r.PostForm.Get("password")
	} else if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.AcceptInvitation(r.Context(), commands.AcceptInvitation{Slug: vars["slug"], Token: vars["token"], Password: body.Password})
	if form {
		var de *domain.Error
		switch {
		case err == nil:
			writePage(w, http.StatusOK, pageData{Title: "You are all set", Message: "Your password is set. You can now sign in."})
		case errors.As(err, &de) && de.Kind == domain.KindInvalid:
			writePage(w, http.StatusUnprocessableEntity, pageData{Title: "Choose a password", Message: de.Error(), Form: true,
				Action: "accept", MinLength: domain.MinPasswordLength})
		case errors.As(err, &de) && de.Kind == domain.KindGone:
			writePage(w, http.StatusGone, pageData{Title: "Invitation no longer valid", Message: goneMessage(err), Resend: true, ResendAction: "../resend"})
		default:
			writeError(w, r, err)
		}
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, u.Version, userFromCommand(u))
}

// isFormPost tells the invitation page's form post from an API client's
// JSON: a form-encoded body that does not start with "{" (curl -d labels
// JSON as a form too).
func isFormPost(r *http.Request) (bool, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return false, nil
	}
	br := bufio.NewReader(r.Body)
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	for {
		b, err := br.Peek(1)
		if err != nil {
			return true, nil // empty: a form without fields
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' {
			_, _ = br.ReadByte()
			continue
		}
		return b[0] != '{', nil
	}
}
