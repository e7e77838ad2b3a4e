package http

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/projections"
)

// The "my company's users" pages: a portal user with manage_users lists,
// invites, edits and removes the users of their own company. They run the
// same self-service commands as the JSON API, confined the same way.

// colleague is one row of the company's user list.
type colleague struct {
	ID, FirstName, LastName, Email, StatusKey string
	Version                                   int
	Self                                      bool
}

// FullName is how the person is named in labels and confirmations.
func (c colleague) FullName() string { return c.FirstName + " " + c.LastName }

func colleagueFrom(u projections.UserRow, me domain.UserID) colleague {
	return colleague{ID: string(u.ID), FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
		StatusKey: "status." + string(u.Status), Version: u.Version, Self: u.ID == me}
}

// managing runs next only for a user who may manage their company's users.
func (s *Server) managing(next func(http.ResponseWriter, *http.Request, *view, commands.Meta)) http.HandlerFunc {
	return s.pageSession(func(w http.ResponseWriter, r *http.Request) {
		v := s.view(r, "")
		meta, err := s.selfService(r)
		if err != nil {
			v.Title, v.Error = v.T("nav.users"), v.T("users.forbidden")
			s.render(w, http.StatusForbidden, "message", v)
			return
		}
		next(w, r, v, meta)
	})
}

// companyUsersPage lists the company's users; after an action it names
// the person acted on (found by id: no names in addresses).
func (s *Server) companyUsersPage(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	q := r.URL.Query()
	if done, id := q.Get("done"), q.Get("id"); done != "" && id != "" {
		if u, found, err := s.users.Get(r.Context(), meta.Org, domain.UserID(id), s.cfg.ReadYourWrites); err == nil && found && u.CompanyID == meta.Scope {
			switch done {
			case "invited":
				v.Notice = v.T("users.invited", u.FirstName+" "+u.LastName)
			case "saved":
				v.Notice = v.T("users.saved", u.FirstName+" "+u.LastName)
			case "removed":
				v.Notice = v.T("users.removed", u.FirstName+" "+u.LastName)
			}
		}
	}
	s.renderCompanyUsers(w, r, v, meta, http.StatusOK)
}

func (s *Server) renderCompanyUsers(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta, status int) {
	v.Title = v.T("users.title", v.Me.Company.Name)
	rows, _, err := s.users.List(r.Context(), meta.Org, projections.UserFilter{CompanyID: meta.Scope, Limit: 500})
	if err != nil {
		s.render(w, v.fail(err), "message", v)
		return
	}
	list := make([]colleague, 0, len(rows))
	for _, u := range rows {
		if u.Status != domain.StatusRemoved {
			list = append(list, colleagueFrom(u, v.Me.User.ID))
		}
	}
	v.Data = list
	s.render(w, status, "users", v)
}

// inviteColleagueForm creates the user with portal access and sends the
// invitation, then shows the list with the new person in it.
func (s *Server) inviteColleagueForm(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	f := r.PostForm
	for _, k := range []string{"first_name", "last_name", "email"} {
		v.Values[k] = f.Get(k)
	}
	u, err := s.app.CreateUser(r.Context(), meta, commands.CreateUser{FirstName: f.Get("first_name"), LastName: f.Get("last_name"),
		Email: f.Get("email"), PortalAccess: true, SendInvite: true})
	if err != nil {
		status := http.StatusConflict
		if errors.Is(err, domain.ErrEmailTaken) {
			v.fieldError("email", "users.taken")
			v.Error = v.T("error.summary")
		} else {
			status = v.fail(err, "first_name", "last_name", "email")
		}
		s.renderCompanyUsers(w, r, v, meta, status)
		return
	}
	s.waitForRow(r, meta.Org, u.ID)
	seeOther(w, r, v.Base+"/company/users?done=invited&id="+string(u.ID))
}

// waitForRow lets the list show what the caller just did: the read model
// is a few milliseconds behind the write.
func (s *Server) waitForRow(r *http.Request, org domain.OrgID, id domain.UserID) {
	_, _, _ = s.users.Get(r.Context(), org, id, s.cfg.ReadYourWrites)
}

