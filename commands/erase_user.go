package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// EraseUser destroys a user's personal data on request (admins only): the
// user is removed, their key is destroyed in the same transaction as the
// UserErased event, so every sealed field of their history reads as
// "[erased]" from then on, and the rows that held their address outside
// the log (reservation, login failures, requester record, stored command
// answers) are deleted. The helpdesk's tickets and orders that name their
// address lose their keys too, so their personal fields read as
// "[erased]" as well. The log and its hash chain stay as they are, and
// the address may be used again.
func (a *App) EraseUser(ctx context.Context, meta Meta, id domain.UserID) error {
	if err := requireAdmin(meta); err != nil {
		return err
	}
	if !domain.ValidID(string(id)) {
		return domain.ErrUserNotFound
	}
	u, _, err := load[domain.User](ctx, a.store, id.Stream())
	if err != nil {
		return err
	}
	if !meta.reaches(u) {
		return domain.ErrUserNotFound
	}
	org, user := string(meta.Org), string(id)
	scrub := []eventstore.Statement{
		{SQL: `UPDATE user_keys SET key = NULL, erased_at = now() WHERE user_id = $1`, Args: []any{user}},
		{SQL: `DELETE FROM email_reservations WHERE org_id = $1 AND user_id = $2`, Args: []any{org, user}},
		{SQL: `DELETE FROM idempotency_keys WHERE org_id = $1 AND result->>'id' = $2`, Args: []any{org, user}},
		endSessions(user),
	}
	// Every address they have had: a ticket filed, or a login tried,
	// under an address they changed since names them too.
	var addresses []string
	for _, e := range u.Addresses {
		if e != eventstore.Erased { // erased already: read back as such
			addresses = append(addresses, strings.ToLower(e))
		}
	}
	var contactStreams []string
	if len(addresses) > 0 {
		scrub = append(scrub,
			eventstore.Statement{SQL: `DELETE FROM login_failures WHERE org_id = $1 AND email = ANY($2)`, Args: []any{org, addresses}},
			eventstore.Statement{SQL: `DELETE FROM requesters WHERE org_id = $1 AND email = ANY($2)`, Args: []any{org, addresses}},
			// The tickets and orders that name them: their keys go, and
			// the address kept beside the keys too.
			eventstore.Statement{SQL: `UPDATE stream_keys SET key = NULL, email = NULL, erased_at = now() WHERE org_id = $1 AND lower(email) = ANY($2)`, Args: []any{org, addresses}})
		if contactStreams, err = a.contactStreams(ctx, meta.Org, addresses); err != nil {
			return err
		}
	}
	_, err = execute[domain.User](ctx, a, meta, change[*domain.User, struct{}]{
		name:    "EraseUser",
		stream:  id.Stream(),
		subject: user,
		extra:   scrub,
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			if !meta.reaches(u) {
				return nil, domain.ErrUserNotFound
			}
			return u.Erase()
		},
		result: func(*domain.User, streamInfo) (struct{}, error) { return struct{}{}, nil },
	})
	if err == nil {
		a.store.ForgetKey(user)
		// Other processes drop them within a key's lifetime in their cache
		// (a minute), as they do a user's; so does this one for a ticket
		// recorded between this read and the erasure.
		for _, stream := range contactStreams {
			a.store.ForgetKey(stream)
		}
	}
	return err
}

// contactStreams are the keyed ticket and order streams that name one of
// the (lower-case) addresses.
func (a *App) contactStreams(ctx context.Context, org domain.OrgID, addresses []string) ([]string, error) {
	rows, err := a.pool.Query(ctx, `SELECT stream_id FROM stream_keys WHERE org_id = $1 AND lower(email) = ANY($2) AND key IS NOT NULL`, string(org), addresses)
	if err != nil {
		return nil, fmt.Errorf("streams naming the user to erase: %w", err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("streams naming the user to erase: %w", err)
	}
	return streams, nil
}
