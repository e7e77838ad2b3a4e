package http

import (
	"context"
	"net/http"

	"gatehouse/commands"
	"gatehouse/domain"
)

type portalJSON struct {
	OrgID                 string                          `json:"org_id"`
	Name                  string                          `json:"name"`
	Slug                  string                          `json:"slug"`
	Enabled               bool                            `json:"enabled"`
	Language              string                          `json:"language"`
	CustomDomain          *string                         `json:"custom_domain"`
	HelpDocsEnabled       bool                            `json:"help_docs_enabled"`
	Inboxes               []string                        `json:"inboxes"`
	SignupPolicy          string                          `json:"signup_policy"`
	AllowedDomains        []string                        `json:"allowed_domains"`
	AutoInviteDepartments []string                        `json:"auto_invite_departments"`
	InvitationTTLHours    int                             `json:"invitation_ttl_hours"`
	NotifyOnDeactivation  bool                            `json:"notify_on_deactivation"`
	DefaultRoleID         *string                         `json:"default_role_id"`
	Templates             map[string]domain.EmailTemplate `json:"templates"`
	Version               int                             `json:"version"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toPortalJSON(p commands.PortalResult) portalJSON {
	s := p.Settings
	j := portalJSON{OrgID: string(p.OrgID), Name: p.Name, Slug: p.Slug, Enabled: p.Enabled,
		Language: s.Language, CustomDomain: optional(s.CustomDomain), HelpDocsEnabled: s.HelpDocsEnabled,
		Inboxes: nonNil(s.Inboxes), SignupPolicy: string(s.SignupPolicy), AllowedDomains: nonNil(s.AllowedDomains),
		AutoInviteDepartments: nonNil(s.AutoInviteDepartments), InvitationTTLHours: s.InvitationTTLHours,
		NotifyOnDeactivation: s.NotifyOnDeactivation, DefaultRoleID: optional(string(s.DefaultRoleID)), Templates: s.Templates, Version: p.Version}
	if j.Templates == nil {
		j.Templates = map[string]domain.EmailTemplate{}
	}
	return j
}

func staffIdentity(r *http.Request) commands.StaffIdentity {
	id, _ := r.Context().Value(staffKey).(commands.StaffIdentity)
	return id
}

func (s *Server) getPortal(w http.ResponseWriter, r *http.Request) {
	p, err := s.app.Portal(r.Context(), staffIdentity(r).Org)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, p.Version, toPortalJSON(p))
}

type patchPortalRequest struct {
	Language              *string                         `json:"language"`
	CustomDomain          *string                         `json:"custom_domain"`
	HelpDocsEnabled       *bool                           `json:"help_docs_enabled"`
	Inboxes               *[]string                       `json:"inboxes"`
	SignupPolicy          *string                         `json:"signup_policy"`
	AllowedDomains        *[]string                       `json:"allowed_domains"`
	AutoInviteDepartments *[]string                       `json:"auto_invite_departments"`
	InvitationTTLHours    *int                            `json:"invitation_ttl_hours"`
	NotifyOnDeactivation  *bool                           `json:"notify_on_deactivation"`
	DefaultRoleID         *string                         `json:"default_role_id"`
	Templates             map[string]domain.EmailTemplate `json:"templates"`
}

func (s *Server) patchPortal(w http.ResponseWriter, r *http.Request) {
	var body patchPortalRequest
	meta, version, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	patch := domain.SettingsPatch{Language: body.Language, CustomDomain: body.CustomDomain, HelpDocsEnabled: body.HelpDocsEnabled,
		Inboxes: body.Inboxes, AllowedDomains: body.AllowedDomains, AutoInviteDepartments: body.AutoInviteDepartments,
		InvitationTTLHours: body.InvitationTTLHours, NotifyOnDeactivation: body.NotifyOnDeactivation, Templates: body.Templates}
	if body.SignupPolicy != nil {
		sp := domain.SignupPolicy(*body.SignupPolicy)
		patch.SignupPolicy = &sp
	}
	if body.DefaultRoleID != nil {
		rid := domain.RoleID(*body.DefaultRoleID)
		patch.DefaultRoleID = &rid
	}
	p, err := s.app.UpdatePortalSettings(r.Context(), meta, patch, version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, p.Version, toPortalJSON(p))
}

func (s *Server) enablePortal(w http.ResponseWriter, r *http.Request) {
	s.switchPortal(w, r, s.app.EnablePortal)
}

func (s *Server) disablePortal(w http.ResponseWriter, r *http.Request) {
	s.switchPortal(w, r, s.app.DisablePortal)
}

func (s *Server) switchPortal(w http.ResponseWriter, r *http.Request, run func(context.Context, commands.Meta) (commands.PortalResult, error)) {
	meta, err := s.meta(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := run(r.Context(), meta)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, p.Version, toPortalJSON(p))
}

// commandInput decodes a staff command's body and reads its metadata and
// If-Match version: the common start of every staff command handler.
func (s *Server) commandInput(r *http.Request, body any) (commands.Meta, *int, error) {
	if body != nil {
		if err := decode(r, body); err != nil {
			return commands.Meta{}, nil, err
		}
	}
	meta, err := s.meta(r)
	if err != nil {
		return commands.Meta{}, nil, err
	}
	version, err := ifMatch(r)
	return meta, version, err
}
