package http_test

import (
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/notify"
	"gatehouse/notify/smtptest"
	"gatehouse/sagas"
)

// decoded returns a received message's subject and plain-text body.
func decoded(t *testing.T, m smtptest.Message) (string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return subject, string(b)
}

var linkPattern = regexp.MustCompile(`https?://\S+/portal/\S+/invitations/[A-Za-z0-9_-]+`)

func (h *harness) eventsOf(t *testing.T, typ string) int { return h.countEvents(typ) }

func TestInvitationEmailCarriesAWorkingLink(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	r := o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@globex.test", "company_id": company, "send_invite": true})
	if r.status != 201 || r.json(t)["email_status"] != "queued" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	eventually(t, "invitation email received", func() bool { return len(h.mail.To("ada@globex.test")) == 1 })
	subject, body := decoded(t, h.mail.To("ada@globex.test")[0])
	if !strings.Contains(subject, "invited") || !strings.Contains(body, "Hello Ada") {
		t.Fatalf("mail: %q\n%s", subject, body)
	}
	var cause string
	if err := h.pool.QueryRow(t.Context(), `SELECT event_id::text FROM events WHERE event_type = 'InvitationSent'`).Scan(&cause); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.mail.To("ada@globex.test")[0].Data, "Message-ID: <"+cause+"@gatehouse>") {
		t.Fatalf("Message-ID not derived from the invitation event %s:\n%.400s", cause, h.mail.To("ada@globex.test")[0].Data)
	}
	link := linkPattern.FindString(body)
	if !strings.HasPrefix(link, "http://portal.test/portal/acme/invitations/") {
		t.Fatalf("no accept link in %s", body)
	}
	if r := h.do("POST", strings.TrimPrefix(link, "http://portal.test")+"/accept", "", map[string]any{"password": password}); r.status != 200 {
		t.Fatalf("the emailed link does not work: %d %s", r.status, r.body)
	}
	h.caughtUp(t)
	if n := h.eventsOf(t, "InvitationEmailSent"); n != 1 || h.mail.Count() != 1 {
		t.Fatalf("%d InvitationEmailSent events, %d messages", n, h.mail.Count())
	}
	// The token is in no event in clear (the event carries it sealed).
	token := link[strings.LastIndex(link, "/")+1:]
	var hits int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%'`, token).Scan(&hits); err != nil || hits != 0 {
		t.Fatalf("token in clear in %d events", hits)
	}
}

func TestEmailLanguageTemplatesAndDomain(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.staff("PATCH", "/portal", map[string]any{"language": "de"})
	o.staff("POST", "/users", map[string]any{"first_name": "Jürgen", "last_name": "Müller", "email": "juergen@globex.test", "company_id": company, "send_invite": true})
	eventually(t, "German invitation", func() bool { return len(h.mail.To("juergen@globex.test")) == 1 })
	subject, body := decoded(t, h.mail.To("juergen@globex.test")[0])
	if !strings.Contains(subject, "Einladung") || !strings.Contains(body, "Hallo Jürgen") {
		t.Fatalf("German mail: %q\n%s", subject, body)
	}
	h.caughtUp(t) // the email's outcome event is recorded right after the SMTP exchange
	h.unchanged(func() {
		o.staff("PATCH", "/portal", map[string]any{"templates": map[string]any{"invitation": map[string]string{"subject": "{{.Nope", "body": "x"}}}).problem(t, 422, "validation_failed")
		o.staff("PATCH", "/portal", map[string]any{"templates": map[string]any{"farewell": map[string]string{"subject": "x", "body": "x"}}}).problem(t, 422, "validation_failed")
	})
	r := o.staff("PATCH", "/portal", map[string]any{"custom_domain": "support.acme.test", "templates": map[string]any{
		"invitation": map[string]string{"subject": "Welcome to {{.PortalName}}, {{.FirstName}}", "body": "Set your password: {{.AcceptURL}} (until {{.ExpiresAt}})"}}})
	if r.status != 200 {
		t.Fatalf("custom template: %d %s", r.status, r.body)
	}
	o.staff("POST", "/users", map[string]any{"first_name": "Grace", "last_name": "Hopper", "email": "grace@globex.test", "company_id": company, "send_invite": true})
	eventually(t, "custom invitation", func() bool { return len(h.mail.To("grace@globex.test")) == 1 })
	subject, body = decoded(t, h.mail.To("grace@globex.test")[0])
	if subject != "Welcome to acme, Grace" || !strings.HasPrefix(body, "Set your password: https://support.acme.test/portal/acme/invitations/") {
		t.Fatalf("custom mail: %q\n%s", subject, body)
	}
}

