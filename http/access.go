package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// access answers the helpdesk's question for one user: may they enter,
// and with which permissions. The helpdesk asks on every page view, so
// both the token's identity and the decision are usually kept in memory
// (commands' staff token cache, projections.AccessCache); the same rules
// as authenticateStaff: no or unknown token 401, another organization 404.
func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer(r)
	if !ok {
		writeError(w, r, commands.ErrUnauthenticated)
		return
	}
	staff, err := s.app.AuthenticateStaff(r.Context(), token)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if string(staff.Org) != mux.Vars(r)["org"] {
		notFound(w, r)
		return
	}
	d, found, err := s.decider.Access(r.Context(), staff.Org, domain.UserID(mux.Vars(r)["user_id"]))
	switch {
	case err != nil:
		writeError(w, r, err)
	case !found:
		writeError(w, r, domain.ErrUserNotFound)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"allowed": d.Allowed, "status": d.Status, "permissions": permissionsJSON(d.Permissions)})
	}
}
