package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

type roleJSON struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Permissions map[string]bool `json:"permissions"`
	Version     int             `json:"version"`
}

func permissionsJSON(p domain.Permissions) map[string]bool {
	out := make(map[string]bool, len(p))
	for k, v := range p {
		out[string(k)] = v
	}
	return out
}

func toRoleJSON(r commands.RoleResult) roleJSON {
	return roleJSON{ID: string(r.ID), Name: r.Name, Permissions: permissionsJSON(r.Permissions), Version: r.Version}
}

type roleRequest struct {
	Name        *string            `json:"name"`
	Permissions domain.Permissions `json:"permissions"`
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request) {
	var body roleRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	name := ""
	if body.Name != nil {
		name = *body.Name
	}
	role, err := s.app.CreateRole(r.Context(), meta, name, body.Permissions)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/orgs/"+string(meta.Org)+"/roles/"+string(role.ID))
	writeResource(w, http.StatusCreated, role.Version, toRoleJSON(role))
}

func (s *Server) patchRole(w http.ResponseWriter, r *http.Request) {
	var body roleRequest
	meta, version, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	role, err := s.app.ChangeRole(r.Context(), meta, domain.RoleID(mux.Vars(r)["id"]), body.Name, body.Permissions, version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, role.Version, toRoleJSON(role))
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := s.app.Roles(r.Context(), staffIdentity(r).Org)
	if err != nil {
		writeError(w, r, err)
		return
	}
	items := make([]roleJSON, len(roles))
	for i, role := range roles {
		items[i] = toRoleJSON(role)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
