package sagas

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// AutoInvite invites a new contact when their ticket arrives in a
// department the portal auto-invites for: it creates the user (with the
// ticket's company, if any) with portal access and sends the invitation,
// trigger auto_ticket, the ticket id in the metadata. A contact who is a
// user already is left alone.
type AutoInvite struct {
	app *commands.App
	log zerolog.Logger
	out outcomes
}

// NewAutoInvite returns the saga.
func NewAutoInvite(app *commands.App, log zerolog.Logger, reg prometheus.Registerer) *AutoInvite {
	return &AutoInvite{app: app, log: log, out: newOutcomes(reg)}
}

// Name is the consumer group.
func (*AutoInvite) Name() string { return "saga-auto-invite" }

// Types are the events it reacts to.
func (*AutoInvite) Types() []string { return []string{domain.TicketCreated{}.EventType()} }

// React handles TicketCreated.
func (s *AutoInvite) React(ctx context.Context, e eventstore.RecordedEvent, ev domain.Event) error {
	t, ok := ev.(domain.TicketCreated)
	if !ok {
		return nil
	}
	if t.RequesterEmail == eventstore.Erased { // the requester was erased before this ran
		s.out.add("auto-invite", "erased")
		return nil
	}
	org := domain.OrgID(e.OrgID)
	portal, err := s.app.Portal(ctx, org)
	if err != nil {
		return err
	}
	if !portal.Enabled || !portal.Settings.AutoInvites(t.Department) {
		s.out.add("auto-invite", "not_configured")
		return nil
	}
	existing, err := s.app.UserIDByEmail(ctx, org, t.RequesterEmail)
	if err != nil || existing != "" {
		if existing != "" {
			s.out.add("auto-invite", "known_contact")
		}
		return err
	}
	first, last := splitName(t.RequesterName, t.RequesterEmail)
	meta := sagaMeta(e, "auto-invite", domain.TriggerAutoTicket, "auto-invite")
	meta.Extra = map[string]string{"ticket_id": t.TicketID}
	_, err = s.app.CreateUser(ctx, meta, commands.CreateUser{FirstName: first, LastName: last, Email: t.RequesterEmail,
		CompanyID: string(t.CompanyID), PortalAccess: true, SendInvite: true})
	switch {
	case err == nil:
		s.out.add("auto-invite", "invited")
	case errors.Is(err, domain.ErrEmailTaken):
		s.out.add("auto-invite", "known_contact") // created meanwhile by someone else
	case refused(err):
		s.out.add("auto-invite", "refused")
		s.log.Warn().Err(err).Str("ticket_id", t.TicketID).Str("correlation_id", e.Metadata.CorrelationID).Msg("auto-invite refused")
	default:
		return err
	}
	return nil
}
