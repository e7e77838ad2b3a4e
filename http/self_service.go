package http

import (
	"net/http"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/projections"
)

// ErrNeedsManageUsers refuses self-service to a portal user without the
// manage_users permission (or without a company to manage).
var ErrNeedsManageUsers = &domain.Error{Kind: domain.KindForbidden, Code: "manage_users_required", Message: "managing users needs the manage_users permission and a company"}

// ErrCannotRemoveSelf refuses a customer removing their own account.
var ErrCannotRemoveSelf = &domain.Error{Kind: domain.KindConflict, Code: "cannot_remove_self", Message: "you cannot remove your own account"}

// selfService is the metadata of a customer's self-service command,
// confined to their own company.
func (s *Server) selfService(r *http.Request) (commands.Meta, error) {
	id := portalIdentity(r)
	if !id.Permissions[domain.PermManageUsers] || id.User.CompanyID == "" {
		return commands.Meta{}, ErrNeedsManageUsers
	}
	return commands.Meta{
		Org: id.Org, Scope: id.User.CompanyID, Trigger: domain.TriggerSelfService,
		// The actor is named by id only: a name or address here would
		// outlive the person's erasure in other people's histories.
		Actor:     domain.Actor{Kind: domain.ActorPortalUser, ID: string(id.User.ID)},
		RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context()),
	}, nil
}

func (s *Server) portalListUsers(w http.ResponseWriter, r *http.Request) {
	meta, err := s.selfService(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeUserPage(w, r, meta.Org, projections.UserFilter{CompanyID: meta.Scope, Query: r.URL.Query().Get("q"),
		Limit: 500, Cursor: r.URL.Query().Get("cursor")})
}

type portalCreateUserRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// portalCreateUser invites a colleague into the caller's company.
func (s *Server) portalCreateUser(w http.ResponseWriter, r *http.Request) {
	var body portalCreateUserRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	meta, err := s.selfService(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.CreateUser(r.Context(), meta, commands.CreateUser{FirstName: body.FirstName, LastName: body.LastName,
		Email: body.Email, PortalAccess: true, SendInvite: true})
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := createdUserJSON{userJSON: userFromCommand(u), EmailStatus: s.emailStatus()}
	if u.Invitation != nil {
		if out.AcceptURL, err = s.acceptURL(r, meta.Org, u.Invitation.Token); err != nil {
			writeError(w, r, err)
			return
		}
	}
	writeResource(w, http.StatusCreated, u.Version, out)
}

type portalPatchUserRequest struct {
	FirstName  *string        `json:"first_name"`
	LastName   *string        `json:"last_name"`
	Email      *string        `json:"email"`
	Properties map[string]any `json:"properties"`
}

func (s *Server) portalPatchUser(w http.ResponseWriter, r *http.Request) {
	var body portalPatchUserRequest
	if err := decode(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	meta, err := s.selfService(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.app.UpdateUser(r.Context(), meta, domain.UserID(mux.Vars(r)["id"]),
		commands.UpdateUser{FirstName: body.FirstName, LastName: body.LastName, Email: body.Email, Properties: body.Properties}, version)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, u.Version, userFromCommand(u))
}

func (s *Server) portalRemoveUser(w http.ResponseWriter, r *http.Request) {
	meta, err := s.selfService(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	id := domain.UserID(mux.Vars(r)["id"])
	if string(id) == meta.Actor.ID {
		writeError(w, r, ErrCannotRemoveSelf)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if _, err := s.app.RemoveUser(r.Context(), meta, id, "", version); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
