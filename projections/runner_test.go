package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// counting counts events in a table with a plain increment, which would
// double-count if a failed attempt's write survived into the redelivery.
type counting struct {
	failures atomic.Int32 // how many more attempts fail after writing
	attempts atomic.Int32
}

func (*counting) Name() string         { return "counting" }
func (*counting) Tables() []string     { return []string{"test_counter"} }
func (*counting) StreamPrefix() string { return "" }

func (c *counting) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, _ domain.Event) error {
	c.attempts.Add(1)
	if _, err := tx.Exec(ctx, `UPDATE test_counter SET n = n + 1`); err != nil {
		return err
	}
	if e.StreamVersion == 2 && c.failures.Add(-1) >= 0 {
		return errors.New("injected failure after writing")
	}
	return nil
}

func appendEvents(t *testing.T, store *eventstore.Store, stream string, n int) {
	t.Helper()
	appendEvents2(t, store, stream, 0, n)
}

func runProjections(t *testing.T, store *eventstore.Store, ps ...projections.Projection) *projections.Runner {
	t.Helper()
	return runWithReactions(t, store, nil, ps...)
}

// runWithReactions runs read models and reactions (by consumer group)
// until the test ends.
func runWithReactions(t *testing.T, store *eventstore.Store, reactions map[string]projections.Reaction, ps ...projections.Projection) *projections.Runner {
	t.Helper()
	return runWithTypedReactions(t, store, reactions, nil, ps...)
}

