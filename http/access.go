package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// access answers the helpdesk's question for one user: may they enter,
// and with which permissions. The helpdesk asks on every page view, so the
// token and the decision are read in one query (the same rules as
// authenticateStaff: no or unknown token 401, another organization 404).
func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer(r)
	if !ok {
		writeError(w, r, commands.ErrUnauthenticated)
		return
	}
	a, err := s.users.AccessByToken(r.Context(), commands.HashToken(token), domain.UserID(mux.Vars(r)["user_id"]))
	if err != nil {
		writeError(w, r, err)
		return
	}
	switch {
	case a.Org == "":
		writeError(w, r, commands.ErrUnauthenticated)
	case string(a.Org) != mux.Vars(r)["org"]:
		notFound(w, r)
	case !a.UserFound:
		writeError(w, r, domain.ErrUserNotFound)
	default:
		d := a.Decision
		writeJSON(w, http.StatusOK, map[string]any{"allowed": d.Allowed, "status": d.Status, "permissions": permissionsJSON(d.Permissions)})
	}
}
