package sagas

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// SuperUserRole is the role an order's contact gets: every permission.
const SuperUserRole = "Super user"

// SuperUser makes an order's contact the company's super user: a user of
// the company with the super-user role, invited (trigger order). An order
// delivered twice does this once.
type SuperUser struct {
	app *commands.App
	log zerolog.Logger
	out outcomes
}

// NewSuperUser returns the saga.
func NewSuperUser(app *commands.App, log zerolog.Logger, reg prometheus.Registerer) *SuperUser {
	return &SuperUser{app: app, log: log, out: newOutcomes(reg)}
}

// Name is the consumer group.
func (*SuperUser) Name() string { return "saga-super-user" }

// Types are the events it reacts to.
func (*SuperUser) Types() []string { return []string{domain.OrderConfirmed{}.EventType()} }

// React handles OrderConfirmed.
func (s *SuperUser) React(ctx context.Context, e eventstore.RecordedEvent, ev domain.Event) error {
	o, ok := ev.(domain.OrderConfirmed)
	if !ok {
		return nil
	}
	if o.Email == eventstore.Erased { // the buyer was erased before this ran
		s.out.add("super-user", "erased")
		return nil
	}
	meta := sagaMeta(e, "order", domain.TriggerOrder, "order")
	meta.Extra = map[string]string{"order_id": o.OrderID}
	all := domain.Permissions{}
	for _, p := range domain.AllPermissions {
		all[p] = true
	}
	roleMeta := meta
	roleMeta.IdempotencyKey = ""
	role, err := s.app.EnsureRole(ctx, roleMeta, SuperUserRole, all)
	if err != nil {
		return err
	}
	existing, err := s.app.UserIDByEmail(ctx, meta.Org, o.Email)
	if err != nil {
		return err
	}
	if existing == "" {
		_, err = s.app.CreateUser(ctx, meta, commands.CreateUser{FirstName: o.FirstName, LastName: o.LastName, Email: o.Email,
			CompanyID: string(o.CompanyID), RoleID: string(role), PortalAccess: true, SendInvite: true})
	} else {
		// A known person becomes the super user of the company.
		rid, cid := string(role), string(o.CompanyID)
		meta.IdempotencyKey = "order-update:" + e.ID.String()
		var u commands.UserResult
		if u, err = s.app.UpdateUser(ctx, meta, existing, commands.UpdateUser{RoleID: &rid, CompanyID: &cid}, nil); err == nil && !u.PortalAccess {
			meta.IdempotencyKey = "order-grant:" + e.ID.String()
			if _, err = s.app.GrantPortalAccess(ctx, meta, existing); err == nil {
				meta.IdempotencyKey = "order-invite:" + e.ID.String()
				_, err = s.app.InviteUser(ctx, meta, existing)
			}
		}
	}
	switch {
	case err == nil:
		s.out.add("super-user", "done")
	case refused(err):
		s.out.add("super-user", "refused")
		s.log.Warn().Err(err).Str("order_id", o.OrderID).Str("correlation_id", e.Metadata.CorrelationID).Msg("super user not created")
	default:
		return err
	}
	return nil
}
