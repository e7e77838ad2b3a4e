package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Companies is the read model of customer companies (companies_view), used
// for company lists and the company layer of effective permissions.
type Companies struct{}

// NewCompanies returns the companies read model.
func NewCompanies() *Companies { return &Companies{} }

// Name is the consumer group.
func (*Companies) Name() string { return "companies" }

// Apply keeps companies_view up to date; each update is guarded by the
// stream version, so applying an event twice changes nothing.
func (*Companies) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	if !strings.HasPrefix(e.StreamID, "company-") {
		return nil
	}
	id := strings.TrimPrefix(e.StreamID, "company-")
	var err error
	switch ev := ev.(type) {
	case domain.CompanyCreated:
		props := ev.Properties
		if props == nil {
			props = map[string]any{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO companies_view (company_id, org_id, name, parent_id, manager, location, properties, version, created_at, updated_at)
			VALUES ($1, $2, $3, NULLIF($4, '')::uuid, $5, $6, $7, $8, $9, $9) ON CONFLICT (company_id) DO NOTHING`,
			id, string(ev.OrgID), ev.Name, string(ev.ParentID), ev.Manager, ev.Location, props, e.StreamVersion, e.RecordedAt)
	case domain.CompanyUpdated:
		props := ev.Properties
		if props == nil {
			props = map[string]any{}
		}
		_, err = tx.Exec(ctx, `UPDATE companies_view SET name = $2, parent_id = NULLIF($3, '')::uuid, manager = $4, location = $5,
			properties = $6, version = $7, updated_at = $8 WHERE company_id = $1 AND version < $7`,
			id, ev.Name, string(ev.ParentID), ev.Manager, ev.Location, props, e.StreamVersion, e.RecordedAt)
	case domain.CompanyPortalActivated, domain.CompanyPortalDeactivated:
		_, active := ev.(domain.CompanyPortalActivated)
		_, err = tx.Exec(ctx, `UPDATE companies_view SET portal_active = $2, version = $3, updated_at = $4 WHERE company_id = $1 AND version < $3`,
			id, active, e.StreamVersion, e.RecordedAt)
	case domain.CompanyPermissionsSet:
		_, err = tx.Exec(ctx, `UPDATE companies_view SET permissions = $2, version = $3, updated_at = $4 WHERE company_id = $1 AND version < $3`,
			id, ev.Permissions, e.StreamVersion, e.RecordedAt)
	}
	if err != nil {
		return fmt.Errorf("company %s: %s: %w", id, e.Type, err)
	}
	return nil
}

// Tables are the tables this read model owns.
func (*Companies) Tables() []string { return []string{"companies_view"} }

// StreamPrefix is the kind of stream this read model reads.
func (*Companies) StreamPrefix() string { return "company-" }
