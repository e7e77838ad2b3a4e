package commands

import (
	"context"

	"gatehouse/domain"
)

// InviteUser sends (or resends) an invitation; a resend kills the old link.
// Result carries the new link's token for the caller to deliver.
func (a *App) InviteUser(ctx context.Context, meta Meta, id domain.UserID) (InvitationResult, error) {
	if !domain.ValidID(string(id)) {
		return InvitationResult{}, domain.ErrUserNotFound
	}
	invite, err := a.prepareInvitation(ctx, meta.Org)
	if err != nil {
		return InvitationResult{}, err
	}
	now := a.now()
	return execute[domain.User](ctx, a, meta, change[*domain.User, InvitationResult]{
		name:    "InviteUser",
		stream:  id.Stream(),
		subject: string(id),
		request: struct{ Invite domain.UserID }{id},
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			if !meta.reaches(u) {
				return nil, domain.ErrUserNotFound
			}
			return u.Invite(now, invite.id, invite.hash, invite.sealed, invite.ttl)
		},
		result: func(u *domain.User, _ streamInfo) (InvitationResult, error) {
			return InvitationResult{ID: u.Invitation.ID, State: u.Invitation.StateAt(now), ExpiresAt: u.Invitation.ExpiresAt, Token: invite.token}, nil
		},
	})
}
