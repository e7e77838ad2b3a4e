package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Roles is the read model of operator-defined roles (roles_view), the role
// layer of effective permissions.
type Roles struct{}

// NewRoles returns the roles read model.
func NewRoles() *Roles { return &Roles{} }

// Name is the consumer group.
func (*Roles) Name() string { return "roles" }

// Apply keeps roles_view up to date. Role events carry the whole role, so
// applying one twice gives the same row.
func (*Roles) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	var id domain.RoleID
	var name string
	var perms domain.Permissions
	switch ev := ev.(type) {
	case domain.RoleCreated:
		id, name, perms = ev.RoleID, ev.Name, ev.Permissions
	case domain.RoleChanged:
		id, name, perms = ev.RoleID, ev.Name, ev.Permissions
	default:
		return nil
	}
	if perms == nil {
		perms = domain.Permissions{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO roles_view (role_id, org_id, name, permissions) VALUES ($1, $2, $3, $4)
		ON CONFLICT (role_id) DO UPDATE SET name = excluded.name, permissions = excluded.permissions`,
		string(id), e.OrgID, name, perms)
	if err != nil {
		return fmt.Errorf("role %s: %w", id, err)
	}
	return nil
}

// Tables are the tables this read model owns.
func (*Roles) Tables() []string { return []string{"roles_view"} }

// StreamPrefix is the kind of stream this read model reads.
func (*Roles) StreamPrefix() string { return "org-" }
