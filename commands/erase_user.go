package commands

import (
	"context"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// EraseUser destroys a user's personal data on request (admins only): the
// user is removed, their key is destroyed in the same transaction as the
// UserErased event, so every sealed field of their history reads as
// "[erased]" from then on, and the rows that held their address outside
// the log (reservation, login failures, requester record, stored command
// answers) are deleted. The log and its hash chain stay as they are, and
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
	if u.Email != "" && u.Email != eventstore.Erased {
		scrub = append(scrub,
			eventstore.Statement{SQL: `DELETE FROM login_failures WHERE org_id = $1 AND email = $2`, Args: []any{org, u.Email}},
			eventstore.Statement{SQL: `DELETE FROM requesters WHERE org_id = $1 AND email = $2`, Args: []any{org, u.Email}})
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
	}
	return err
}
