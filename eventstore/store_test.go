package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

func newStore(t *testing.T) (*eventstore.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool, url := dbtest.NewPool(t)
	store := eventstore.New(pool)
	t.Cleanup(store.Close)
	return store, pool, url
}

func event(typ string, n int) eventstore.NewEvent {
	return eventstore.NewEvent{
		ID:       uuid.New(),
		Type:     typ,
		Data:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		Metadata: eventstore.Metadata{ActorKind: "system", Trigger: "test"},
	}
}

func countEvents(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAppendAndReadStream(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	res, err := store.Append(ctx, eventstore.AppendRequest{Stream: "user-1", OrgID: org, ExpectedVersion: 0,
		Events: []eventstore.NewEvent{event("A", 1), event("B", 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.LastPosition <= res.FirstPosition || res.Duplicate {
		t.Fatalf("unexpected result %+v", res)
	}
	events, err := store.ReadStream(ctx, "user-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "A" || events[1].Type != "B" || events[1].StreamVersion != 2 || events[0].OrgID != org {
		t.Fatalf("unexpected stream %+v", events)
	}
	if events[0].Metadata.Trigger != "test" || string(events[1].Data) != `{"n": 2}` {
		t.Fatalf("metadata or data not kept: %+v / %s", events[0].Metadata, events[1].Data)
	}
	tail, err := store.ReadStream(ctx, "user-1", 1)
	if err != nil || len(tail) != 1 || tail[0].Type != "B" {
		t.Fatalf("read after version 1: %v %+v", err, tail)
	}
}

func TestReadStreamsInTheOrderAsked(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	for stream, types := range map[string][]string{"company-1": {"C1", "C2"}, "org-1": {"O1", "O2", "O3"}, "company-2": {"X"}} {
		var events []eventstore.NewEvent
		for i, typ := range types {
			events = append(events, event(typ, i))
		}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, OrgID: org, Events: events}); err != nil {
			t.Fatal(err)
		}
	}
	read, err := store.ReadStreams(ctx, eventstore.StreamTail{Stream: "org-1"}, eventstore.StreamTail{Stream: "none"},
		eventstore.StreamTail{Stream: "company-1"}, eventstore.StreamTail{Stream: "org-1", AfterVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, events := range read {
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
		}
		got = append(got, strings.Join(types, ","))
	}
	if strings.Join(got, "|") != "O1,O2,O3||C1,C2|O3" {
		t.Fatalf("read %q, want the organization's three, nothing, the company's two, the organization's third", got)
	}
}

// Every version of the stream is won by exactly one writer; the others see
// the conflict error, and nothing is lost or stored twice.
func TestConcurrentAppendsToOneStream(t *testing.T) {
	t.Parallel()
	store, pool, _ := newStore(t)
	ctx := context.Background()
	const writers, rounds = 8, 10
	for version := 0; version < rounds; version++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: version,
					Events: []eventstore.NewEvent{event("E", w)}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrConcurrencyConflict):
					conflicts++
				default:
					t.Errorf("writer %d at version %d: unexpected error %v", w, version, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != writers-1 {
			t.Fatalf("version %d: %d wins, %d conflicts; want 1 and %d", version, wins, conflicts, writers-1)
		}
	}
	events, err := store.ReadStream(ctx, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != rounds || countEvents(t, pool) != rounds {
		t.Fatalf("stored %d events, want %d", len(events), rounds)
	}
	for i, e := range events {
		if e.StreamVersion != i+1 {
			t.Fatalf("event %d has version %d", i, e.StreamVersion)
		}
	}
}

func TestAppendRefusesWrongExpectedVersion(t *testing.T) {
	t.Parallel()
	store, pool, _ := newStore(t)
	ctx := context.Background()
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", Events: []eventstore.NewEvent{event("A", 1)}}); err != nil {
		t.Fatal(err)
	}
	for _, expected := range []int{0, 2, 7} {
		_, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: expected, Events: []eventstore.NewEvent{event("B", 1)}})
		if !errors.Is(err, eventstore.ErrConcurrencyConflict) {
			t.Fatalf("expected version %d on a stream at 1: got %v, want a conflict", expected, err)
		}
	}
	if n := countEvents(t, pool); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

func TestRetriedAppendStoresNothingNew(t *testing.T) {
	t.Parallel()
	store, pool, _ := newStore(t)
	ctx := context.Background()
	req := eventstore.AppendRequest{Stream: "s", Events: []eventstore.NewEvent{event("A", 1), event("B", 2)}}
	first, err := store.Append(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Another writer moves the stream on; the retry still resolves to the first result.
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: 2, Events: []eventstore.NewEvent{event("C", 3)}}); err != nil {
		t.Fatal(err)
	}
	again, err := store.Append(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !again.Duplicate || again.FirstPosition != first.FirstPosition || again.LastPosition != first.LastPosition || again.Version != 2 {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	if n := countEvents(t, pool); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
	// Reusing one stored id with a new one is not a retry.
	mixed := eventstore.AppendRequest{Stream: "s", ExpectedVersion: 3, Events: []eventstore.NewEvent{req.Events[0], event("D", 4)}}
	if _, err := store.Append(ctx, mixed); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("partly stored ids: got %v, want ErrDuplicateEventID", err)
	}
}

var errTaken = errors.New("taken")

func TestFailedAppendLeavesNoEventAndNoMessage(t *testing.T) {
	t.Parallel()
	store, pool, _ := newStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO email_reservations (org_id, email, user_id) VALUES ($1, 'a@example.com', $1)`, uuid.New()); err != nil {
		t.Fatal(err)
	}
	var org uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT org_id FROM email_reservations`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	// A statement of the append fails: the events of the same batch are rolled back.
	_, err := store.Append(ctx, eventstore.AppendRequest{Stream: "u", Events: []eventstore.NewEvent{event("Created", 1)},
		Statements: []eventstore.Statement{{
			SQL:               `INSERT INTO email_reservations (org_id, email, user_id) VALUES ($1, 'a@example.com', $1)`,
			Args:              []any{org},
			OnUniqueViolation: errTaken,
		}}})
	if !errors.Is(err, errTaken) {
		t.Fatalf("got %v, want errTaken", err)
	}
	// A conflicting append stores nothing either.
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "v", Events: []eventstore.NewEvent{event("A", 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "v", Events: []eventstore.NewEvent{event("B", 1)}}); !errors.Is(err, eventstore.ErrConcurrencyConflict) {
		t.Fatalf("got %v, want a conflict", err)
	}
	if n := countEvents(t, pool); n != 1 {
		t.Fatalf("%d events stored, want only the one successful append", n)
	}
	all := readAllEventually(t, store, 1)
	if all[0].Type != "A" {
		t.Fatalf("log holds %+v", all)
	}
	msgs := subscribe(t, store, "failed-append")
	got := receive(t, msgs, 1, 5*time.Second)
	if got[0].Type != "A" {
		t.Fatalf("subscriber got %s", got[0].Type)
	}
	expectNothing(t, msgs, 300*time.Millisecond)
}

// A transaction that took a lower position and is still open holds back
// every later event, for ReadAll and for subscribers, until it ends.
func TestNoSkippedEvents(t *testing.T) {
	for _, outcome := range []string{"commit", "rollback"} {
		t.Run(outcome, func(t *testing.T) {
			t.Parallel()
			store, pool, _ := newStore(t)
			ctx := context.Background()
			msgs := subscribe(t, store, "no-skip")

			txA, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer txA.Rollback(ctx) //nolint:errcheck
			var posA int64
			err = txA.QueryRow(ctx, `INSERT INTO events (event_id, stream_id, stream_version, event_type, data, metadata)
				VALUES ($1, 'a', 1, 'A', '{}', '{}') RETURNING position`, uuid.New()).Scan(&posA)
			if err != nil {
				t.Fatal(err)
			}
			resB, err := store.Append(ctx, eventstore.AppendRequest{Stream: "b", Events: []eventstore.NewEvent{event("B", 1)}})
			if err != nil {
				t.Fatal(err)
			}
			if resB.FirstPosition <= posA {
				t.Fatalf("B at %d, A at %d: B must take the higher position", resB.FirstPosition, posA)
			}
			all, err := store.ReadAll(ctx, eventstore.Cursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 0 {
				t.Fatalf("ReadAll returned %d events while A is open", len(all))
			}
			expectNothing(t, msgs, 500*time.Millisecond)

			want := []string{"B"}
			if outcome == "commit" {
				if err := txA.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				want = []string{"A", "B"}
			} else if err := txA.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			all = readAllEventually(t, store, len(want))
			got := receive(t, msgs, len(want), 10*time.Second)
			for i := range want {
				if all[i].Type != want[i] || got[i].Type != want[i] {
					t.Fatalf("position %d: ReadAll %s, subscriber %s, want %s", i, all[i].Type, got[i].Type, want[i])
				}
			}
			if len(all) != len(want) {
				t.Fatalf("ReadAll returned %d events, want %d", len(all), len(want))
			}
		})
	}
}

func TestReadAllPagesInCommitOrder(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: fmt.Sprintf("s-%d", i%3), ExpectedVersion: i / 3,
			Events: []eventstore.NewEvent{event("E", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var cursor eventstore.Cursor
	var seen []int64
	// A write transaction left open anywhere on the server (another test's)
	// holds readers back, so an empty page means "not yet", until the deadline.
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 25 && time.Now().Before(deadline) {
		page, err := store.ReadAll(ctx, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for _, e := range page {
			seen = append(seen, e.Position)
		}
		// Paging by position alone, as HTTP clients do, gives the same cursor.
		byPos, err := store.CursorAt(ctx, page[len(page)-1].Position)
		if err != nil || byPos != eventstore.After(page[len(page)-1]) {
			t.Fatalf("CursorAt: %v %+v", err, byPos)
		}
		cursor = byPos
	}
	if len(seen) != 25 {
		t.Fatalf("read %d events, want 25", len(seen))
	}
	if extra, err := store.ReadAll(ctx, cursor, 7); err != nil || len(extra) != 0 {
		t.Fatalf("read past the end: %v %d", err, len(extra))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("order broken at %d: %v", i, seen)
		}
	}
}

type delivered struct {
	Type     string
	Position int64
}

func subscribe(t *testing.T, store *eventstore.Store, group string) <-chan delivered {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wake := eventstore.NewWakeup(store.Pool().Config().ConnString(), zerolog.Nop())
	go wake.Run(ctx)
	in := subscribeMessages(t, ctx, store, eventstore.SubscriberConfig{ConsumerGroup: group, Wakeup: wake, FallbackPoll: 100 * time.Millisecond})
	out := make(chan delivered, 100)
	go func() {
		for msg := range in {
			e, err := eventstore.EventFromMessage(msg)
			if err != nil {
				t.Errorf("decode message: %v", err)
			}
			out <- delivered{Type: e.Type, Position: e.Position}
			msg.Ack()
		}
	}()
	t.Cleanup(cancel)
	return out
}

// subscribeMessages subscribes to the events topic with cfg until the test
// ends.
func subscribeMessages(t *testing.T, ctx context.Context, store *eventstore.Store, cfg eventstore.SubscriberConfig) <-chan *message.Message {
	t.Helper()
	sub, err := store.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(ctx, eventstore.Topic)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func receive(t *testing.T, ch <-chan delivered, n int, timeout time.Duration) []delivered {
	t.Helper()
	var got []delivered
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case d := <-ch:
			got = append(got, d)
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	return got
}

func expectNothing(t *testing.T, ch <-chan delivered, wait time.Duration) {
	t.Helper()
	select {
	case d := <-ch:
		t.Fatalf("unexpected delivery of %s at %d", d.Type, d.Position)
	case <-time.After(wait):
	}
}

// readAllEventually reads the whole log once it holds want events: a write
// transaction another test holds open on the same server holds ReadAll back.
func readAllEventually(t *testing.T, store *eventstore.Store, want int) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := store.ReadAll(context.Background(), eventstore.Cursor{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) >= want || time.Now().After(deadline) {
			if len(all) != want {
				t.Fatalf("log holds %d events, want %d", len(all), want)
			}
			return all
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Given a transaction holding an xid in another database of the server,
// when events are appended here, then readers see them at once: a session
// writes only to its own database. A transaction of this database that has
// written nothing yet still holds them back, as it may append later.
func TestAnotherDatabasesTransactionDoesNotHoldTheLogBack(t *testing.T) {
	t.Parallel()
	store, pool, url := newStore(t)
	ctx := t.Context()
	holdXID := func(url string) pgx.Tx {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	headAt := func(want int64, within time.Duration) bool {
		t.Helper()
		for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
			head, err := store.HeadCursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head.Position == want {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
		}
	}
	elsewhere := holdXID(dbtest.NewDatabase(t))
	defer elsewhere.Rollback(context.Background()) //nolint:errcheck
	for i := 1; i <= 2; i++ {
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: fmt.Sprintf("user-%d", i), Events: []eventstore.NewEvent{event("A", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if !headAt(2, 10*time.Second) {
		t.Fatal("the head stays below events appended after another database's transaction began")
	}
	here := holdXID(url)
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "user-3", Events: []eventstore.NewEvent{event("A", 3)}}); err != nil {
		t.Fatal(err)
	}
	if headAt(3, 300*time.Millisecond) {
		t.Fatal("the head passed an event appended while a transaction of this database was open")
	}
	if err := here.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if !headAt(3, 10*time.Second) {
		t.Fatal("the head did not reach the last event once this database's transaction ended")
	}
	if n := countEvents(t, pool); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
}

// Given events appended while a subscriber's transaction (left out of the
// visible horizon) was open, and the head taken then, when that transaction
// stops counting as a subscriber's before the scan (as when it ends between
// a read's snapshot and its look at pg_stat_activity), then a scan settled
// at the head still reads every event up to it; without it, the horizon
// falls below them and a rebuild handing over the head would skip them.
func TestAScanReadsWhatItsSettledHeadCovers(t *testing.T) {
	t.Parallel()
	store, _, url := newStore(t)
	ctx := context.Background()
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "user-1", Events: []eventstore.NewEvent{event("A", 1)}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = eventstore.SubscriberApplicationName
	sub, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	tx, err := sub.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)                                                 //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // holds an xid, as a delivery does
		t.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: fmt.Sprintf("user-%d", i), Events: []eventstore.NewEvent{event("A", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The horizon is server-wide: a transaction of another test can hold
	// it back for a moment, never the subscriber's.
	var head eventstore.Cursor
	for deadline := time.Now().Add(10 * time.Second); head.Position != 3; {
		if head, err = store.HeadCursor(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("head at %d, want the last of 3 events (the subscriber's transaction is left out)", head.Position)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tx.Exec(ctx, `SET application_name = 'no-longer-a-subscriber'`); err != nil {
		t.Fatal(err)
	}
	unsettled, err := store.Scan(ctx, eventstore.Cursor{}, 100, eventstore.ScanFilter{StreamPrefix: "user-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(unsettled) > 1 {
		t.Fatalf("an unsettled scan read %d events, want at most the first: the horizon is the open transaction now", len(unsettled))
	}
	settled, err := store.Scan(ctx, eventstore.Cursor{}, 100, eventstore.ScanFilter{StreamPrefix: "user-", Settled: head})
	if err != nil {
		t.Fatal(err)
	}
	if len(settled) != 3 || !head.Covers(settled[2]) || settled[2].Position != head.Position {
		t.Fatalf("a scan settled at %+v read %d events, want all 3 up to the head", head, len(settled))
	}
}

// A new reaction's consumer group starts at the head: it sees only what is
// appended after it starts; a group with an offset keeps it.
func TestStartAtHead(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "old", ExpectedVersion: i, Events: []eventstore.NewEvent{event("Old", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	readAllEventually(t, store, 3) // the old events are below every open transaction
	if err := store.StartAtHead(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if err := store.StartAtHead(ctx, "late"); err != nil { // again: keeps its offset
		t.Fatal(err)
	}
	msgs := subscribe(t, store, "late")
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "new", Events: []eventstore.NewEvent{event("New", 1)}}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, msgs, 1, 10*time.Second)
	if got[0].Type != "New" {
		t.Fatalf("a late group got %s first", got[0].Type)
	}
	expectNothing(t, msgs, 300*time.Millisecond)
}

// Given a log of mostly other types, when a subscriber for one type reads
// it, then it is handed the events of its type and, as markers that move
// its offset, a few others ending with the last event, not the whole log.
// (A read that sees a lower horizon for a moment, because of a transaction
// elsewhere on the server, can hand out one more marker on the way.)
func TestATypedSubscriberReadsOnlyItsTypes(t *testing.T) {
	t.Parallel()
	store, pool, _ := newStore(t)
	ctx := t.Context()
	for i := range 20 {
		typ := "Other"
		if i%4 == 1 {
			typ = "Wanted"
		}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: i, Events: []eventstore.NewEvent{event(typ, i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// A batch of 2 is full twice (no last event then) before the rest.
	for _, batch := range []int{100, 2} {
		group := fmt.Sprintf("typed-%d", batch)
		msgs := subscribeMessages(t, ctx, store, eventstore.SubscriberConfig{ConsumerGroup: group, Types: []string{"Wanted"}, BatchSize: batch,
			FallbackPoll: 20 * time.Millisecond})
		// Every message is acked before anything can fail: the subscriber
		// waits for it, holding its delivery transaction open, and that
		// transaction would hold back every reader on the server.
		var wanted []string
		others := 0
		timeout := time.After(10 * time.Second)
		for last := ""; last != "Other:20"; {
			select {
			case m := <-msgs:
				m.Ack()
				last = m.Metadata.Get(eventstore.MetaEventType) + ":" + m.Metadata.Get(eventstore.MetaStreamVersion)
				if strings.HasPrefix(last, "Wanted:") {
					wanted = append(wanted, last)
				} else {
					others++
				}
			case <-timeout:
				t.Fatalf("batch %d: got %v and %d others, want the 5 Wanted and the last event", batch, wanted, others)
			}
		}
		select {
		case m := <-msgs:
			m.Ack()
			t.Fatalf("batch %d: got %v and then %s: read again what the offset had passed", batch, wanted, m.Metadata.Get(eventstore.MetaStreamVersion))
		case <-time.After(300 * time.Millisecond):
		}
		if want := "[Wanted:2 Wanted:6 Wanted:10 Wanted:14 Wanted:18]"; fmt.Sprint(wanted) != want {
			t.Fatalf("batch %d: got %v, want %s", batch, wanted, want)
		}
		if others >= 15 {
			t.Fatalf("batch %d: handed %d events of other types: the whole log", batch, others)
		}
		var acked, last int64
		if err := pool.QueryRow(ctx, `SELECT (SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = $1), (SELECT max(position) FROM events)`,
			group).Scan(&acked, &last); err != nil {
			t.Fatal(err)
		}
		if acked != last {
			t.Fatalf("batch %d: offset %d, want the last event's %d", batch, acked, last)
		}
	}
}

// Given a subscriber of one event type woken by notifications, with a
// fallback poll far off, when appends of other types commit, then it is
// not woken: it would read only to pass them over.
func TestATypedSubscriberIsNotWokenByOtherTypes(t *testing.T) {
	t.Parallel()
	store, _, url := newStore(t)
	wake, listener := listeningWakeup(t, url)
	msgs := subscribeMessages(t, t.Context(), store, eventstore.SubscriberConfig{ConsumerGroup: "typed-wake", Types: []string{"TicketCreated"},
		Wakeup: wake, FallbackPoll: time.Minute})
	// The subscriber's first read, of an empty log, is over long before.
	time.Sleep(200 * time.Millisecond)
	appendAndWaitForItsNotification(t, store, listener, "user-1", "UserCreated", "InvitationSent")
	appendAndWaitForItsNotification(t, store, listener, "user-2", "UserCreated")
	select {
	case m := <-msgs:
		m.Ack()
		t.Fatalf("woken by an append of other types: delivered %s", m.Metadata.Get(eventstore.MetaEventType))
	case <-time.After(500 * time.Millisecond):
	}
}

// Given a subscriber's wait for a notification, of one event type, with
// its fallback poll far off, when appends of other types commit, then it
// waits on; when an append of its type commits, it is woken. (Waiting, not
// reading: a transaction another test holds open on the server may keep an
// event from a read, see visibleHorizon.)
func TestAWaitForOneTypeEndsWithAnAppendOfIt(t *testing.T) {
	t.Parallel()
	store, _, url := newStore(t)
	wake, listener := listeningWakeup(t, url)
	done := make(chan struct{})
	defer close(done)
	backoff, release := wake.BackoffManager(time.Minute, 0, time.Second, func() bool { return false }, done, "TicketCreated")
	defer release()
	woken := make(chan struct{})
	go func() {
		backoff.HandleError(watermill.NopLogger{}, true, nil)
		close(woken)
	}()
	appendAndWaitForItsNotification(t, store, listener, "user-1", "UserCreated", "InvitationSent")
	select {
	case <-woken:
		t.Fatal("woken by an append of other types")
	case <-time.After(300 * time.Millisecond):
	}
	appendAndWaitForItsNotification(t, store, listener, "ticket-1", "UserCreated", "TicketCreated")
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by an append of its type within 5 s (the fallback poll is a minute away)")
	}
}

// listeningWakeup is a Wakeup of the database at url, running until the
// test ends, once it listens; and a connection of the test's own that
// listens to what the Wakeup does.
func listeningWakeup(t *testing.T, url string) (*eventstore.Wakeup, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wake := eventstore.NewWakeup(url, zerolog.Nop())
	listening := make(chan struct{})
	var once sync.Once
	wake.Watch("gatehouse_test_listening", eventstore.Watcher{Notified: func(string) {}, Listening: func(on bool) {
		if on {
			once.Do(func() { close(listening) })
		}
	}})
	go wake.Run(ctx)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("the wake-up listener did not connect within 10 s")
	}
	return wake, dbtest.Listen(t, url, eventstore.NotifyChannel)
}

// appendAndWaitForItsNotification appends events of types to a new stream
// and waits until listener has the notification of it.
func appendAndWaitForItsNotification(t *testing.T, store *eventstore.Store, listener *pgx.Conn, stream string, types ...string) {
	t.Helper()
	var events []eventstore.NewEvent
	for i, typ := range types {
		events = append(events, event(typ, i))
	}
	if _, err := store.Append(t.Context(), eventstore.AppendRequest{Stream: stream, Events: events}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := listener.WaitForNotification(ctx); err != nil {
		t.Fatalf("no notification of %v: %v", types, err)
	}
}

// Given a listener on the notification channel, when appends commit (a
// lone one, with its NOTIFY in its transaction; concurrent ones, written
// in groups and announced after their commit; one announced after its
// commit on its own), then a notification follows, naming the appends'
// event types, and when it arrives their events are visible (see
// announcer.go).
func TestEveryAppendIsAnnounced(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		concurrent int
		afterwards bool // announced after the commit even when alone
	}{{"alone", 1, false}, {"concurrent", 16, false}, {"after its commit", 1, true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store, pool, url := newStore(t)
			if c.afterwards {
				store.WithoutGroupCommit()
			}
			ctx := context.Background()
			listener := dbtest.Listen(t, url, eventstore.NotifyChannel)
			var wg sync.WaitGroup
			ids := make([]uuid.UUID, c.concurrent)
			for i := range c.concurrent {
				e := event("Announced", i)
				ids[i] = e.ID
				wg.Go(func() {
					events := []eventstore.NewEvent{e, event("AlsoAnnounced", i), event("Announced", i)}
					if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: uuid.NewString(), Events: events}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			// Announcements may have been shared; every append returned
			// before the last one received was asked for.
			received := 0
			for {
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				n, err := listener.WaitForNotification(wctx)
				cancel()
				if err != nil {
					break
				}
				received++
				if want := "AlsoAnnounced,Announced"; n.Payload != want {
					t.Fatalf("notification names %q, want %q (each type once, sorted)", n.Payload, want)
				}
				var visible int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_id = ANY($1)`, ids).Scan(&visible); err != nil {
					t.Fatal(err)
				}
				if visible != c.concurrent {
					t.Fatalf("notified while %d of %d appends were visible", visible, c.concurrent)
				}
			}
			if received == 0 {
				t.Fatal("no notification within 2 s")
			}
		})
	}
}

// A subscriber feeding several consumer groups tells on each event whether
// their offsets were all equal when it read it: read models then need not
// read them again to know that none has the event. Groups apart (one ahead,
// as after a rebuild) are never said to be aligned.
func TestMembersAlignedOnlyWhenTheirOffsetsAreEqual(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	t.Cleanup(store.Close)
	ctx := context.Background()
	appendOne := func(version int) {
		t.Helper()
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: version,
			Events: []eventstore.NewEvent{{ID: uuid.New(), Type: "PortalEnabled", Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	appendOne(0)
	appendOne(1)
	// "ahead" has the first event already; "behind" has nothing.
	if _, err := pool.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'ahead', position, transaction_id FROM events ORDER BY position LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	sub, err := store.NewSubscriber(eventstore.SubscriberConfig{ConsumerGroup: "read models", Members: []string{"ahead", "behind"},
		FallbackPoll: 20 * time.Millisecond, BatchSize: 1}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { _ = sub.Close(); cancel() })
	in, err := sub.Subscribe(subCtx, eventstore.Topic)
	if err != nil {
		t.Fatal(err)
	}
	next := func() (int, string) {
		t.Helper()
		select {
		case msg := <-in:
			msg.Ack()
			e, err := eventstore.EventFromMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			return e.StreamVersion, msg.Metadata.Get(eventstore.MetaMembersAligned)
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery within 10 s")
		}
		return 0, ""
	}
	// One event a delivery (BatchSize 1): the first is read from "behind",
	// apart from "ahead"; its delivery brings "behind" to "ahead".
	if v, aligned := next(); v != 1 || aligned == "true" {
		t.Fatalf("first delivery: version %d, aligned %q; want version 1, not aligned", v, aligned)
	}
	if v, aligned := next(); v != 2 || aligned != "true" {
		t.Fatalf("second delivery: version %d, aligned %q; want version 2, aligned", v, aligned)
	}
}
