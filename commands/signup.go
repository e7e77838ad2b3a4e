package commands

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/domain"
)

// SignUp is a person registering themselves on the portal.
type SignUp struct {
	Slug      string
	Email     string
	FirstName string
	LastName  string
	Password  string
}

// SignUp applies the portal's sign-up policy and creates an active account
// with the portal's default role.
func (a *App) SignUp(ctx context.Context, meta Meta, cmd SignUp) (UserResult, error) {
	org, err := a.OrgBySlug(ctx, cmd.Slug)
	if err != nil {
		return UserResult{}, err
	}
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return UserResult{}, err
	}
	if !o.PortalEnabled {
		return UserResult{}, domain.ErrPortalDisabled
	}
	email := domain.NormalizeEmail(cmd.Email)
	var requester bool
	if o.Settings.SignupPolicy == domain.SignupPreviousRequesters {
		if err := a.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM requesters WHERE org_id = $1 AND email = $2)`, string(org), email).Scan(&requester); err != nil {
			return UserResult{}, fmt.Errorf("look up requester: %w", err)
		}
	}
	if email != "" && !o.Settings.SignupAllowed(email, requester) {
		return UserResult{}, domain.ErrSignupClosed
	}
	if err := domain.ValidatePassword(cmd.Password); err != nil {
		return UserResult{}, err
	}
	hash, err := a.hasher.Hash(cmd.Password)
	if err != nil {
		return UserResult{}, err
	}
	id, err := newID()
	if err != nil {
		return UserResult{}, err
	}
	var role *domain.Role
	if r, ok := o.Roles[o.Settings.DefaultRoleID]; ok {
		role = &r
	}
	meta.Org = org
	meta.Actor = domain.Actor{Kind: domain.ActorPortalUser, ID: id} // by id only: see EraseUser
	meta.Trigger = domain.TriggerSignup
	now := a.now()
	return execute[domain.User](ctx, a, meta, change[*domain.User, UserResult]{
		name:    "SignUp",
		fresh:   true,
		stream:  domain.UserID(id).Stream(),
		subject: id,
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			n := domain.NewUser{ID: domain.UserID(id), OrgID: org, FirstName: cmd.FirstName, LastName: cmd.LastName, Email: cmd.Email}
			if role != nil {
				n.RoleID, n.Role = role.ID, role
			}
			return u.SignUp(n, hash)
		},
		result: func(u *domain.User, info streamInfo) (UserResult, error) { return userResult(u, info, now), nil },
	})
}

// ResendInvitation sends a new link to a person who was invited and has no
// account yet. It tells the caller nothing: the answer is the same whether
// or not the address exists or a link was due.
func (a *App) ResendInvitation(ctx context.Context, meta Meta, slug, email string) error {
	org, err := a.OrgBySlug(ctx, slug)
	if err != nil {
		return err
	}
	var userID domain.UserID
	err = a.pool.QueryRow(ctx, `SELECT user_id FROM email_reservations WHERE org_id = $1 AND email = $2`,
		string(org), domain.NormalizeEmail(email)).Scan(&userID)
	if err != nil {
		return nil //nolint:nilerr // unknown address: same answer as any other
	}
	u, _, err := load[domain.User](ctx, a.store, userID.Stream())
	if err != nil {
		return err
	}
	if u.Invitation == nil || u.HasAccount || u.Deactivated || u.Removed || !u.PortalAccess {
		return nil
	}
	meta.Org = org
	meta.Actor = domain.Actor{Kind: domain.ActorSystem, ID: "portal", Name: "resend from the login page"}
	meta.Trigger = domain.TriggerPortal
	_, err = a.InviteUser(ctx, meta, userID)
	var de *domain.Error
	if err != nil && errors.As(err, &de) {
		return nil // state changed meanwhile; nothing is due
	}
	return err
}
