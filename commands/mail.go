package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// MailContext is what an email about a user needs: the person, their
// portal, and for an invitation its link's token and expiry.
type MailContext struct {
	Org        domain.OrgID
	PortalName string
	Slug       string
	Settings   domain.PortalSettings
	User       domain.User
	Token      string
	ExpiresAt  time.Time
}

// ErrNoSealer is returned when an invitation email is due but the service
// runs without a secret key to open invitation tokens.
var ErrNoSealer = errors.New("no secret key configured to open invitation tokens")

// MailContext loads the data for an email about user. With invitation set
// it also opens the invitation's sealed token (from its InvitationSent).
func (a *App) MailContext(ctx context.Context, org domain.OrgID, user domain.UserID, invitation *domain.InvitationSent) (MailContext, error) {
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return MailContext{}, err
	}
	u, _, err := load[domain.User](ctx, a.store, user.Stream())
	if err != nil {
		return MailContext{}, err
	}
	mc := MailContext{Org: org, PortalName: o.Name, Slug: o.Slug, Settings: o.Settings, User: *u}
	if invitation != nil {
		if a.sealer == nil || invitation.SealedToken == "" {
			return mc, ErrNoSealer
		}
		if mc.Token, err = a.sealer.Open(invitation.SealedToken); err != nil {
			return mc, err
		}
		mc.ExpiresAt = invitation.ExpiresAt
	}
	return mc, nil
}

// EmailDelivered reports whether the email asked for by cause was dealt
// with already (sent, or given up on).
func (a *App) EmailDelivered(ctx context.Context, cause string) (bool, error) {
	var exists bool
	err := a.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mail_deliveries WHERE cause_event_id = $1)`, cause).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look up mail delivery: %w", err)
	}
	return exists, nil
}

// ErrEmailAlreadyRecorded is returned when another delivery recorded the
// same email first.
var ErrEmailAlreadyRecorded = errors.New("email outcome recorded already")

// RecordEmail appends the outcome of an email on the user's stream together
// with its delivery row, in one transaction: a redelivered cause finds the
// row and sends nothing again.
func (a *App) RecordEmail(ctx context.Context, meta Meta, user domain.UserID, cause string, invitation domain.InvitationID, to, sendErr string, attempts int) error {
	kind, outcome := "deactivation", "sent"
	if invitation != "" {
		kind = "invitation"
	}
	if sendErr != "" {
		outcome = "failed"
	}
	_, err := execute[domain.User](ctx, a, meta, change[*domain.User, struct{}]{
		name:    "RecordEmail",
		stream:  user.Stream(),
		subject: string(user),
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			return u.RecordEmail(invitation, to, sendErr, attempts)
		},
		extra:  []eventstore.Statement{recordDelivery(cause, user, kind, outcome)},
		result: func(*domain.User, streamInfo) (struct{}, error) { return struct{}{}, nil },
	})
	return err
}

// UserIDByEmail finds the user of org with this address ("" when none).
func (a *App) UserIDByEmail(ctx context.Context, org domain.OrgID, email string) (domain.UserID, error) {
	var id domain.UserID
	err := a.pool.QueryRow(ctx, `SELECT user_id FROM email_reservations WHERE org_id = $1 AND email = $2`,
		string(org), domain.NormalizeEmail(email)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up user by email: %w", err)
	}
	return id, nil
}

// recordDelivery is the row that makes recording a delivery happen once.
func recordDelivery(cause string, user domain.UserID, kind, outcome string) eventstore.Statement {
	st := eventstore.InsertRow("mail_deliveries", "cause_event_id, user_id, kind, outcome", cause, string(user), kind, outcome)
	st.OnUniqueViolation = ErrEmailAlreadyRecorded
	return st
}
