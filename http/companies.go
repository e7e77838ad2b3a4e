package http

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

type companyJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	ParentID     *string         `json:"parent_id"`
	Manager      string          `json:"manager"`
	Location     string          `json:"location"`
	Properties   map[string]any  `json:"properties"`
	PortalActive bool            `json:"portal_active"`
	Permissions  map[string]bool `json:"permissions"`
	Version      int             `json:"version"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

func toCompanyJSON(c commands.CompanyResult) companyJSON {
	props := c.Properties
	if props == nil {
		props = map[string]any{}
	}
	return companyJSON{ID: string(c.ID), Name: c.Name, ParentID: optional(string(c.ParentID)), Manager: c.Manager,
		Location: c.Location, Properties: props, PortalActive: c.PortalActive, Permissions: permissionsJSON(c.Permissions), Version: c.Version,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type createCompanyRequest struct {
	Name       string         `json:"name"`
	ParentID   *string        `json:"parent_id"`
	Manager    string         `json:"manager"`
	Location   string         `json:"location"`
	Properties map[string]any `json:"properties"`
}

func (s *Server) createCompany(w http.ResponseWriter, r *http.Request) {
	var body createCompanyRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd := commands.CreateCompany{Name: body.Name, Manager: body.Manager, Location: body.Location, Properties: body.Properties}
	if body.ParentID != nil {
		cmd.ParentID = *body.ParentID
	}
	c, err := s.app.CreateCompany(r.Context(), meta, cmd)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/orgs/"+string(meta.Org)+"/companies/"+string(c.ID))
	writeResource(w, http.StatusCreated, c.Version, toCompanyJSON(c))
}

func (s *Server) activateCompanyPortal(w http.ResponseWriter, r *http.Request) {
	s.switchCompanyPortal(w, r, s.app.ActivateCompanyPortal)
}

func (s *Server) deactivateCompanyPortal(w http.ResponseWriter, r *http.Request) {
	s.switchCompanyPortal(w, r, s.app.DeactivateCompanyPortal)
}

func (s *Server) switchCompanyPortal(w http.ResponseWriter, r *http.Request,
	run func(context.Context, commands.Meta, domain.CompanyID, *int) (commands.CompanyResult, error)) {
	meta, version, err := s.commandInput(r, nil)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := run(r.Context(), meta, domain.CompanyID(mux.Vars(r)["id"]), version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, c.Version, toCompanyJSON(c))
}

func (s *Server) getCompany(w http.ResponseWriter, r *http.Request) {
	c, err := s.app.Company(r.Context(), staffIdentity(r).Org, domain.CompanyID(mux.Vars(r)["id"]))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, c.Version, toCompanyJSON(c))
}

func (s *Server) patchCompany(w http.ResponseWriter, r *http.Request) {
	var body commands.UpdateCompany
	meta, version, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := s.app.UpdateCompany(r.Context(), meta, domain.CompanyID(mux.Vars(r)["id"]), body, version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, c.Version, toCompanyJSON(c))
}