// runWithTypedReactions is runWithReactions with the event types each
// reaction is registered for (by consumer group; none: every type).
func runWithTypedReactions(t *testing.T, store *eventstore.Store, reactions map[string]projections.Reaction, types map[string][]string, ps ...projections.Projection) *projections.Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wake := eventstore.NewWakeup(store.Pool().Config().ConnString(), zerolog.Nop())
	go wake.Run(ctx)
	runner, err := projections.NewRunner(store, wake, zerolog.Nop(), ps...)
	if err != nil {
		t.Fatal(err)
	}
	for name, react := range reactions {
		if err := runner.AddReaction(name, react, types[name]...); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	<-runner.Running()
	t.Cleanup(func() {
		_ = runner.Close()
		cancel()
		<-done
	})
	return runner
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in time", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counter(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT n FROM test_counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRedeliveryDoesNotDoubleApply(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE test_counter (n int); INSERT INTO test_counter VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	p := &counting{}
	p.failures.Store(1)
	appendEvents(t, store, "s", 3)
	runner := runProjections(t, store, p)
	reg := prometheus.NewRegistry()
	reg.MustRegister(runner.Lag())
	eventually(t, "all three events counted", func() (bool, error) { return counter(t, pool) == 3, nil })
	// The offset moved past every event: nothing more arrives, nothing is counted twice.
	time.Sleep(300 * time.Millisecond)
	if n := counter(t, pool); n != 3 {
		t.Fatalf("counter is %d after redelivery, want 3", n)
	}
	// The failure at the second event rolls back the batch, and the batch
	// is read again: 2 attempts, then 3.
	if a := p.attempts.Load(); a != 5 {
		t.Fatalf("%d attempts, want 5 (the batch read once more)", a)
	}
	var acked int64
	if err := pool.QueryRow(context.Background(), `SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = 'counting'`).Scan(&acked); err != nil {
		t.Fatal(err)
	}
	var last int64
	if err := pool.QueryRow(context.Background(), `SELECT max(position) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if acked != last {
		t.Fatalf("offset %d, last event %d", acked, last)
	}
	// The lag counts each event once, when it is committed: not the two
	// of the attempt that rolled back.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetName() != "gatehouse_read_model_lag_seconds" {
		t.Fatalf("metrics %v, want the read-model lag", families)
	}
	if h := families[0].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 3 || h.GetSampleSum() <= 0 {
		t.Fatalf("lag histogram holds %d events (sum %g s), want the 3 committed", h.GetSampleCount(), h.GetSampleSum())
	}
}

// A projection restarted from an old offset (as after a crash between its
// write and commit can never leave, but a replay can) applies nothing twice:
// the users read model guards every row by stream version.
func TestUsersProjectionIsSafeToReplay(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx := context.Background()
	org := domain.OrgID(uuid.NewString())
	user := domain.UserID(uuid.NewString())
	events := []domain.Event{
		domain.UserCreated{UserID: user, OrgID: org, FirstName: "Ada", LastName: "L", Email: "ada@x.test", PortalAccess: true},
		domain.InvitationSent{InvitationID: domain.InvitationID(uuid.NewString()), TokenHash: "h", ExpiresAt: time.Now().Add(time.Hour).UTC()},
	}
	appendUserEvents(t, store, org, user, events...)
	users := projections.NewUsers(store)
	// The stream, not ReadAll: a write transaction another test holds open
	// on the same server may hold ReadAll back.
	all, err := store.ReadStream(ctx, user.Stream(), 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("read stream: %v (%d events)", err, len(all))
	}
	for round := 0; round < 2; round++ {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if err := users.Apply(ctx, tx, e, ev); err != nil {
				t.Fatal(fmt.Errorf("round %d: %w", round, err))
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	row, found, err := users.Get(ctx, org, user, 0)
	if err != nil || !found {
		t.Fatalf("get: %v %v", found, err)
	}
	if row.Status != domain.StatusInvited || row.Version != 2 || row.InvitationState != domain.InvitationStatePending {
		t.Fatalf("row after replay: %+v", row)
	}
	if _, found, _ := users.Get(ctx, domain.OrgID(uuid.NewString()), user, time.Second); found {
		t.Fatal("another organization sees the user")
	}
}

// tally counts the events it is given in a table of its own.
type tally struct{ name string }

func (t tally) Name() string         { return t.name }
func (t tally) Tables() []string     { return []string{t.name} }
func (t tally) StreamPrefix() string { return "" }
func (t tally) Apply(ctx context.Context, tx pgx.Tx, _ eventstore.RecordedEvent, _ domain.Event) error {
	_, err := tx.Exec(ctx, `UPDATE `+t.name+` SET n = n + 1`)
	return err
}

func offsetOf(t *testing.T, pool *pgxpool.Pool, group string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = $1`, group).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The read models of a process share one subscriber, but each keeps its
// own offset: one that is ahead (as after a rebuild) is not moved back and
// is not handed what it has, and one that is behind is brought forward
// with the rest.
func TestReadModelsShareOneSubscriberAndKeepTheirOffsets(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE behind (n int); INSERT INTO behind VALUES (0); CREATE TABLE ahead (n int); INSERT INTO ahead VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, "s", 4)
	var last int64
	if err := pool.QueryRow(ctx, `SELECT max(position) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	// "ahead" has applied everything up to the last event already.
	if _, err := pool.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'ahead', position, transaction_id FROM events WHERE position = $1`, last); err != nil {
		t.Fatal(err)
	}
	runProjections(t, store, tally{"behind"}, tally{"ahead"})
	eventually(t, "behind catches up", func() (bool, error) { return offsetOf(t, pool, "behind") == last, nil })
	if got := offsetOf(t, pool, "ahead"); got != last {
		t.Fatalf("offset of the read model ahead is %d, want %d", got, last)
	}
	var behind, ahead int
	if err := pool.QueryRow(ctx, `SELECT (SELECT n FROM behind), (SELECT n FROM ahead)`).Scan(&behind, &ahead); err != nil || behind != 4 || ahead != 0 {
		t.Fatalf("behind counted %d, ahead %d (%v), want 4 and 0: the one ahead has these events", behind, ahead, err)
	}
	appendEvents2(t, store, "s", 4, 2)
	// Wait for the last of the two: the two appends commit apart, so both
	// offsets can meet on the first of them before the second arrives.
	if err := pool.QueryRow(ctx, `SELECT max(position) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both move on together", func() (bool, error) {
		return offsetOf(t, pool, "behind") == last && offsetOf(t, pool, "ahead") == last, nil
	})
	if err := pool.QueryRow(ctx, `SELECT (SELECT n FROM behind), (SELECT n FROM ahead)`).Scan(&behind, &ahead); err != nil || behind != 6 || ahead != 2 {
		t.Fatalf("behind counted %d, ahead %d (%v), want 6 and 2", behind, ahead, err)
	}
}

// appendEvents2 appends n more events to a stream at version from.
func appendEvents2(t *testing.T, store *eventstore.Store, stream string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, err := store.Append(context.Background(), eventstore.AppendRequest{Stream: stream, ExpectedVersion: i,
			Events: []eventstore.NewEvent{{ID: uuid.New(), Type: "PortalEnabled", Data: []byte(`{}`)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A subscriber that takes its time (a reaction waiting on a mail server)
// holds its delivery transaction, and with it a transaction id, open. The
// read models must still see events appended meanwhile: subscribers'
// transactions never append events, so they do not hold the log back.
func TestASlowReactionDoesNotHoldReadModelsBack(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE TABLE counted (n int); INSERT INTO counted VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	runWithReactions(t, store, map[string]projections.Reaction{"slow": func(context.Context, eventstore.RecordedEvent, domain.Event) error {
		if once.CompareAndSwap(false, true) {
			close(blocked)
			<-release
		}
		return nil
	}}, tally{"counted"})
	defer close(release)

	appendEvents(t, store, "s", 1)
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the reaction never got the first event")
	}
	var xid any
	if err := pool.QueryRow(ctx, `SELECT backend_xid FROM pg_stat_activity WHERE datname = current_database()
		AND application_name = $1 AND backend_xid IS NOT NULL LIMIT 1`, eventstore.SubscriberApplicationName).Scan(&xid); err != nil {
		t.Fatalf("the slow reaction's delivery transaction holds no transaction id (%v): the test would prove nothing", err)
	}
	appendEvents2(t, store, "s", 1, 5)
	// Other tests' write transactions on the same server hold every reader
	// back for as long as they are open, hence the generous wait; the slow
	// reaction itself waits until the test ends.
	deadline := time.Now().Add(45 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT n FROM counted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read model saw %d of 6 events while the reaction waited", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failingSQL writes a statement that fails once, at the second event: with
// pipelined writes the failure surfaces only when the queue is sent, yet
// the batch must roll back whole and be applied again.
type failingSQL struct{ failed atomic.Bool }

func (*failingSQL) Name() string         { return "failing_sql" }
func (*failingSQL) Tables() []string     { return []string{"test_counter"} }
func (*failingSQL) StreamPrefix() string { return "" }
func (f *failingSQL) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, _ domain.Event) error {
	if _, err := tx.Exec(ctx, `UPDATE test_counter SET n = n + 1`); err != nil {
		return err
	}
	if e.StreamVersion == 2 && f.failed.CompareAndSwap(false, true) {
		_, err := tx.Exec(ctx, `INSERT INTO no_such_table VALUES (1)`)
		return err // nil: the statement is only queued
	}
	return nil
}

func TestAQueuedStatementThatFailsRollsTheBatchBack(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE test_counter (n int); INSERT INTO test_counter VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	p := &failingSQL{}
	appendEvents(t, store, "s", 3)
	runProjections(t, store, p)
	eventually(t, "all three events counted once", func() (bool, error) {
		return offsetOf(t, pool, "failing_sql") > 0 && counter(t, pool) == 3, nil
	})
	if !p.failed.Load() {
		t.Fatal("the failing statement was never sent")
	}
	time.Sleep(300 * time.Millisecond)
	if n := counter(t, pool); n != 3 {
		t.Fatalf("counter is %d, want 3: a write of the failed attempt survived", n)
	}
}

// A reaction registered for some event types gets those only, and its
// position still moves past the others.
func TestAReactionGetsOnlyItsTypes(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	var mu sync.Mutex
	seen := map[string]int{}
	runWithTypedReactions(t, store, map[string]projections.Reaction{"picky": func(_ context.Context, e eventstore.RecordedEvent, ev domain.Event) error {
		if _, ok := ev.(domain.PortalDisabled); !ok {
			return fmt.Errorf("picky got %s", e.Type)
		}
		mu.Lock()
		seen[e.Type]++
		mu.Unlock()
		return nil
	}}, map[string][]string{"picky": {domain.PortalDisabled{}.EventType()}})
	for i := range 22 { // ends with events of another type, which the position must pass too
		typ := "PortalEnabled"
		if i%4 == 3 {
			typ = "PortalDisabled"
		}
		if _, err := store.Append(context.Background(), eventstore.AppendRequest{Stream: "org-x", ExpectedVersion: i,
			Events: []eventstore.NewEvent{{ID: uuid.New(), Type: typ, Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the reaction's position at the head", func() (bool, error) {
		ps, err := projections.Positions(context.Background(), pool)
		if err != nil {
			return false, err
		}
		for _, p := range ps {
			if p.Group == "picky" {
				return p.Lag() == 0 && p.Position > 0, nil
			}
		}
		return false, nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen["PortalDisabled"] != 5 {
		t.Fatalf("the reaction got %v, want the 5 PortalDisabled only", seen)
	}
}

// renamer writes users_view itself after the users read model has, for the
// same event: it must find the row written first, though the users read
// model leaves its writes for the end of the delivery.
type renamer struct{}

func (renamer) Name() string         { return "renamer" }
func (renamer) Tables() []string     { return nil }
func (renamer) StreamPrefix() string { return "user-" }
func (renamer) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	if _, ok := ev.(domain.InvitationSent); !ok {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE users_view SET first_name = 'Renamed' WHERE user_id = $1`, strings.TrimPrefix(e.StreamID, "user-"))
	return err
}

