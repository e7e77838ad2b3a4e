package commands

import (
	"context"

	"gatehouse/domain"
)

// EnablePortal opens the organization's customer portal (admins only).
func (a *App) EnablePortal(ctx context.Context, meta Meta) (PortalResult, error) {
	return a.switchPortal(ctx, meta, "EnablePortal", (*domain.Organization).EnablePortal)
}

// DisablePortal locks every portal user out at once, keeping all state (admins only).
func (a *App) DisablePortal(ctx context.Context, meta Meta) (PortalResult, error) {
	return a.switchPortal(ctx, meta, "DisablePortal", (*domain.Organization).DisablePortal)
}

func (a *App) switchPortal(ctx context.Context, meta Meta, name string, decide func(*domain.Organization) ([]domain.Event, error)) (PortalResult, error) {
	if err := requireAdmin(meta); err != nil {
		return PortalResult{}, err
	}
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, PortalResult]{
		name:    name,
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: struct{ Portal string }{name},
		decide: func(o *domain.Organization, _ int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			return decide(o)
		},
		result: func(o *domain.Organization, info streamInfo) (PortalResult, error) { return portalResult(o, info), nil },
	})
}

// Portal returns the organization's portal state.
func (a *App) Portal(ctx context.Context, org domain.OrgID) (PortalResult, error) {
	o, info, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return PortalResult{}, err
	}
	if o.ID != org {
		return PortalResult{}, domain.ErrOrganizationNotFound
	}
	return portalResult(o, info), nil
}

// UpdatePortalSettings changes the portal's settings (admins only).
func (a *App) UpdatePortalSettings(ctx context.Context, meta Meta, patch domain.SettingsPatch, ifMatch *int) (PortalResult, error) {
	if err := requireAdmin(meta); err != nil {
		return PortalResult{}, err
	}
	return execute[domain.Organization](ctx, a, meta, change[*domain.Organization, PortalResult]{
		name:    "UpdatePortalSettings",
		stream:  meta.Org.Stream(),
		subject: string(meta.Org),
		request: patch,
		decide: func(o *domain.Organization, version int) ([]domain.Event, error) {
			if o.ID != meta.Org {
				return nil, domain.ErrOrganizationNotFound
			}
			if err := checkVersion(ifMatch, version); err != nil {
				return nil, err
			}
			return o.ChangeSettings(patch)
		},
		result: func(o *domain.Organization, info streamInfo) (PortalResult, error) { return portalResult(o, info), nil },
	})
}
