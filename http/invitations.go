package http

import (
	"bufio"
	"io"
	"mime"
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
)

// secretURL marks answers to URLs that carry a token: never cached, never
// sent on as a Referer.
func secretURL(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

type acceptRequest struct {
	Password string `json:"password"`
}

// acceptInvitation is the API's accept; the page's form post goes to
// acceptForm.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	secretURL(w)
	vars := mux.Vars(r)
	var body acceptRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.AcceptInvitation(r.Context(), commands.AcceptInvitation{Slug: vars["slug"], Token: vars["token"], Password: body.Password})
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
