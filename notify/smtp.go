package notify

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"gatehouse/domain"
)

// SMTP sends mail through a server named by an smtp:// or smtps:// URL
// (user and password optional), with STARTTLS where the server offers it.
type SMTP struct {
	host     string
	port     int
	ssl      bool
	user     string
	password string
	from     string
	timeout  time.Duration
}

// NewSMTP parses the server URL; from is the sender address.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("smtp url: want smtp://user:pass@host:port or smtps://…")
	}
	s := &SMTP{host: u.Hostname(), ssl: u.Scheme == "smtps", from: from, timeout: 15 * time.Second}
	s.port = 587
	if s.ssl {
		s.port = 465
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("smtp url: bad port")
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}

// Send delivers one plain-text message. messageID identifies the message
// for good: a message sent again after a crash carries the same id, which
// lets receiving servers and clients tell it is the same message.
func (s *SMTP) Send(ctx context.Context, to, subject, body, messageID string) error {
	m := mail.NewMsg()
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("sender address: %w", err)
	}
	if err := m.To(domain.EmailForDelivery(to)); err != nil {
		return fmt.Errorf("recipient address: %w", err)
	}
	m.Subject(subject)
	m.SetMessageIDWithValue(messageID)
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, body)
	opts := []mail.Option{mail.WithPort(s.port), mail.WithTimeout(s.timeout), mail.WithTLSPolicy(mail.TLSOpportunistic)}
	if s.ssl {
		opts = append(opts, mail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.user), mail.WithPassword(s.password))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.host, s.port, err)
	}
	return nil
}
