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
		return []eventstore.Statement{{
			SQL:               `INSERT INTO org_slugs (slug, org_id) VALUES ($1, $2)`,
			Args:              []any{e.Slug, string(e.OrgID)},
			OnUniqueViolation: domain.ErrSlugTaken,
		}}
	case domain.StaffTokenIssued:
		return []eventstore.Statement{{
			SQL:  `INSERT INTO staff_tokens (token_hash, token_id, org_id, name, role) VALUES ($1, $2, $3, $4, $5)`,
			Args: []any{e.TokenHash, string(e.TokenID), string(org), e.Name, string(e.Role)},
		}}
	case domain.UserCreated:
		return []eventstore.Statement{{
			SQL:               `INSERT INTO email_reservations (org_id, email, user_id) VALUES ($1, $2, $3)`,
			Args:              []any{string(org), e.Email, string(e.UserID)},
			OnUniqueViolation: domain.ErrEmailTaken,
		}}
	case domain.InvitationSent:
		return []eventstore.Statement{{
			SQL:  `INSERT INTO invitation_tokens (token_hash, invitation_id, org_id, user_id) VALUES ($1, $2, $3, $4)`,
			Args: []any{e.TokenHash, string(e.InvitationID), string(org), subject},
		}}
	}
	return nil
}
