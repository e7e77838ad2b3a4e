package commands

import (
	"context"

	"gatehouse/domain"
)

// changeUser runs one decision on a user of the command's organization
// and scope; anything else is not found.
func (a *App) changeUser(ctx context.Context, meta Meta, name string, id domain.UserID, ifMatch *int, request any,
	decide func(*domain.User) ([]domain.Event, error)) (UserResult, error) {
	if !domain.ValidID(string(id)) {
		return UserResult{}, domain.ErrUserNotFound
	}
	now := a.now()
	return execute[domain.User](ctx, a, meta, change[*domain.User, UserResult]{
		name:    name,
		stream:  id.Stream(),
		subject: string(id),
		request: request,
		decide: func(u *domain.User, version int) ([]domain.Event, error) {
			if !meta.reaches(u) {
				return nil, domain.ErrUserNotFound
			}
			if err := checkVersion(ifMatch, version); err != nil {
				return nil, err
			}
			return decide(u)
		},
		result: func(u *domain.User, info streamInfo) (UserResult, error) { return userResult(u, info, now), nil },
	})
}

// UpdateUser edits a user; the user is not notified and not invited.
type UpdateUser struct {
	FirstName   *string            `json:"first_name"`
	LastName    *string            `json:"last_name"`
	Email       *string            `json:"email"`
	RoleID      *string            `json:"role_id"`
	CompanyID   *string            `json:"company_id"`
	Properties  map[string]any     `json:"properties"`
	Permissions domain.Permissions `json:"permissions"`
}

// UpdateUser runs the command.
func (a *App) UpdateUser(ctx context.Context, meta Meta, id domain.UserID, cmd UpdateUser, ifMatch *int) (UserResult, error) {
	patch := domain.UserPatch{FirstName: cmd.FirstName, LastName: cmd.LastName, Email: cmd.Email,
		Properties: cmd.Properties, Permissions: cmd.Permissions}
	if cmd.RoleID != nil {
		rid := domain.RoleID(*cmd.RoleID)
		patch.RoleID = &rid
		role, err := a.role(ctx, meta.Org, rid)
		if err != nil {
			return UserResult{}, err
		}
		patch.Role = role
	}
	if cmd.CompanyID != nil {
		cid := domain.CompanyID(*cmd.CompanyID)
		patch.CompanyID = &cid
		if cid != "" {
			c, err := a.company(ctx, meta.Org, cid)
			if err != nil {
				return UserResult{}, err
			}
			patch.Company = c
		}
	}
	return a.changeUser(ctx, meta, "UpdateUser", id, ifMatch, struct {
		Update domain.UserID
		Cmd    UpdateUser
	}{id, cmd}, func(u *domain.User) ([]domain.Event, error) { return u.Update(patch) })
}

// GrantPortalAccess lets a user into the portal.
func (a *App) GrantPortalAccess(ctx context.Context, meta Meta, id domain.UserID) (UserResult, error) {
	return a.changeUser(ctx, meta, "GrantPortalAccess", id, nil, struct{ Grant domain.UserID }{id}, (*domain.User).GrantPortalAccess)
}

// RevokePortalAccess takes a user's portal access away; sessions end.
func (a *App) RevokePortalAccess(ctx context.Context, meta Meta, id domain.UserID, reason string) (UserResult, error) {
	return a.changeUser(ctx, meta, "RevokePortalAccess", id, nil, struct{ Revoke, Reason string }{string(id), reason},
		func(u *domain.User) ([]domain.Event, error) { return u.RevokePortalAccess(reason) })
}

// DeactivateUser ends a user's access at once; sessions end.
func (a *App) DeactivateUser(ctx context.Context, meta Meta, id domain.UserID, reason string, ifMatch *int) (UserResult, error) {
	return a.changeUser(ctx, meta, "DeactivateUser", id, ifMatch, struct{ Deactivate, Reason string }{string(id), reason},
		func(u *domain.User) ([]domain.Event, error) { return u.Deactivate(reason) })
}

// ReactivateUser restores a deactivated user.
func (a *App) ReactivateUser(ctx context.Context, meta Meta, id domain.UserID, reason string, ifMatch *int) (UserResult, error) {
	return a.changeUser(ctx, meta, "ReactivateUser", id, ifMatch, struct{ Reactivate, Reason string }{string(id), reason},
		func(u *domain.User) ([]domain.Event, error) { return u.Reactivate(reason) })
}

// RemoveUser withdraws a user without notifying them; sessions end and
// the email address is free again.
func (a *App) RemoveUser(ctx context.Context, meta Meta, id domain.UserID, reason string, ifMatch *int) (UserResult, error) {
	return a.changeUser(ctx, meta, "RemoveUser", id, ifMatch, struct{ Remove, Reason string }{string(id), reason},
		func(u *domain.User) ([]domain.Event, error) { return u.Remove(reason) })
}
