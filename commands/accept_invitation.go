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
	userID, invitationID, err := a.invitationByToken(ctx, org, cmd.Token)
	if err != nil {
		return UserResult{}, err
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
		name:    "AcceptInvitation",
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

// InvitationPreview is what the invitation page shows before the person
// chooses a password.
type InvitationPreview struct {
	FirstName string
	State     domain.InvitationState
}

// PreviewInvitation looks an invitation link up without using it.
func (a *App) PreviewInvitation(ctx context.Context, slug, token string) (InvitationPreview, error) {
	org, err := a.OrgBySlug(ctx, slug)
	if err != nil {
		return InvitationPreview{}, err
	}
	userID, invitationID, err := a.invitationByToken(ctx, org, token)
	if err != nil {
		return InvitationPreview{}, err
	}
	u, _, err := load[domain.User](ctx, a.store, userID.Stream())
	if err != nil {
		return InvitationPreview{}, err
	}
	state := domain.InvitationStateRevoked
	if u.Invitation != nil && u.Invitation.ID == invitationID && !u.Removed {
		state = u.Invitation.StateAt(a.now())
	}
	return InvitationPreview{FirstName: u.FirstName, State: state}, nil
}

// invitationByToken resolves a link's token within one organization.
func (a *App) invitationByToken(ctx context.Context, org domain.OrgID, token string) (domain.UserID, domain.InvitationID, error) {
	var userID domain.UserID
	var invitationID domain.InvitationID
	err := a.pool.QueryRow(ctx, `SELECT user_id, invitation_id FROM invitation_tokens WHERE token_hash = $1 AND org_id = $2`,
		HashToken(token), string(org)).Scan(&userID, &invitationID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", domain.ErrInvitationNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("look up invitation: %w", err)
	}
	return userID, invitationID, nil
}
