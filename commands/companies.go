package commands

import (
	"context"

	"gatehouse/domain"
)

// CreateCompany adds a customer company to the organization.
type CreateCompany struct {
	Name       string         `json:"name"`
	ParentID   string         `json:"parent_id"`
	Manager    string         `json:"manager"`
	Location   string         `json:"location"`
	Properties map[string]any `json:"properties"`
}

// CreateCompany runs the command.
func (a *App) CreateCompany(ctx context.Context, meta Meta, cmd CreateCompany) (CompanyResult, error) {
	id, err := newID()
	if err != nil {
		return CompanyResult{}, err
	}
	var parent *domain.Company
	if cmd.ParentID != "" {
		if parent, err = a.company(ctx, meta.Org, domain.CompanyID(cmd.ParentID)); err != nil {
			return CompanyResult{}, err
		}
	}
	return execute[domain.Company](ctx, a, meta, change[*domain.Company, CompanyResult]{
		name:    "CreateCompany",
		fresh:   true,
		stream:  domain.CompanyID(id).Stream(),
		subject: id,
		request: cmd,
		decide: func(c *domain.Company, _ int) ([]domain.Event, error) {
			return c.Create(domain.NewCompany{ID: domain.CompanyID(id), OrgID: meta.Org, Name: cmd.Name, Parent: parent,
				Manager: cmd.Manager, Location: cmd.Location, Properties: cmd.Properties})
		},
		result: func(c *domain.Company, info streamInfo) (CompanyResult, error) { return companyResult(c, info), nil },
	})
}

// company loads a company of org; one of another organization (or none)
// is an empty company, which the domain treats as not existing. Only a
// parse-level bad id is refused here.
func (a *App) company(ctx context.Context, org domain.OrgID, id domain.CompanyID) (*domain.Company, error) {
	if !domain.ValidID(string(id)) {
		return &domain.Company{}, nil
	}
	c, _, err := load[domain.Company](ctx, a.store, id.Stream())
	if err != nil {
		return nil, err
	}
	return ownCompany(c, org), nil
}

// ownCompany is c when it belongs to org; otherwise an empty company,
// which commands refuse exactly like one that does not exist.
func ownCompany(c *domain.Company, org domain.OrgID) *domain.Company {
	if c.OrgID != org {
		return &domain.Company{}
	}
	return c
}

// ActivateCompanyPortal lets the company's users enter the portal.
func (a *App) ActivateCompanyPortal(ctx context.Context, meta Meta, id domain.CompanyID, ifMatch *int) (CompanyResult, error) {
	return a.switchCompanyPortal(ctx, meta, id, ifMatch, "ActivateCompanyPortal", (*domain.Company).ActivatePortal)
}

// DeactivateCompanyPortal keeps the company's users out; nothing is lost.
func (a *App) DeactivateCompanyPortal(ctx context.Context, meta Meta, id domain.CompanyID, ifMatch *int) (CompanyResult, error) {
	return a.switchCompanyPortal(ctx, meta, id, ifMatch, "DeactivateCompanyPortal", (*domain.Company).DeactivatePortal)
}

func (a *App) switchCompanyPortal(ctx context.Context, meta Meta, id domain.CompanyID, ifMatch *int, name string, decide func(*domain.Company) ([]domain.Event, error)) (CompanyResult, error) {
	if !domain.ValidID(string(id)) {
		return CompanyResult{}, domain.ErrCompanyNotFound
	}
	return execute[domain.Company](ctx, a, meta, change[*domain.Company, CompanyResult]{
		name:    name,
		stream:  id.Stream(),
		subject: string(id),
		request: struct{ Company, Portal string }{string(id), name},
		decide: func(c *domain.Company, version int) ([]domain.Event, error) {
			if c.OrgID != meta.Org {
				return nil, domain.ErrCompanyNotFound
			}
			if err := checkVersion(ifMatch, version); err != nil {
				return nil, err
			}
			return decide(c)
		},
		result: func(c *domain.Company, info streamInfo) (CompanyResult, error) { return companyResult(c, info), nil },
	})
}

// UpdateCompany edits a company's fields and its company-level permissions.
type UpdateCompany struct {
	Name        *string            `json:"name"`
	ParentID    *string            `json:"parent_id"`
	Manager     *string            `json:"manager"`
	Location    *string            `json:"location"`
	Properties  map[string]any     `json:"properties"`
	Permissions domain.Permissions `json:"permissions"`
}

// maxCompanyDepth bounds the walk up a company hierarchy.
const maxCompanyDepth = 64

// ancestors loads id and its ancestors, nearest first.
func (a *App) ancestors(ctx context.Context, org domain.OrgID, id domain.CompanyID) ([]*domain.Company, error) {
	var chain []*domain.Company
	for id != "" && len(chain) < maxCompanyDepth {
		c, err := a.company(ctx, org, id)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
		id = c.ParentID
	}
	return chain, nil
}

// UpdateCompany runs the command.
func (a *App) UpdateCompany(ctx context.Context, meta Meta, id domain.CompanyID, cmd UpdateCompany, ifMatch *int) (CompanyResult, error) {
	if !domain.ValidID(string(id)) {
		return CompanyResult{}, domain.ErrCompanyNotFound
	}
	patch := domain.CompanyPatch{Name: cmd.Name, Manager: cmd.Manager, Location: cmd.Location, Properties: cmd.Properties}
	if cmd.ParentID != nil {
		parent := domain.CompanyID(*cmd.ParentID)
		patch.ParentID = &parent
		chain, err := a.ancestors(ctx, meta.Org, parent)
		if err != nil {
			return CompanyResult{}, err
		}
		patch.Ancestors = chain
	}
	return execute[domain.Company](ctx, a, meta, change[*domain.Company, CompanyResult]{
		name:    "UpdateCompany",
		stream:  id.Stream(),
		subject: string(id),
		request: struct {
			Company domain.CompanyID
			Update  UpdateCompany
		}{id, cmd},
		decide: func(c *domain.Company, version int) ([]domain.Event, error) {
			if c.OrgID != meta.Org {
				return nil, domain.ErrCompanyNotFound
			}
			if err := checkVersion(ifMatch, version); err != nil {
				return nil, err
			}
			events, err := c.Update(patch)
			if err != nil || cmd.Permissions == nil {
				return events, err
			}
			perms, err := c.SetPermissions(cmd.Permissions)
			return append(events, perms...), err
		},
		result: func(c *domain.Company, info streamInfo) (CompanyResult, error) { return companyResult(c, info), nil },
	})
}

// Company returns one company of org.
func (a *App) Company(ctx context.Context, org domain.OrgID, id domain.CompanyID) (CompanyResult, error) {
	if !domain.ValidID(string(id)) {
		return CompanyResult{}, domain.ErrCompanyNotFound
	}
	c, info, err := load[domain.Company](ctx, a.store, id.Stream())
	if err != nil {
		return CompanyResult{}, err
	}
	if c.OrgID != org {
		return CompanyResult{}, domain.ErrCompanyNotFound
	}
	return companyResult(c, info), nil
}
