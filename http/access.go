package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/domain"
)

// access answers the helpdesk's question for one user: may they enter,
// and with which permissions. Read from the read models in one query.
func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	d, found, err := s.users.Access(r.Context(), staffIdentity(r).Org, domain.UserID(mux.Vars(r)["user_id"]))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !found {
		writeError(w, r, domain.ErrUserNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"allowed": d.Allowed, "status": d.Status, "permissions": permissionsJSON(d.Permissions)})
}
