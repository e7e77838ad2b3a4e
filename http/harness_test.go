package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	gatehttp "gatehouse/http"
	"gatehouse/migrations"
	"gatehouse/migrations/dbtest"
	"gatehouse/notify"
	"gatehouse/notify/smtptest"
	"gatehouse/projections"
	"gatehouse/sagas"
)

// clock is a test clock that tests move forward.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is the real service on a fresh database: router, command
// handlers, projections, over real HTTP.
type harness struct {
	t     testing.TB
	url   string
	pool  *pgxpool.Pool
	app   *commands.App
	clock *clock
	mail  *smtptest.Mailbox
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	pool, _ := dbtest.NewPool(t)
	return newHarnessOn(t, pool)
}

// newMailHarness is the service with mail on, sending to a real SMTP
// server in this process.
func newMailHarness(t testing.TB) *harness {
	t.Helper()
	pool, _ := dbtest.NewPool(t)
	box := smtptest.New(t)
	return newHarnessWith(t, pool, harnessOptions{contract: true, mail: box})
}

type harnessOptions struct {
	contract bool
	mail     *smtptest.Mailbox
	// portalRate is the per-address limit of the portal endpoints; tests
	// other than the rate-limit test make many calls from one address.
	portalRate int
}

// newHarnessOn runs the service on an existing database. Benchmarks pass
// contract=false: checking every answer against the OpenAPI document costs
// more CPU than the answer.
func newHarnessOn(t testing.TB, pool *pgxpool.Pool, contract ...bool) *harness {
	t.Helper()
	return newHarnessWith(t, pool, harnessOptions{contract: len(contract) == 0 || contract[0]})
}

