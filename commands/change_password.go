package commands

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
)

// ChangePassword replaces a logged-in portal user's password.
type ChangePassword struct {
	Current string
	New     string
}

// ChangePassword checks the current password, sets the new one — which
// ends every session of the account in the same transaction, so a stolen
// session dies with the old password — and opens a fresh session for the
// caller. A wrong current password counts towards the account's login
// back-off like a failed login.
func (a *App) ChangePassword(ctx context.Context, who PortalIdentity, cmd ChangePassword) (Session, error) {
	now := a.now()
	email := domain.NormalizeEmail(who.User.Email)
	if err := a.refuseWhileLocked(ctx, who.Org, email, now); err != nil {
		return Session{}, err
	}
	var v domain.Validation
	if cmd.Current == "" {
		v.Add("current_password", "is required")
	}
	if msg := domain.PasswordProblem(cmd.New); msg != "" {
		v.Add("new_password", msg)
	} else if cmd.New == cmd.Current {
		v.Add("new_password", "must differ from the current password")
	}
	if err := v.Err(); err != nil {
		return Session{}, err
	}
	u, _, err := load[domain.User](ctx, a.store, who.User.ID.Stream())
	if err != nil {
		return Session{}, err
	}
	ok, err := a.hasher.Verify(cmd.Current, u.PasswordHash)
	if err != nil {
		return Session{}, err
	}
	if !ok {
		if err := a.loginFailed(ctx, who.Org, email, now); err != nil && !errors.Is(err, domain.ErrInvalidCredentials) {
			return Session{}, err
		}
		v.Add("current_password", "is not your current password")
		return Session{}, v.Err()
	}
	hash, err := a.hasher.Hash(cmd.New)
	if err != nil {
		return Session{}, err
	}
	meta := Meta{Org: who.Org, Actor: domain.Actor{Kind: domain.ActorPortalUser, ID: string(who.User.ID)}, Trigger: domain.TriggerPortal}
	if _, err := execute[domain.User](ctx, a, meta, change[*domain.User, struct{}]{
		name:    "ChangePassword",
		stream:  who.User.ID.Stream(),
		subject: string(who.User.ID),
		decide:  func(u *domain.User, _ int) ([]domain.Event, error) { return u.ChangePassword(hash) },
		result:  func(*domain.User, streamInfo) (struct{}, error) { return struct{}{}, nil },
	}); err != nil {
		return Session{}, err
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM login_failures WHERE org_id = $1 AND email = $2`, string(who.Org), email)
	return a.openSession(ctx, who, now, b)
}
