package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Transport delivers one message; SMTP is the real one.
type Transport interface {
	Send(ctx context.Context, to, subject, body, messageID string) error
}

// Config tunes the sender.
type Config struct {
	// PublicURL is the base of links when the portal has no custom domain.
	PublicURL string
	// Attempts is how often a message is tried before the failure is
	// recorded (default 4); Backoff is the first wait, doubled each time
	// (default 500ms).
	Attempts int
	Backoff  time.Duration
}

// Sender is the reaction that sends emails. Exactly one email per cause:
// before sending it checks the delivery row of the causing event, and the
// outcome event and that row are written in one transaction after sending.
// The one window left is a crash after the SMTP server accepted the
// message and before that transaction commits; the redelivered event then
// sends the message again. It is kept small by recording right after the
// SMTP exchange, with nothing else in between.
type Sender struct {
	app       *commands.App
	transport Transport
	cfg       Config
	log       zerolog.Logger
	emails    *prometheus.CounterVec
}

// NewSender returns the mail reaction.
func NewSender(app *commands.App, transport Transport, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *Sender {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	emails := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_emails_total", Help: "Emails by kind and outcome (sent, failed).",
	}, []string{"kind", "outcome"})
	if reg != nil {
		reg.MustRegister(emails)
	}
	return &Sender{app: app, transport: transport, cfg: cfg, log: log, emails: emails}
}

// Name is the consumer group.
func (*Sender) Name() string { return "mail" }

// Types are the events that send an email.
func (*Sender) Types() []string {
	return []string{domain.InvitationSent{}.EventType(), domain.UserDeactivated{}.EventType()}
}

// React sends the email an event asks for, if any.
func (s *Sender) React(ctx context.Context, e eventstore.RecordedEvent, ev domain.Event) error {
	if !strings.HasPrefix(e.StreamID, "user-") {
		return nil
	}
	user := domain.UserID(strings.TrimPrefix(e.StreamID, "user-"))
	switch ev := ev.(type) {
	case domain.InvitationSent:
		return s.deliver(ctx, e, user, &ev, "")
	case domain.UserDeactivated:
		return s.deliver(ctx, e, user, nil, ev.Reason)
	}
	return nil
}

func (s *Sender) deliver(ctx context.Context, e eventstore.RecordedEvent, user domain.UserID, inv *domain.InvitationSent, reason string) error {
	cause := e.ID.String()
	if done, err := s.app.EmailDelivered(ctx, cause); err != nil || done {
		return err
	}
	org := domain.OrgID(e.OrgID)
	mc, err := s.app.MailContext(ctx, org, user, inv)
	kind := "deactivation"
	if inv != nil {
		kind = "invitation"
	}
	if errors.Is(err, commands.ErrNoSealer) {
		return s.record(ctx, e, user, inv, mc.User.Email, err.Error(), 0, kind)
	}
	if err != nil {
		return err
	}
	data := MailData{FirstName: mc.User.FirstName, LastName: mc.User.LastName, Email: mc.User.Email, PortalName: mc.PortalName}
	if inv != nil {
		// Only the link still out is worth sending: a later resend, an
		// acceptance or a removal made this one dead.
		cur := mc.User.Invitation
		if cur == nil || cur.ID != inv.InvitationID || cur.State != domain.InvitationStatePending || mc.User.Removed ||
			!time.Now().Before(inv.ExpiresAt) {
			return nil
		}
		data.AcceptURL = s.acceptURL(mc)
		data.ExpiresAt = formatExpiry(inv.ExpiresAt)
	} else {
		if !mc.Settings.NotifyOnDeactivation || mc.User.Email == "" {
			return nil
		}
		data.Reason = reason
	}
	subject, body, err := Render(mc.Settings, kind, data)
	if err != nil {
		return s.record(ctx, e, user, inv, mc.User.Email, err.Error(), 0, kind)
	}
	var sendErr error
	attempts := 0
	wait := s.cfg.Backoff
	for attempts < s.cfg.Attempts {
		attempts++
		// The Message-ID is derived from the causing event: the one window
		// left (see Sender) can repeat a message, never make a new one.
		if sendErr = s.transport.Send(ctx, mc.User.Email, subject, body, e.ID.String()+"@gatehouse"); sendErr == nil {
			break
		}
		s.log.Warn().Err(sendErr).Str("kind", kind).Int("attempt", attempts).Str("correlation_id", e.Metadata.CorrelationID).
			Msg("email not accepted; retrying")
		if attempts < s.cfg.Attempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
	}
	msg := ""
	if sendErr != nil {
		msg = sendErr.Error()
	}
	return s.record(ctx, e, user, inv, mc.User.Email, msg, attempts, kind)
}

func (s *Sender) record(ctx context.Context, e eventstore.RecordedEvent, user domain.UserID, inv *domain.InvitationSent, to, sendErr string, attempts int, kind string) error {
	outcome := "sent"
	if sendErr != "" {
		outcome = "failed"
	}
	var invitation domain.InvitationID
	if inv != nil {
		invitation = inv.InvitationID
	}
	meta := commands.Meta{Org: domain.OrgID(e.OrgID), Actor: domain.Actor{Kind: domain.ActorSystem, ID: "mail", Name: "mail sender"},
		Trigger: domain.Trigger(e.Metadata.Trigger), CorrelationID: e.Metadata.CorrelationID, CausationID: e.ID.String()}
	err := s.app.RecordEmail(ctx, meta, user, e.ID.String(), invitation, to, sendErr, attempts)
	if errors.Is(err, commands.ErrEmailAlreadyRecorded) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record %s email: %w", kind, err)
	}
	s.emails.WithLabelValues(kind, outcome).Inc()
	if sendErr != "" {
		s.log.Error().Str("kind", kind).Str("error", sendErr).Int("attempts", attempts).Str("correlation_id", e.Metadata.CorrelationID).
			Msg("email failed; recorded on the user's history")
	}
	return nil
}

// acceptURL is the invitation link: on the portal's custom domain when it
// has one, else under the public URL.
func (s *Sender) acceptURL(mc commands.MailContext) string {
	base := s.cfg.PublicURL
	if mc.Settings.CustomDomain != "" {
		base = "https://" + mc.Settings.CustomDomain
	}
	return base + "/portal/" + url.PathEscape(mc.Slug) + "/invitations/" + url.PathEscape(mc.Token)
}
