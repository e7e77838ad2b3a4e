// Package smtptest runs a real SMTP server (emersion/go-smtp) inside a test
// process and keeps what it receives, so tests can read the mail the
// service sent. Imported only by tests.
package smtptest

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailbox is a real SMTP server in the test process; tests read what it
// received. While down, it refuses every message with 421.
type Mailbox struct {
	Addr string
	mu   sync.Mutex
	msgs []Message
	Down atomic.Bool
}

type Message struct {
	From string
	To   []string
	Data string
}

func (m Message) Subject() string {
	for _, line := range strings.Split(m.Data, "\r\n") {
		if strings.HasPrefix(line, "Subject: ") {
			return strings.TrimPrefix(line, "Subject: ")
		}
	}
	return ""
}

func New(t testing.TB) *Mailbox {
	t.Helper()
	box := &Mailbox{}
	s := smtp.NewServer(box)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.Addr = l.Addr().String()
	go s.Serve(l) //nolint:errcheck
	t.Cleanup(func() { _ = s.Close() })
	return box
}

func (b *Mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{box: b}, nil }

// to returns the messages received for an address.
func (b *Mailbox) To(addr string) []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Message
	for _, m := range b.msgs {
		for _, r := range m.To {
			if strings.EqualFold(r, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (b *Mailbox) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

type session struct {
	box  *Mailbox
	from string
	to   []string
}

var errDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available"}

func (s *session) AuthPlain(string, string) error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.box.Down.Load() {
		return errDown
	}
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.box.Down.Load() {
		return errDown
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, Message{From: s.from, To: s.to, Data: string(b)})
	s.box.mu.Unlock()
	return nil
}
func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
