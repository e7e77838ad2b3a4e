package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
)

// AcceptInvitation sets the password of an invited person through the link
// they received, which makes their account active.
type AcceptInvitation struct {
	Slug     string
	Token    string
	Password string
}

// AcceptInvitation runs the command. A token of another organization's
// portal resolves to nothing, like an unknown one.
func (a *App) AcceptInvitation(ctx context.Context, cmd AcceptInvitation) (UserResult, error) {
	org, err := a.OrgBySlug(ctx, cmd.Slug)
	if err != nil {
		return UserResult{}, err
	}
	var userID domain.UserID
	var invitationID domain.InvitationID
	err = a.pool.QueryRow(ctx, `SELECT user_id, invitation_id FROM invitation_tokens WHERE token_hash = $1 AND org_id = $2`,
		HashToken(cmd.Token), string(org)).Scan(&userID, &invitationID)
	if errors.Is(err, pgx.ErrNoRows) {
		return UserResult{}, domain.ErrInvitationNotFound
	}
	if err != nil {
		return UserResult{}, fmt.Errorf("look up invitation: %w", err)
	}
	if err := domain.ValidatePassword(cmd.Password); err != nil {
		return UserResult{}, err
	}
	if err := a.portalOpenFor(ctx, org, userID); err != nil {
		return UserResult{}, err
	}
	hash, err := a.hasher.Hash(cmd.Password)
	if err != nil {
		return UserResult{}, err
	}
	now := a.now()
	meta := Meta{Org: org, Actor: domain.Actor{Kind: domain.ActorPortalUser, ID: string(userID)}, Trigger: domain.TriggerPortal}
	return execute[domain.User](ctx, a, meta, change[*domain.User, UserResult]{
		stream:  userID.Stream(),
		subject: string(userID),
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			return u.AcceptInvitation(now, invitationID, hash)
		},
		result: func(u *domain.User, info streamInfo) (UserResult, error) { return userResult(u, info, now), nil },
	})
}

// portalOpenFor refuses when the organization's portal is off or the
// user's company portal is not active.
func (a *App) portalOpenFor(ctx context.Context, org domain.OrgID, userID domain.UserID) error {
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return err
	}
	if !o.PortalEnabled {
		return domain.ErrPortalDisabled
	}
	u, _, err := load[domain.User](ctx, a.store, userID.Stream())
	if err != nil {
		return err
	}
	if u.CompanyID == "" {
		return nil
	}
	c, err := a.company(ctx, org, u.CompanyID)
	if err != nil {
		return err
	}
	if !c.PortalActive {
		return domain.ErrCompanyPortalInactive
	}
	return nil
}