func TestDeactivationEmailOnlyWhenEnabledAndNoneOnEditOrRemove(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	ada := o.activeUser(company, "ada@globex.test", nil)
	// The invitation email may or may not go out: the link was used at once,
	// and a used link is not worth an email. Count from here.
	h.caughtUp(t)
	base := len(h.mail.To("ada@globex.test"))
	o.staff("POST", "/users/"+ada+"/deactivate", map[string]any{"reason": "contract ended"})
	o.staff("POST", "/users/"+ada+"/reactivate", nil)
	o.staff("PATCH", "/users/"+ada, map[string]any{"first_name": "Augusta"})
	h.caughtUp(t)
	if n := len(h.mail.To("ada@globex.test")) - base; n != 0 {
		t.Fatalf("%d mails after deactivation (notify off) and edit, want none", n)
	}
	o.staff("PATCH", "/portal", map[string]any{"notify_on_deactivation": true})
	o.staff("POST", "/users/"+ada+"/deactivate", map[string]any{"reason": "contract ended"})
	eventually(t, "deactivation email", func() bool { return len(h.mail.To("ada@globex.test")) == base+1 })
	subject, body := decoded(t, h.mail.To("ada@globex.test")[base])
	if !strings.Contains(subject, "ended") || !strings.Contains(body, "contract ended") || !strings.Contains(body, "Augusta") {
		t.Fatalf("deactivation mail: %q\n%s", subject, body)
	}
	o.staff("DELETE", "/users/"+ada, nil)
	h.caughtUp(t)
	if n := len(h.mail.To("ada@globex.test")); n != base+1 {
		t.Fatalf("%d mails after removal, want %d", n, base+1)
	}
	if n := h.eventsOf(t, "DeactivationEmailSent"); n != 1 {
		t.Fatalf("%d DeactivationEmailSent", n)
	}
}

func TestSMTPDownIsRecordedThenAResendWorks(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	h.mail.Down.Store(true)
	user := o.createUser(company, "ada@globex.test")
	o.invite(user)
	eventually(t, "failure recorded", func() bool { return h.eventsOf(t, "InvitationEmailFailed") == 1 })
	var attempts int
	var errText string
	if err := h.pool.QueryRow(t.Context(), `SELECT (data->>'attempts')::int, data->>'error' FROM events WHERE event_type = 'InvitationEmailFailed'`).Scan(&attempts, &errText); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || !strings.Contains(errText, "421") || h.mail.Count() != 0 {
		t.Fatalf("failure after %d attempts: %q; %d messages", attempts, errText, h.mail.Count())
	}
	history := o.staff("GET", "/users/"+user, nil).json(t)
	if history["status"] != "invited" {
		t.Fatalf("user after a failed email: %v", history)
	}
	h.mail.Down.Store(false)
	o.invite(user)
	eventually(t, "resend delivered", func() bool { return len(h.mail.To("ada@globex.test")) == 1 })
	h.caughtUp(t)
	if h.mail.Count() != 1 || h.eventsOf(t, "InvitationEmailSent") != 1 {
		t.Fatalf("%d messages, %d sent events", h.mail.Count(), h.eventsOf(t, "InvitationEmailSent"))
	}
}

