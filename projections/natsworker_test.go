package projections_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// These tests run the relay and workers against NATS with JetStream
// (NATS_URL, default nats://127.0.0.1:4222; scripts/test.sh starts one
// when none answers). Each test has a stream and subjects of its own and
// deletes them at the end.

func natsURL() string {
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// testBus is a bus of its own for one test.
func testBus(t testing.TB, url string) eventstore.BusConfig {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	c := eventstore.DefaultBus(url)
	c.Stream, c.Subject, c.Partitions, c.Duplicates = "GHTEST_"+id, "ghtest"+id+".events", 4, 2*time.Minute
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(c.Stream)
		}
	})
	return c
}

// busSite is a database with the relay running and commands to drive.
type busSite struct {
	t     testing.TB
	pool  *pgxpool.Pool
	store *eventstore.Store
	app   *commands.App
	wake  *eventstore.Wakeup
	bus   eventstore.BusConfig
	orgs  []busOrg
}

type busOrg struct {
	id      domain.OrgID
	company string
}

func newBusSite(t testing.TB, bus eventstore.BusConfig, orgs int) *busSite {
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wake := eventstore.NewWakeup(pool.Config().ConnString(), zerolog.Nop())
	go wake.Run(ctx)
	s := &busSite{t: t, pool: pool, store: store, app: commands.New(commands.Deps{Store: store}), wake: wake, bus: bus}
	for i := range orgs {
		res, err := s.app.CreateOrganization(ctx, commands.Meta{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "test"}, Trigger: domain.TriggerBootstrap},
			commands.CreateOrganization{Name: fmt.Sprintf("Org %d", i), AdminEmail: fmt.Sprintf("admin%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		meta := s.meta(res.OrgID)
		if _, err := s.app.EnablePortal(ctx, meta); err != nil {
			t.Fatal(err)
		}
		c, err := s.app.CreateCompany(ctx, meta, commands.CreateCompany{Name: "Globex"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.ActivateCompanyPortal(ctx, meta, c.ID, nil); err != nil {
			t.Fatal(err)
		}
		s.orgs = append(s.orgs, busOrg{id: res.OrgID, company: string(c.ID)})
	}
	return s
}

func (s *busSite) meta(org domain.OrgID) commands.Meta {
	return commands.Meta{Org: org, Actor: domain.Actor{Kind: domain.ActorStaff, ID: "test", Role: domain.StaffAdmin}, Trigger: domain.TriggerManual}
}

// startRelay runs a relay until the returned stop is called.
func (s *busSite) startRelay() (stop func()) {
	relay, err := eventstore.NewRelay(s.store, s.wake, s.bus, zerolog.Nop())
	if err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- relay.Run(context.Background()) }()
	<-relay.Running()
	var once sync.Once
	stop = func() { once.Do(func() { _ = relay.Close(); <-done }) }
	s.t.Cleanup(stop)
	return stop
}

// Given a relay, when the context it runs in ends (SIGTERM in `gatehouse
// relay`), then Run returns: its subscriber ignores the context on
// purpose, so an ended context must close it in order.
func TestRelayStopsWhenItsContextEnds(t *testing.T) {
	url := natsURL()
	s := newBusSite(t, testBus(t, url), 1)
	relay, err := eventstore.NewRelay(s.store, s.wake, s.bus, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	<-relay.Running()
	cancel()
	assertStopsWithin(t, "relay", done, 5*time.Second)
}

// appliedLog records what workers applied, to check order and
// exactly-once.
type appliedLog struct {
	mu       sync.Mutex
	byWorker map[string]int
	times    map[string]int   // event id → times applied
	versions map[string][]int // stream → versions in the order applied
}

func newAppliedLog() *appliedLog {
	return &appliedLog{byWorker: map[string]int{}, times: map[string]int{}, versions: map[string][]int{}}
}

func (l *appliedLog) hook(worker string) func(int, eventstore.RecordedEvent) {
	return func(_ int, e eventstore.RecordedEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.byWorker[worker]++
		l.times[e.ID.String()]++
		l.versions[e.StreamID] = append(l.versions[e.StreamID], e.StreamVersion)
	}
}

// startWorker runs a worker with every read model until stop is called.
func (s *busSite) startWorker(name string, log *appliedLog) (stop func()) {
	return s.startWorkerHook(name, log.hook(name))
}

func (s *busSite) startWorkerHook(name string, hook func(int, eventstore.RecordedEvent)) (stop func()) {
	w, err := projections.NewWorker(s.store, projections.WorkerConfig{Bus: s.bus, Group: "read-models", LeaseTTL: 2 * time.Second,
		OnApplied: hook}, zerolog.Nop(), nil, projections.All(s.store)...)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				s.t.Errorf("worker %s: %v", name, err)
			}
		})
	}
	s.t.Cleanup(stop)
	return stop
}

