package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/projections"
)

type invitationJSON struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

type userJSON struct {
	ID           string          `json:"id"`
	OrgID        string          `json:"org_id"`
	CompanyID    *string         `json:"company_id"`
	RoleID       *string         `json:"role_id"`
	FirstName    string          `json:"first_name"`
	LastName     string          `json:"last_name"`
	Email        string          `json:"email"`
	Status       string          `json:"status"`
	PortalAccess bool            `json:"portal_access"`
	Properties   map[string]any  `json:"properties"`
	Permissions  map[string]bool `json:"permissions"`
	// EffectivePermissions is absent from command answers: the role and
	// company layers are read models, read by GET.
	EffectivePermissions map[string]bool `json:"effective_permissions,omitempty"`
	Invitation           *invitationJSON `json:"invitation"`
	Version              int             `json:"version"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
}

func userFromCommand(u commands.UserResult) userJSON {
	j := userJSON{ID: string(u.ID), OrgID: string(u.OrgID), CompanyID: optional(string(u.CompanyID)), RoleID: optional(string(u.RoleID)),
		FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Status: string(u.Status), PortalAccess: u.PortalAccess,
		Properties: u.Properties, Permissions: permissionsJSON(u.Permissions), Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if u.Invitation != nil {
		j.Invitation = &invitationJSON{ID: string(u.Invitation.ID), Status: string(u.Invitation.State), ExpiresAt: u.Invitation.ExpiresAt}
	}
	if j.Properties == nil {
		j.Properties = map[string]any{}
	}
	return j
}

func userFromRow(u projections.UserRow, now time.Time) userJSON {
	j := userJSON{ID: string(u.ID), OrgID: string(u.OrgID), CompanyID: optional(string(u.CompanyID)), RoleID: optional(string(u.RoleID)),
		FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Status: string(u.Status), PortalAccess: u.PortalAccess,
		Properties: u.Properties, Permissions: permissionsJSON(u.Permissions), EffectivePermissions: permissionsJSON(u.Effective),
		Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if inv := u.Invitation(now); inv != nil {
		j.Invitation = &invitationJSON{ID: string(inv.ID), Status: string(inv.State), ExpiresAt: inv.ExpiresAt}
	}
	if j.Properties == nil {
		j.Properties = map[string]any{}
	}
	return j
}

type createUserRequest struct {
	FirstName    string         `json:"first_name"`
	LastName     string         `json:"last_name"`
	Email        string         `json:"email"`
	CompanyID    *string        `json:"company_id"`
	RoleID       *string        `json:"role_id"`
	PortalAccess *bool          `json:"portal_access"`
	SendInvite   bool           `json:"send_invite"`
	Properties   map[string]any `json:"properties"`
}

// createdUserJSON is a created user; with send_invite it also says what
// happened to the invitation email (and the link, in development).
type createdUserJSON struct {
	userJSON
	EmailStatus string `json:"email_status,omitempty"`
	AcceptURL   string `json:"accept_url,omitempty"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var body createUserRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if body.SendInvite && body.PortalAccess != nil && !*body.PortalAccess {
		writeError(w, r, invalidField("send_invite", "an invitation needs portal_access; leave portal_access out or set it to true"))
		return
	}
	cmd := commands.CreateUser{FirstName: body.FirstName, LastName: body.LastName, Email: body.Email,
		PortalAccess: body.PortalAccess != nil && *body.PortalAccess, SendInvite: body.SendInvite, Properties: body.Properties}
	if body.CompanyID != nil {
		cmd.CompanyID = *body.CompanyID
	}
	if body.RoleID != nil {
		cmd.RoleID = *body.RoleID
	}
	u, err := s.app.CreateUser(r.Context(), meta, cmd)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := createdUserJSON{userJSON: userFromCommand(u)}
	if u.Invitation != nil {
		out.EmailStatus = s.emailStatus()
		if out.AcceptURL, err = s.acceptURL(r, meta.Org, u.Invitation.Token); err != nil {
			writeError(w, r, err)
			return
		}
	}
	w.Header().Set("Location", "/v1/orgs/"+string(meta.Org)+"/users/"+string(u.ID))
	writeResource(w, http.StatusCreated, u.Version, out)
}

func (s *Server) emailStatus() string {
	if s.cfg.MailEnabled {
		return "queued"
	}
	return "not_sent_mail_disabled"
}

// acceptURL is the invitation link, only when the server runs with
// --expose-invite-links and only in the answer to the command that made it.
func (s *Server) acceptURL(r *http.Request, org domain.OrgID, token string) (string, error) {
	if !s.cfg.ExposeInviteLinks || token == "" {
		return "", nil
	}
	p, err := s.app.Portal(r.Context(), org)
	if err != nil {
		return "", err
	}
	return s.cfg.PublicURL + "/portal/" + url.PathEscape(p.Slug) + "/invitations/" + url.PathEscape(token), nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	id, _ := r.Context().Value(staffKey).(commands.StaffIdentity)
	u, found, err := s.users.Get(r.Context(), id.Org, domain.UserID(mux.Vars(r)["id"]), s.cfg.ReadYourWrites)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !found {
		writeError(w, r, domain.ErrUserNotFound)
		return
	}
	writeResource(w, http.StatusOK, u.Version, userFromRow(u, s.now()))
}