func newHarnessWith(t testing.TB, pool *pgxpool.Pool, opts harnessOptions) *harness {
	t.Helper()
	store := eventstore.New(pool)
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	ctx, cancel := context.WithCancel(context.Background())
	wake := eventstore.NewWakeup(pool.Config().ConnString(), zerolog.Nop())
	users := projections.NewUsers(store)
	reg := prometheus.NewRegistry()
	// Every test that asks GET /access asks the cache, and so checks that
	// it forgets what changes.
	access := projections.NewAccessCache(users, reg)
	access.Watch(wake)
	go wake.Run(ctx)
	runner, err := projections.NewRunner(store, wake, testLog(t), users, projections.NewCompanies(), projections.NewRoles(), projections.NewOrgs(), projections.NewChain(), projections.NewAccess())
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(projections.NewLagCollector(pool))
	sealer, err := commands.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	app := commands.New(commands.Deps{Store: store, Clock: clk.Now, Metrics: reg, Sealer: sealer})
	for _, r := range []interface {
		Name() string
		React(context.Context, eventstore.RecordedEvent, domain.Event) error
		Types() []string
	}{sagas.NewAutoInvite(app, testLog(t), reg), sagas.NewSuperUser(app, testLog(t), reg)} {
		if err := runner.AddReaction(r.Name(), r.React, r.Types()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := sagas.AddHelpdeskInbox(runner.Router(), pool, app, zerolog.Nop(), eventstore.WatermillLogger(zerolog.Nop())); err != nil {
		t.Fatal(err)
	}
	if opts.mail != nil {
		transport, err := notify.NewSMTP("smtp://"+opts.mail.Addr, "Gatehouse <noreply@portal.test>")
		if err != nil {
			t.Fatal(err)
		}
		sender := notify.NewSender(app, transport, notify.Config{PublicURL: "http://portal.test", Attempts: 3, Backoff: 50 * time.Millisecond}, zerolog.Nop(), reg)
		if err := runner.AddReaction(sender.Name(), sender.React, sender.Types()...); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	<-runner.Running()
	srv, err := gatehttp.NewServer(gatehttp.Deps{App: app, Users: users, Access: access, Log: zerolog.Nop(), Clock: clk.Now, Metrics: reg,
		Ready: func(ctx context.Context) error { return migrations.CheckCurrent(ctx, pool) }},
		// Read-your-writes waits longer than in production (2 s): every
		// package's tests share one PostgreSQL server, whose oldest open
		// write transaction (a NATS worker's batch, a rebuild) holds every
		// read model back while it lasts.
		gatehttp.Config{PublicURL: "http://portal.test", ExposeInviteLinks: true, MailEnabled: opts.mail != nil, PortalRatePerMinute: portalRate(opts),
			ReadYourWrites: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	handler := srv.Handler()
	if opts.contract {
		handler = newContract(t).wrap(handler)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ts.Close()
		_ = runner.Close()
		cancel()
		<-done
		store.Close()
	})
	return &harness{t: t, url: ts.URL, pool: pool, app: app, clock: clk, mail: opts.mail}
}

// org is an organization with its admin token.
type org struct {
	h     *harness
	id    string
	slug  string
	token string
}

func (h *harness) newOrg(name string) *org {
	h.t.Helper()
	res, err := h.app.CreateOrganization(context.Background(), commands.Meta{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "test"}, Trigger: domain.TriggerBootstrap},
		commands.CreateOrganization{Name: name, AdminEmail: "admin@" + name + ".test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return &org{h: h, id: string(res.OrgID), slug: res.Slug, token: res.AdminToken}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

// problem checks an RFC 9457 answer and returns it.
func (r response) problem(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	p := r.json(t)
	if p["code"] != code || p["status"] != float64(status) || p["type"] == "" || p["title"] == "" {
		t.Fatalf("problem %v, want code %s", p, code)
	}
	return p
}

func (r response) fields(t *testing.T) []string {
	t.Helper()
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	_ = json.Unmarshal(r.body, &p)
	var names []string
	for _, e := range p.Errors {
		names = append(names, e.Field)
	}
	return names
}

func (h *harness) do(method, path, token string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// noRedirects shows the tests a redirect as it is.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// staff calls the organization's staff API with its admin token.
func (o *org) staff(method, path string, body any, headers ...string) response {
	return o.h.do(method, "/v1/orgs/"+o.id+path, o.token, body, headers...)
}

// eventCount is the number of stored events, to prove refusals change nothing.
func (h *harness) eventCount() int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// unchanged runs f and fails if it stored any event.
func (h *harness) unchanged(f func()) {
	h.t.Helper()
	before := h.eventCount()
	f()
	if after := h.eventCount(); after != before {
		h.t.Fatalf("a refused request stored %d event(s)", after-before)
	}
}

// setup gives an organization with an enabled portal and an active company.
func (o *org) setup() (companyID string) {
	t := o.h.t
	t.Helper()
	if r := o.staff("POST", "/portal/enable", nil); r.status != 200 {
		t.Fatalf("enable portal: %d %s", r.status, r.body)
	}
	r := o.staff("POST", "/companies", map[string]any{"name": "Globex"})
	if r.status != 201 {
		t.Fatalf("create company: %d %s", r.status, r.body)
	}
	companyID = r.json(t)["id"].(string)
	if r := o.staff("POST", "/companies/"+companyID+"/portal/activate", nil); r.status != 200 {
		t.Fatalf("activate company portal: %d %s", r.status, r.body)
	}
	return companyID
}

func (o *org) createUser(companyID, email string) string {
	t := o.h.t
	t.Helper()
	r := o.staff("POST", "/users", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": email, "company_id": companyID, "portal_access": true})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

// invite returns the accept URL's path (under the test server).
func (o *org) invite(userID string) string {
	t := o.h.t
	t.Helper()
	r := o.staff("POST", "/users/"+userID+"/invitations", nil)
	if r.status != 201 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	u := r.json(t)["accept_url"].(string)
	return u[len("http://portal.test"):]
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// doForm posts a browser form.
func (h *harness) doForm(path, body string) response {
	h.t.Helper()
	resp, err := http.Post(h.url+path, "application/x-www-form-urlencoded", bytes.NewBufferString(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// testLog writes warnings and errors into the test's log, so a failing
// test shows what went wrong inside handlers.
func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func portalRate(opts harnessOptions) int {
	if opts.portalRate != 0 {
		return opts.portalRate
	}
	return -1 // off
}
