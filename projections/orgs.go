package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Orgs is the read model of organizations and their portal switch
// (orgs_view), used by the access decision.
type Orgs struct{}

// NewOrgs returns the organizations read model.
func NewOrgs() *Orgs { return &Orgs{} }

// Name is the consumer group.
func (*Orgs) Name() string { return "orgs" }

// Apply keeps orgs_view up to date, guarded by stream version.
func (*Orgs) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	if !strings.HasPrefix(e.StreamID, "org-") {
		return nil
	}
	var err error
	switch ev := ev.(type) {
	case domain.OrganizationCreated:
		_, err = tx.Exec(ctx, `INSERT INTO orgs_view (org_id, name, slug, version) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO NOTHING`,
			string(ev.OrgID), ev.Name, ev.Slug, e.StreamVersion)
	case domain.PortalEnabled, domain.PortalDisabled:
		_, enabled := ev.(domain.PortalEnabled)
		_, err = tx.Exec(ctx, `UPDATE orgs_view SET portal_enabled = $2, version = $3 WHERE org_id = $1 AND version < $3`,
			e.OrgID, enabled, e.StreamVersion)
	default:
		_, err = tx.Exec(ctx, `UPDATE orgs_view SET version = $2 WHERE org_id = $1 AND version < $2`, e.OrgID, e.StreamVersion)
	}
	if err != nil {
		return fmt.Errorf("organization %s: %s: %w", e.OrgID, e.Type, err)
	}
	return nil
}

// Tables are the tables this read model owns.
func (*Orgs) Tables() []string { return []string{"orgs_view"} }

// StreamPrefix is the kind of stream this read model reads.
func (*Orgs) StreamPrefix() string { return "org-" }