// Given users created and invited in one delivery, when another read model
// writes the users' rows after the users read model, then the rows have
// its write: what a read model leaves for the end of the delivery is
// written before any other statement, in the order the handlers ran.
func TestWritesLeftForLaterKeepTheOrderOfTheHandlers(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx := context.Background()
	org := domain.OrgID(uuid.NewString())
	var users []domain.UserID
	for i := range 5 {
		user := domain.UserID(uuid.NewString())
		users = append(users, user)
		appendUserEvents(t, store, org, user,
			domain.UserCreated{UserID: user, OrgID: org, FirstName: "Ada", LastName: "L", Email: fmt.Sprintf("ada%d@x.test", i), PortalAccess: true},
			domain.InvitationSent{InvitationID: domain.InvitationID(uuid.NewString()), TokenHash: "h", ExpiresAt: time.Now().Add(time.Hour).UTC()})
	}
	runProjections(t, store, projections.NewUsers(store), renamer{})
	eventually(t, "every user invited and renamed", func() (bool, error) {
		var done int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM users_view WHERE version = 2 AND first_name = 'Renamed'`).Scan(&done)
		return done == len(users), err
	})
}

// appendUserEvents appends events to a user's stream, one append each.
func appendUserEvents(t *testing.T, store *eventstore.Store, org domain.OrgID, user domain.UserID, events ...domain.Event) {
	t.Helper()
	for i, ev := range events {
		data, _ := domain.EncodeEvent(ev)
		if _, err := store.Append(context.Background(), eventstore.AppendRequest{Stream: user.Stream(), OrgID: string(org), ExpectedVersion: i,
			Events: []eventstore.NewEvent{{ID: uuid.New(), Type: ev.EventType(), Data: data}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// Given a runner of read models and a reaction, when the context it runs
// in ends (SIGTERM in `gatehouse serve`), then Run returns: its
// subscribers ignore the context on purpose (see eventstore's
// closingSubscriber), so an ended context must close them in order.
func TestRunnerStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := eventstore.NewWakeup(store.Pool().Config().ConnString(), zerolog.Nop())
	go wake.Run(ctx)
	runner, err := projections.NewRunner(store, wake, zerolog.Nop(), projections.NewUsers(store))
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.AddReaction("saga-test", func(context.Context, eventstore.RecordedEvent, domain.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	<-runner.Running()
	cancel()
	assertStopsWithin(t, "runner", done, 5*time.Second)
}

// assertStopsWithin fails the test when done does not deliver Run's nil
// error within d; watermill's routers give up waiting for their handlers
// after 10 s, so d below that tells a stop in order from one that waited
// out the timeout (or never came).
func assertStopsWithin(t *testing.T, what string, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s stopped with %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s still running %s after its context ended", what, d)
	}
}
