package commands

import (
	"context"

	"gatehouse/domain"
)

// CreateOrganization sets up a helpdesk operator with its first admin token.
type CreateOrganization struct {
	Name       string
	Slug       string // derived from Name when empty
	AdminEmail string
}

// CreateOrganizationResult carries the admin token, shown this once.
type CreateOrganizationResult struct {
	OrgID      domain.OrgID `json:"org_id"`
	Slug       string       `json:"slug"`
	AdminToken string       `json:"admin_token"`
}

// CreateOrganization runs the command; the actor is whoever runs the CLI.
func (a *App) CreateOrganization(ctx context.Context, meta Meta, cmd CreateOrganization) (CreateOrganizationResult, error) {
	orgID, err := newID()
	if err != nil {
		return CreateOrganizationResult{}, err
	}
	tokenID, err := newID()
	if err != nil {
		return CreateOrganizationResult{}, err
	}
	token, hash, err := newSecret()
	if err != nil {
		return CreateOrganizationResult{}, err
	}
	meta.Org = domain.OrgID(orgID)
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, CreateOrganizationResult]{
		name:    "CreateOrganization",
		stream:  meta.Org.Stream(),
		subject: orgID,
		decide: func(o *domain.Organization, _ int) ([]domain.Event, error) {
			return o.Create(domain.NewOrganization{ID: meta.Org, Name: cmd.Name, Slug: cmd.Slug, AdminEmail: cmd.AdminEmail,
				AdminTokenID: domain.TokenID(tokenID), AdminTokenHash: hash})
		},
		result: func(o *domain.Organization, _ streamInfo) (CreateOrganizationResult, error) {
			return CreateOrganizationResult{OrgID: o.ID, Slug: o.Slug, AdminToken: token}, nil
		},
	})
}