// drive runs n commands spread over the organizations from 8 clients:
// create a user, then edit or deactivate some.
func (s *busSite) drive(n int, tag string) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				o := s.orgs[i%len(s.orgs)]
				ctx := context.Background()
				u, err := s.app.CreateUser(ctx, s.meta(o.id), commands.CreateUser{FirstName: "Ada", LastName: "Lovelace",
					Email: fmt.Sprintf("%s-%d@example.com", tag, i), CompanyID: o.company, PortalAccess: true, SendInvite: i%2 == 0})
				if err != nil {
					s.t.Errorf("create user: %v", err)
					return
				}
				switch i % 5 {
				case 1:
					name := "Grace"
					_, err = s.app.UpdateUser(ctx, s.meta(o.id), u.ID, commands.UpdateUser{FirstName: &name}, nil)
				case 3:
					_, err = s.app.DeactivateUser(ctx, s.meta(o.id), u.ID, "left", nil)
				}
				if err != nil {
					s.t.Errorf("change user: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// caughtUp waits until the relay has published everything and the
// workers have acknowledged everything.
func (s *busSite) caughtUp(url string, within time.Duration) {
	s.t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		// The head is the last event in commit order, where offsets end: a
		// transaction can take a lower position than one that got its
		// transaction id first, so the highest position may come first.
		// Every command has returned, so every event has committed: not
		// HeadCursor, which stops below any transaction open meanwhile (a
		// worker's), and then found the relay "at the head" while it still
		// had events to publish.
		var head int64
		if err := s.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1), 0)`).Scan(&head); err != nil {
			s.t.Fatal(err)
		}
		var relayed int64
		if err := s.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = $1), 0)`,
			eventstore.RelayGroup).Scan(&relayed); err != nil {
			s.t.Fatal(err)
		}
		lag, err := projections.BusLag(context.Background(), js, s.pool, s.bus, "read-models")
		if err == nil && head == relayed && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not caught up after %s: relay at %d of %d, %d partitions behind (%v)", within, relayed, head, lag, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// equalsRebuild checks that every read model equals a from-scratch rebuild.
func (s *busSite) equalsRebuild() {
	s.t.Helper()
	ctx := context.Background()
	for _, p := range projections.All(s.store) {
		snapshot := func() string {
			var all []string
			for _, table := range p.Tables() {
				var rows string
				// sealed_at says when a chain head was sealed: now(), not a fact of the log.
				if err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '') FROM (SELECT (to_jsonb(t) - 'sealed_at')::text r FROM %s t) x`, table)).Scan(&rows); err != nil {
					s.t.Fatalf("snapshot %s: %v", table, err)
				}
				all = append(all, table+":\n"+rows)
			}
			return strings.Join(all, "\n")
		}
		live := snapshot()
		if _, err := projections.Rebuild(ctx, s.store, p, nil); err != nil {
			s.t.Fatalf("rebuild %s: %v", p.Name(), err)
		}
		if rebuilt := snapshot(); rebuilt != live {
			s.t.Errorf("read model %s fed from the bus differs from a rebuild (%d vs %d bytes)", p.Name(), len(live), len(rebuilt))
		}
	}
}

// exactlyOnceInOrder checks that every event was applied once and each
// stream's events in version order.
func (s *busSite) exactlyOnceInOrder(log *appliedLog) {
	s.t.Helper()
	var events int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events); err != nil {
		s.t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.times) != events {
		s.t.Errorf("%d events stored, %d applied", events, len(log.times))
	}
	for id, n := range log.times {
		if n != 1 {
			s.t.Errorf("event %s applied %d times", id, n)
		}
	}
	for stream, vs := range log.versions {
		for i, v := range vs {
			if v != i+1 {
				s.t.Fatalf("stream %s applied in the order %v", stream, vs)
			}
		}
	}
}

func TestTwoWorkersShareTheBus(t *testing.T) {
	t.Parallel()
	url := natsURL()
	s := newBusSite(t, testBus(t, url), 20)
	s.startRelay()
	log := newAppliedLog()
	s.startWorker("a", log)
	s.startWorker("b", log)
	s.drive(1000, "two")
	s.caughtUp(url, time.Minute)
	s.exactlyOnceInOrder(log)
	s.equalsRebuild()
	if log.byWorker["a"] == 0 || log.byWorker["b"] == 0 {
		t.Fatalf("the load was not shared: %v", log.byWorker)
	}
	t.Logf("applied per worker: %v", log.byWorker)
}

func TestAKilledWorkersPartitionsMove(t *testing.T) {
	t.Parallel()
	url := natsURL()
	s := newBusSite(t, testBus(t, url), 20)
	s.startRelay()
	log := newAppliedLog()
	killA := s.startWorker("a", log)
	s.startWorker("b", log)
	done := make(chan struct{})
	go func() { defer close(done); s.drive(600, "kill") }()
	// Kill worker a mid-stream: its partitions move to b once its leases
	// expire, and b starts them where the database says.
	for {
		log.mu.Lock()
		n := log.byWorker["a"]
		log.mu.Unlock()
		if n > 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	killA()
	<-done
	s.caughtUp(url, time.Minute)
	s.exactlyOnceInOrder(log)
	s.equalsRebuild()
	t.Logf("applied per worker: %v", log.byWorker)
}

func TestNATSRestartIsSurvived(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("nats-server not found: scripts/nats.sh installs it")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return cmd
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("nats-server did not start")
		return nil
	}
	server := start()
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	s := newBusSite(t, testBus(t, url), 5)
	s.startRelay()
	log := newAppliedLog()
	s.startWorker("a", log)
	s.drive(200, "before")
	s.caughtUp(url, time.Minute)

	// Restart NATS while commands go on; relay and worker reconnect.
	done := make(chan struct{})
	go func() { defer close(done); s.drive(300, "during") }()
	time.Sleep(100 * time.Millisecond)
	_ = server.Process.Kill()
	_ = server.Wait()
	time.Sleep(500 * time.Millisecond)
	server = start()
	<-done
	s.drive(100, "after")
	s.caughtUp(url, 2*time.Minute)
	s.exactlyOnceInOrder(log)
	s.equalsRebuild()
}
