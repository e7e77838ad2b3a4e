package commands

import (
	"context"
	"errors"
	"sort"

	"gatehouse/domain"
)

func roleResult(o *domain.Organization, id domain.RoleID, info streamInfo) RoleResult {
	r := o.Roles[id]
	return RoleResult{ID: r.ID, Name: r.Name, Permissions: r.Permissions, Version: info.Version}
}

// CreateRole defines a role (admins only).
func (a *App) CreateRole(ctx context.Context, meta Meta, name string, perms domain.Permissions) (RoleResult, error) {
	if err := requireAdmin(meta); err != nil {
		return RoleResult{}, err
	}
	id, err := newID()
	if err != nil {
		return RoleResult{}, err
	}
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, RoleResult]{
		name:    "CreateRole",
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: struct {
			RoleName    string
			Permissions domain.Permissions
		}{name, perms},
		decide: func(o *domain.Organization, _ int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			return o.CreateRole(domain.RoleID(id), name, perms)
		},
		result: func(o *domain.Organization, info streamInfo) (RoleResult, error) {
			return roleResult(o, domain.RoleID(id), info), nil
		},
	})
}

// ChangeRole renames a role or replaces its permissions (admins only).
// If-Match names the organization stream's version, which roles share.
func (a *App) ChangeRole(ctx context.Context, meta Meta, id domain.RoleID, name *string, perms domain.Permissions, ifMatch *int) (RoleResult, error) {
	if err := requireAdmin(meta); err != nil {
		return RoleResult{}, err
	}
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, RoleResult]{
		name:    "ChangeRole",
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: struct {
			Role        domain.RoleID
			Name        *string
			Permissions domain.Permissions
		}{id, name, perms},
		decide: func(o *domain.Organization, version int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			if err := checkVersion(ifMatch, version); err != nil {
				return nil, err
			}
			return o.ChangeRole(id, name, perms)
		},
		result: func(o *domain.Organization, info streamInfo) (RoleResult, error) { return roleResult(o, id, info), nil },
	})
}

// Roles lists the organization's roles by name.
func (a *App) Roles(ctx context.Context, org domain.OrgID) ([]RoleResult, error) {
	o, info, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return nil, err
	}
	if o.ID != org {
		return nil, domain.ErrOrganizationNotFound
	}
	out := make([]RoleResult, 0, len(o.Roles))
	for id := range o.Roles {
		out = append(out, roleResult(o, id, info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// role returns a role of org, or nil when it does not exist.
func (a *App) role(ctx context.Context, org domain.OrgID, id domain.RoleID) (*domain.Role, error) {
	if id == "" {
		return nil, nil
	}
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return nil, err
	}
	return orgRole(o, org, id), nil
}

// orgRole is the role of the organization o read for org; nil when it has
// none by that id.
func orgRole(o *domain.Organization, org domain.OrgID, id domain.RoleID) *domain.Role {
	if r, ok := o.Roles[id]; ok && o.ID == org {
		return &r
	}
	return nil
}

// EnsureRole returns the id of the organization's role with this name,
// creating it with perms when there is none.
func (a *App) EnsureRole(ctx context.Context, meta Meta, name string, perms domain.Permissions) (domain.RoleID, error) {
	find := func() (domain.RoleID, error) {
		roles, err := a.Roles(ctx, meta.Org)
		if err != nil {
			return "", err
		}
		for _, r := range roles {
			if r.Name == name {
				return r.ID, nil
			}
		}
		return "", nil
	}
	if id, err := find(); err != nil || id != "" {
		return id, err
	}
	meta.Actor.Role = domain.StaffAdmin // a system actor defines the role it needs
	r, err := a.CreateRole(ctx, meta, name, perms)
	if errors.Is(err, domain.ErrRoleNameTaken) {
		return find()
	}
	return r.ID, err
}