func TestAutoInviteSaga(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.staff("PATCH", "/portal", map[string]any{"auto_invite_departments": []string{"support"}})
	o.activeUser(company, "known@globex.test", nil)
	ticket := func(id, email, dept string) {
		r := o.staff("POST", "/events/tickets", map[string]any{"ticket_id": id, "requester_email": email, "requester_name": "Contact Person", "department": dept, "company_id": company})
		if r.status != 202 {
			t.Errorf("ticket %s: %d %s", id, r.status, r.body)
		}
	}
	// A burst: 50 tickets for 10 new contacts, concurrently, some ticket ids twice.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ticket(fmt.Sprintf("T-%d", i), fmt.Sprintf("contact%d@customer.test", i%10), "support")
			if i%7 == 0 {
				ticket(fmt.Sprintf("T-%d", i), fmt.Sprintf("contact%d@customer.test", i%10), "support")
			}
		}()
	}
	wg.Wait()
	ticket("T-known", "known@globex.test", "support")
	ticket("T-sales", "salesperson@customer.test", "sales")
	h.caughtUp(t)
	eventually(t, "ten invitation emails", func() bool { return h.mail.Count()-len(h.mail.To("known@globex.test")) >= 10 })
	h.caughtUp(t)
	var users, invitations int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE event_type = 'UserCreated'), count(*) FILTER (WHERE event_type = 'InvitationSent')
		FROM events WHERE metadata->>'trigger' = 'auto_ticket'`).Scan(&users, &invitations); err != nil {
		t.Fatal(err)
	}
	if users != 10 || invitations != 10 || h.countEvents("TicketCreated") != 52 {
		t.Fatalf("%d users, %d invitations, %d tickets; want 10, 10, 52", users, invitations, h.countEvents("TicketCreated"))
	}
	for i := 0; i < 10; i++ {
		if n := len(h.mail.To(fmt.Sprintf("contact%d@customer.test", i))); n != 1 {
			t.Fatalf("contact%d got %d emails", i, n)
		}
	}
	if h.mail.Count()-len(h.mail.To("known@globex.test")) != 10 || len(h.mail.To("salesperson@customer.test")) != 0 || len(h.mail.To("known@globex.test")) > 1 {
		t.Fatalf("%d mails in all; sales %d; known %d", h.mail.Count(), len(h.mail.To("salesperson@customer.test")), len(h.mail.To("known@globex.test")))
	}
	var ticketID string
	if err := h.pool.QueryRow(t.Context(), `SELECT metadata->'extra'->>'ticket_id' FROM events WHERE event_type = 'UserCreated' AND metadata->>'trigger' = 'auto_ticket' LIMIT 1`).Scan(&ticketID); err != nil || !strings.HasPrefix(ticketID, "T-") {
		t.Fatalf("ticket id in metadata: %q %v", ticketID, err)
	}
}

func TestOrderSagaCreatesOneSuperUser(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	order := map[string]any{"order_id": "O-1", "company_id": company, "contact": map[string]any{"first_name": "Olga", "last_name": "Owner", "email": "olga@globex.test"}}
	for i := 0; i < 2; i++ {
		if r := o.staff("POST", "/events/orders", order); r.status != 202 {
			t.Fatalf("order: %d %s", r.status, r.body)
		}
	}
	o.staff("POST", "/events/orders", map[string]any{"order_id": "O-2", "company_id": "nope", "contact": map[string]any{}}).problem(t, 422, "validation_failed")
	eventually(t, "super user invited", func() bool { return len(h.mail.To("olga@globex.test")) == 1 })
	h.caughtUp(t)
	items := o.staff("GET", "/users?q=olga", nil).json(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%d users for the order", len(items))
	}
	u := items[0].(map[string]any)
	eff := u["effective_permissions"].(map[string]any)
	if u["status"] != "invited" || u["company_id"] != company || eff["manage_users"] != true || eff["edit_tags"] != true {
		t.Fatalf("super user: %v", u)
	}
	if h.countEvents("OrderConfirmed") != 1 || h.countEvents("RoleCreated") != 1 || len(h.mail.To("olga@globex.test")) != 1 {
		t.Fatalf("%d orders, %d roles, %d mails", h.countEvents("OrderConfirmed"), h.countEvents("RoleCreated"), len(h.mail.To("olga@globex.test")))
	}
}

func TestHelpdeskTopicFeedsTheSagas(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	o.setup()
	o.staff("PATCH", "/portal", map[string]any{"auto_invite_departments": []string{"*"}})
	pub, err := wsql.NewPublisher(wsql.BeginnerFromPgx(h.pool), wsql.PublisherConfig{SchemaAdapter: sagas.HelpdeskSchema(), AutoInitializeSchema: true}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"type":"ticket_created","org_id":%q,"ticket":{"ticket_id":"H-1","requester_email":"topic@customer.test","requester_name":"Topic Person","department":"billing"}}`, o.id)
	for i := 0; i < 2; i++ { // published twice: recorded once
		if err := pub.Publish(sagas.HelpdeskTopic, message.NewMessage(watermill.NewUUID(), []byte(payload))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(sagas.HelpdeskTopic, message.NewMessage(watermill.NewUUID(), []byte(`{"type":"nonsense"}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "contact from the topic invited", func() bool { return len(h.mail.To("topic@customer.test")) == 1 })
	h.caughtUp(t)
	if h.countEvents("TicketCreated") != 1 {
		t.Fatalf("%d tickets recorded", h.countEvents("TicketCreated"))
	}
	// Every message dealt with, recorded or dropped, is gone from the
	// topic's table: the address is only in the log, sealed.
	eventually(t, "the topic's table emptied", func() bool {
		var n int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM watermill_helpdesk`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	if hits := h.textHits(t, "topic@customer.test"); hits["watermill_helpdesk"] != 0 || hits["events"] != 0 {
		t.Fatalf("the address in clear in %v", hits)
	}
}

// A redelivered InvitationSent (as after a crash before the offset
// committed) sends nothing again: the delivery row says it was dealt with.
func TestRedeliveredInvitationSendsNoSecondEmail(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@globex.test", "company_id": company, "send_invite": true})
	eventually(t, "first email", func() bool { return len(h.mail.To("ada@globex.test")) == 1 })
	h.caughtUp(t)
	store := eventstore.New(h.pool)
	var stream string
	if err := h.pool.QueryRow(t.Context(), `SELECT stream_id FROM events WHERE event_type = 'InvitationSent'`).Scan(&stream); err != nil {
		t.Fatal(err)
	}
	events, err := store.ReadStream(t.Context(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := notify.NewSMTP("smtp://"+h.mail.Addr, "noreply@portal.test")
	if err != nil {
		t.Fatal(err)
	}
	sender := notify.NewSender(h.app, transport, notify.Config{PublicURL: "http://portal.test"}, testLog(t), nil)
	for _, e := range events {
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if err := sender.React(t.Context(), e, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(h.mail.To("ada@globex.test")); n != 1 || h.countEvents("InvitationEmailSent") != 1 {
		t.Fatalf("%d emails, %d sent events after redelivery", n, h.countEvents("InvitationEmailSent"))
	}
}

// TestInternationalAddressesAreOneAddress: an address typed with an
// internationalised domain, in any case or in its ASCII (punycode)
// spelling, is one address; the invitation goes out with the ASCII domain
// that every SMTP server understands.
func TestInternationalAddressesAreOneAddress(t *testing.T) {
	t.Parallel()
	h := newMailHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	r := o.staff("POST", "/users", map[string]any{"first_name": "Jürgen", "last_name": "Groß", "email": "Jürgen@Bücher.DE", "company_id": company, "send_invite": true})
	if r.status != 201 || r.json(t)["email"] != "jürgen@bücher.de" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	accept := strings.TrimPrefix(r.json(t)["accept_url"].(string), "http://portal.test") + "/accept"
	eventually(t, "invitation email received", func() bool { return len(h.mail.To("jürgen@xn--bcher-kva.de")) == 1 })
	h.caughtUp(t) // the mail's outcome event is stored before counting events below
	for _, same := range []string{"jürgen@xn--bcher-kva.de", "JU\u0308RGEN@BÜCHER.de"} {
		h.unchanged(func() {
			o.staff("POST", "/users", map[string]any{"first_name": "J", "last_name": "G", "email": same, "company_id": company}).
				problem(t, 409, "email_taken")
		})
	}
	if r := h.do("POST", accept, "", map[string]any{"password": password}); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if r := h.login(o.slug, "JÜRGEN@xn--bcher-kva.de", password); r.status != 200 {
		t.Fatalf("login with the ASCII spelling: %d %s", r.status, r.body)
	}
}
