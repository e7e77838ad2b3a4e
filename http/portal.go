package http

import (
	"context"
	"net/http"

	"gatehouse/commands"
)

type portalJSON struct {
	OrgID              string `json:"org_id"`
	Name               string `json:"name"`
	Slug               string `json:"slug"`
	Enabled            bool   `json:"enabled"`
	InvitationTTLHours int    `json:"invitation_ttl_hours"`
	Version            int    `json:"version"`
}

func toPortalJSON(p commands.PortalResult) portalJSON {
	return portalJSON{OrgID: string(p.OrgID), Name: p.Name, Slug: p.Slug, Enabled: p.Enabled,
		InvitationTTLHours: p.InvitationTTLHours, Version: p.Version}
}

func (s *Server) getPortal(w http.ResponseWriter, r *http.Request) {
	id, _ := r.Context().Value(staffKey).(commands.StaffIdentity)
	p, err := s.app.Portal(r.Context(), id.Org)
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
