package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/domain"
)

type createTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var body createTokenRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	t, err := s.app.IssueToken(r.Context(), meta, body.Name, domain.StaffRole(body.Role))
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]string{"id": string(t.ID), "name": t.Name, "role": string(t.Role), "token": t.Token})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	meta, _, err := s.commandInput(r, nil)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.app.RevokeToken(r.Context(), meta, domain.TokenID(mux.Vars(r)["id"])); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