var knownStatuses = map[domain.UserStatus]bool{
	domain.StatusAdded: true, domain.StatusAccessGranted: true, domain.StatusInvited: true,
	domain.StatusActive: true, domain.StatusDeactivated: true, domain.StatusRemoved: true,
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	id, _ := r.Context().Value(staffKey).(commands.StaffIdentity)
	q := r.URL.Query()
	f := projections.UserFilter{Status: domain.UserStatus(q.Get("status")), CompanyID: domain.CompanyID(q.Get("company_id")),
		Query: q.Get("q"), Limit: 50, Cursor: q.Get("cursor")}
	var v domain.Validation
	if f.Status != "" && !knownStatuses[f.Status] {
		v.Add("status", "must be one of added, access_granted, invited, active, deactivated, removed")
	}
	if f.CompanyID != "" && !domain.ValidID(string(f.CompanyID)) {
		v.Add("company_id", "must be a company id")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			v.Add("limit", "must be a whole number from 1 to 500")
		}
		f.Limit = n
	}
	if len(f.Query) > 200 {
		v.Add("q", "must be at most 200 characters")
	}
	if err := v.Err(); err != nil {
		writeError(w, r, err)
		return
	}
	s.writeUserPage(w, r, id.Org, f)
}

// writeUserPage answers with one page of the user list.
func (s *Server) writeUserPage(w http.ResponseWriter, r *http.Request, org domain.OrgID, f projections.UserFilter) {
	rows, next, err := s.users.List(r.Context(), org, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	now := s.now()
	items := make([]userJSON, len(rows))
	for i, u := range rows {
		items[i] = userFromRow(u, now)
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	writeJSON(w, http.StatusOK, struct {
		Items      []userJSON `json:"items"`
		NextCursor *string    `json:"next_cursor"`
	}{items, cursor})
}

type invitationAnswer struct {
	InvitationID string    `json:"invitation_id"`
	ExpiresAt    time.Time `json:"expires_at"`
	EmailStatus  string    `json:"email_status"`
	AcceptURL    string    `json:"accept_url,omitempty"`
}

func (s *Server) inviteUser(w http.ResponseWriter, r *http.Request) {
	meta, _, err := s.commandInput(r, nil)
	if err != nil {
		writeError(w, r, err)
		return
	}
	inv, err := s.app.InviteUser(r.Context(), meta, domain.UserID(mux.Vars(r)["id"]))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := invitationAnswer{InvitationID: string(inv.ID), ExpiresAt: inv.ExpiresAt, EmailStatus: s.emailStatus()}
	if out.AcceptURL, err = s.acceptURL(r, meta.Org, inv.Token); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	var body commands.UpdateUser
	meta, version, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.UpdateUser(r.Context(), meta, domain.UserID(mux.Vars(r)["id"]), body, version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, u.Version, userFromCommand(u))
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// userCommand runs a lifecycle command that takes an optional reason.
func (s *Server) userCommand(run func(context.Context, commands.Meta, domain.UserID, string, *int) (commands.UserResult, error), status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body reasonRequest
		if err := decodeOptional(r, &body); err != nil {
			writeError(w, r, err)
			return
		}
		if len(body.Reason) > 1000 {
			writeError(w, r, invalidField("reason", "must be at most 1000 characters"))
			return
		}
		meta, version, err := s.commandInput(r, nil)
		if err != nil {
			writeError(w, r, err)
			return
		}
		u, err := run(r.Context(), meta, domain.UserID(mux.Vars(r)["id"]), body.Reason, version)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeResource(w, status, u.Version, userFromCommand(u))
	}
}

func (s *Server) grantPortalAccess(w http.ResponseWriter, r *http.Request) {
	s.userCommand(func(ctx context.Context, m commands.Meta, id domain.UserID, _ string, _ *int) (commands.UserResult, error) {
		return s.app.GrantPortalAccess(ctx, m, id)
	}, http.StatusOK)(w, r)
}

func (s *Server) revokePortalAccess(w http.ResponseWriter, r *http.Request) {
	s.userCommand(func(ctx context.Context, m commands.Meta, id domain.UserID, reason string, _ *int) (commands.UserResult, error) {
		return s.app.RevokePortalAccess(ctx, m, id, reason)
	}, http.StatusOK)(w, r)
}

// eraseUser destroys a user's personal data (admins only).
func (s *Server) eraseUser(w http.ResponseWriter, r *http.Request) {
	meta, _, err := s.commandInput(r, nil)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.app.EraseUser(r.Context(), meta, domain.UserID(mux.Vars(r)["id"])); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
