package commands

import (
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// reservations returns the rows an event claims, written in the event's
// append transaction: set rules across streams (slug, email) refuse the
// append by a unique violation, and secret lookups (token hashes) are in
// place the moment the command answers. Every row follows from an event,
// so the tables can be rebuilt from the log.
func reservations(org domain.OrgID, subject string, e domain.Event) []eventstore.Statement {
	switch e := e.(type) {
	case domain.OrganizationCreated:
		st := eventstore.InsertRow("org_slugs", "slug, org_id", e.Slug, string(e.OrgID))
		st.OnUniqueViolation = domain.ErrSlugTaken
		return []eventstore.Statement{st}
	case domain.StaffTokenIssued:
		return []eventstore.Statement{eventstore.InsertRow("staff_tokens", "token_hash, token_id, org_id, name, role",
			e.TokenHash, string(e.TokenID), string(org), e.Name, string(e.Role))}
	case domain.StaffTokenRevoked:
		return []eventstore.Statement{
			{SQL: `UPDATE staff_tokens SET revoked = true WHERE token_id = $1`, Args: []any{string(e.TokenID)}},
			{SQL: `SELECT pg_notify($1, '')`, Args: []any{StaffTokensChannel}}, // delivered at commit
		}
	case domain.UserCreated:
		if e.Email == "" {
			return nil
		}
		return []eventstore.Statement{reserveEmail(org, e.Email, subject)}
	case domain.UserEmailChanged:
		st := []eventstore.Statement{{SQL: `DELETE FROM email_reservations WHERE org_id = $1 AND user_id = $2`, Args: []any{string(org), subject}}}
		if e.Email != "" {
			st = append(st, reserveEmail(org, e.Email, subject))
		}
		return st
	case domain.UserRemoved:
		return []eventstore.Statement{
			{SQL: `DELETE FROM email_reservations WHERE org_id = $1 AND user_id = $2`, Args: []any{string(org), subject}},
			endSessions(subject),
		}
	case domain.UserDeactivated, domain.PortalAccessRevoked, domain.PasswordSet:
		return []eventstore.Statement{endSessions(subject)}
	case domain.InvitationSent:
		return []eventstore.Statement{eventstore.InsertRow("invitation_tokens", "token_hash, invitation_id, org_id, user_id",
			e.TokenHash, string(e.InvitationID), string(org), subject)}
	case domain.TicketCreated:
		return []eventstore.Statement{{
			SQL: `INSERT INTO requesters (org_id, email, first_ticket_id, tickets) VALUES ($1, $2, $3, 1)
				ON CONFLICT (org_id, email) DO UPDATE SET tickets = requesters.tickets + 1`,
			Args: []any{string(org), e.RequesterEmail, e.TicketID},
		}}
	}
	return nil
}

func reserveEmail(org domain.OrgID, email, user string) eventstore.Statement {
	st := eventstore.InsertRow("email_reservations", "org_id, email, user_id", string(org), email, user)
	st.OnUniqueViolation = domain.ErrEmailTaken
	return st
}

// endSessions logs the user out everywhere, in the transaction of the event
// that ends their access.
func endSessions(user string) eventstore.Statement {
	return eventstore.Statement{SQL: `UPDATE portal_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, Args: []any{user}}
}