// colleagueOf loads a user of the caller's company; anyone else is "not
// found", as in the API.
func (s *Server) colleagueOf(r *http.Request, meta commands.Meta) (projections.UserRow, bool, error) {
	u, found, err := s.users.Get(r.Context(), meta.Org, domain.UserID(mux.Vars(r)["id"]), s.cfg.ReadYourWrites)
	if err != nil || !found || u.CompanyID != meta.Scope || u.Status == domain.StatusRemoved {
		return u, false, err
	}
	return u, true, nil
}

func (s *Server) colleagueNotFound(w http.ResponseWriter, v *view, err error) {
	if err != nil {
		s.render(w, v.fail(err), "message", v)
		return
	}
	v.Title, v.Error = v.T("nav.users"), v.T("users.notfound")
	s.render(w, http.StatusNotFound, "message", v)
}

func (s *Server) editColleaguePage(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	u, ok, err := s.colleagueOf(r, meta)
	if !ok {
		s.colleagueNotFound(w, v, err)
		return
	}
	c := colleagueFrom(u, v.Me.User.ID)
	v.Title = v.T("users.edit.title", c.FullName())
	v.Values = map[string]string{"first_name": c.FirstName, "last_name": c.LastName, "email": c.Email}
	v.Data = c
	s.render(w, http.StatusOK, "user_edit", v)
}

func (s *Server) editColleagueForm(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	u, ok, err := s.colleagueOf(r, meta)
	if !ok {
		s.colleagueNotFound(w, v, err)
		return
	}
	c := colleagueFrom(u, v.Me.User.ID)
	f := r.PostForm
	first, last, email := f.Get("first_name"), f.Get("last_name"), f.Get("email")
	version, err := strconv.Atoi(f.Get("version"))
	if err != nil {
		version = c.Version
	}
	updated, err := s.app.UpdateUser(r.Context(), meta, u.ID, commands.UpdateUser{FirstName: &first, LastName: &last, Email: &email}, &version)
	if err != nil {
		v.Title = v.T("users.edit.title", c.FullName())
		v.Data = c
		v.Values = map[string]string{"first_name": first, "last_name": last, "email": email}
		status := http.StatusConflict
		switch {
		case errors.Is(err, domain.ErrVersionMismatch):
			v.Values = map[string]string{"first_name": c.FirstName, "last_name": c.LastName, "email": c.Email}
			v.Error = v.T("users.changed")
		case errors.Is(err, domain.ErrEmailTaken):
			v.fieldError("email", "users.taken")
			v.Error = v.T("error.summary")
		default:
			status = v.fail(err, "first_name", "last_name", "email")
		}
		s.render(w, status, "user_edit", v)
		return
	}
	s.waitForRow(r, meta.Org, u.ID)
	seeOther(w, r, v.Base+"/company/users?done=saved&id="+string(updated.ID))
}

// removeColleaguePage asks before removing: removal cannot be undone here.
func (s *Server) removeColleaguePage(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	u, ok, err := s.colleagueOf(r, meta)
	if !ok || u.ID == v.Me.User.ID {
		s.colleagueNotFound(w, v, err)
		return
	}
	c := colleagueFrom(u, v.Me.User.ID)
	v.Title = v.T("users.remove.title", c.FullName())
	v.Data = c
	s.render(w, http.StatusOK, "user_remove", v)
}

func (s *Server) removeColleagueForm(w http.ResponseWriter, r *http.Request, v *view, meta commands.Meta) {
	u, ok, err := s.colleagueOf(r, meta)
	if !ok || u.ID == v.Me.User.ID {
		s.colleagueNotFound(w, v, err)
		return
	}
	c := colleagueFrom(u, v.Me.User.ID)
	version, err := strconv.Atoi(r.PostForm.Get("version"))
	if err != nil {
		version = c.Version
	}
	if _, err := s.app.RemoveUser(r.Context(), meta, u.ID, "", &version); err != nil {
		v.Title = v.T("users.remove.title", c.FullName())
		v.Data = c
		status := http.StatusConflict
		if errors.Is(err, domain.ErrVersionMismatch) {
			v.Error = v.T("users.changed")
		} else {
			status = v.fail(err)
		}
		s.render(w, status, "user_remove", v)
		return
	}
	s.waitForRow(r, meta.Org, u.ID)
	seeOther(w, r, v.Base+"/company/users?done=removed&id="+c.ID)
}
