package commands

import (
	"context"

	"gatehouse/domain"
)

// IssuedToken is a new staff token; Token is shown once.
type IssuedToken struct {
	ID    domain.TokenID   `json:"id"`
	Name  string           `json:"name"`
	Role  domain.StaffRole `json:"role"`
	Token string           `json:"-"`
}

// IssueToken creates a staff API token (admins only).
func (a *App) IssueToken(ctx context.Context, meta Meta, name string, role domain.StaffRole) (IssuedToken, error) {
	if err := requireAdmin(meta); err != nil {
		return IssuedToken{}, err
	}
	id, err := newID()
	if err != nil {
		return IssuedToken{}, err
	}
	token, hash, err := newSecret()
	if err != nil {
		return IssuedToken{}, err
	}
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, IssuedToken]{
		name:    "IssueToken",
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: struct{ TokenName, Role string }{name, string(role)},
		decide: func(o *domain.Organization, _ int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			return o.IssueToken(domain.TokenID(id), name, role, hash)
		},
		result: func(o *domain.Organization, _ streamInfo) (IssuedToken, error) {
			t := o.Tokens[domain.TokenID(id)]
			return IssuedToken{ID: t.ID, Name: t.Name, Role: t.Role, Token: token}, nil
		},
	})
}

// RevokeToken ends a staff API token at once (admins only).
func (a *App) RevokeToken(ctx context.Context, meta Meta, id domain.TokenID) error {
	if err := requireAdmin(meta); err != nil {
		return err
	}
	_, err := execute[domain.Organization](ctx, a, meta, change[*domain.Organization, struct{}]{
		name:    "RevokeToken",
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: struct{ RevokeToken domain.TokenID }{id},
		decide: func(o *domain.Organization, _ int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			return o.RevokeToken(id)
		},
		result: func(*domain.Organization, streamInfo) (struct{}, error) { return struct{}{}, nil },
	})
	if err == nil {
		// Other processes forget at the notification of the revocation's
		// commit; this one before answering.
		a.staffTokens.forget()
	}
	return err
}
