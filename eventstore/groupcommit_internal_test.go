package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"gatehouse/migrations/dbtest"
)

func newEvent(typ string) NewEvent {
	return NewEvent{ID: uuid.New(), Type: typ, Data: json.RawMessage(`{}`), Metadata: Metadata{ActorKind: "system"}}
}

// Given a group of appends of which some must fail, when it is committed,
// then each append gets exactly the answer it would have got alone, and
// only the others' events are stored.
func TestGroupCommitIsolatesEachAppend(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := New(pool)
	t.Cleanup(store.Close)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE test_reserved (k text PRIMARY KEY); INSERT INTO test_reserved VALUES ('taken')`); err != nil {
		t.Fatal(err)
	}
	errTaken := errors.New("taken")
	stored := AppendRequest{Stream: "d", Events: []NewEvent{newEvent("D")}}
	if _, err := store.Append(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, AppendRequest{Stream: "b", Events: []NewEvent{newEvent("B0")}}); err != nil {
		t.Fatal(err)
	}
	reqs := map[string]AppendRequest{
		"new stream":            {Stream: "a", Events: []NewEvent{newEvent("A1"), newEvent("A2")}},
		"stream moved on":       {Stream: "b", Events: []NewEvent{newEvent("B1")}},
		"reservation taken":     {Stream: "c", Events: []NewEvent{newEvent("C")}, Statements: []Statement{{SQL: `INSERT INTO test_reserved VALUES ('taken')`, OnUniqueViolation: errTaken}}},
		"retry of stored":       stored,
		"another new stream":    {Stream: "e", Events: []NewEvent{newEvent("E")}, Statements: []Statement{{SQL: `INSERT INTO test_reserved VALUES ('e')`}}},
		"loses to one in group": {Stream: "a", Events: []NewEvent{newEvent("A-other")}},
		"decided on a moved stream": {Stream: "g", Events: []NewEvent{newEvent("G")},
			Statements: []Statement{StreamUnchanged("d", 1), StreamUnchanged("b", 0)}},
		"decided on what the group moves": {Stream: "h", Events: []NewEvent{newEvent("H")}, Statements: []Statement{StreamUnchanged("a", 0)}},
		"decided on unchanged streams": {Stream: "f", Events: []NewEvent{newEvent("F")},
			Statements: []Statement{StreamUnchanged("d", 1), StreamUnchanged("none", 0)}},
	}
	order := []string{"new stream", "stream moved on", "reservation taken", "retry of stored", "another new stream", "loses to one in group",
		"decided on a moved stream", "decided on what the group moves", "decided on unchanged streams"}
	var group []*pendingAppend
	for _, name := range order {
		r := reqs[name]
		if err := prepareAppend(&r); err != nil {
			t.Fatal(err)
		}
		group = append(group, &pendingAppend{req: r, done: make(chan appendOutcome, 1)})
	}
	groupsBefore, _ := store.GroupCommits()
	store.commitGroup(ctx, group)
	out := map[string]appendOutcome{}
	for i, name := range order {
		out[name] = <-group[i].done
	}
	if o := out["new stream"]; o.err != nil || o.res.Version != 2 || o.res.LastPosition != o.res.FirstPosition+1 {
		t.Errorf("new stream: %+v %v", o, o.err)
	}
	if o := out["another new stream"]; o.err != nil || o.res.Version != 1 {
		t.Errorf("another new stream: %+v", o)
	}
	if o := out["stream moved on"]; !errors.Is(o.err, ErrConcurrencyConflict) {
		t.Errorf("stream moved on: %+v, want a concurrency conflict", o)
	}
	if o := out["loses to one in group"]; !errors.Is(o.err, ErrConcurrencyConflict) {
		t.Errorf("loses to one in group: %+v, want a concurrency conflict", o)
	}
	if o := out["reservation taken"]; !errors.Is(o.err, errTaken) {
		t.Errorf("reservation taken: %+v, want its own error", o)
	}
	if o := out["retry of stored"]; o.err != nil || !o.res.Duplicate {
		t.Errorf("retry of stored: %+v, want a duplicate", o)
	}
	for _, name := range []string{"decided on a moved stream", "decided on what the group moves"} {
		if o := out[name]; !errors.Is(o.err, ErrStreamMoved) {
			t.Errorf("%s: %+v, want ErrStreamMoved", name, o)
		}
	}
	if o := out["decided on unchanged streams"]; o.err != nil || o.res.Version != 1 {
		t.Errorf("decided on unchanged streams: %+v", o)
	}
	// What is stored: the two earlier appends, A1, A2, E and F, each once.
	rows, err := pool.Query(ctx, `SELECT stream_id, event_type FROM events ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s, typ string
		if err := rows.Scan(&s, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, s+":"+typ)
	}
	want := []string{"d:D", "b:B0", "a:A1", "a:A2", "e:E", "f:F"}
	if len(got) != len(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored %v, want %v", got, want)
		}
	}
	var reserved int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM test_reserved`).Scan(&reserved); err != nil || reserved != 2 {
		t.Fatalf("%d reservations (%v), want 2", reserved, err)
	}
	if groups, _ := store.GroupCommits(); groups != groupsBefore+1 {
		t.Fatalf("%d group commits, want the survivors written as one group", groups-groupsBefore)
	}
}

// Many writers at once: appends are grouped, every caller's answer points
// at its own events, and nothing is lost or stored twice.
func TestGroupCommitUnderConcurrency(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := New(pool)
	ctx := context.Background()
	const writers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := uuid.NewString()
			for i := range each {
				ev := newEvent("N")
				res, err := store.Append(ctx, AppendRequest{Stream: stream, ExpectedVersion: i, Events: []NewEvent{ev}})
				if err != nil {
					errs <- err
					return
				}
				var id uuid.UUID
				if err := pool.QueryRow(ctx, `SELECT event_id FROM events WHERE position = $1`, res.FirstPosition).Scan(&id); err != nil || id != ev.ID || res.Version != i+1 {
					errs <- errors.New("an answer points at another event")
					return
				}
			}
			_ = w
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT event_id) FROM events`).Scan(&n); err != nil || n != writers*each {
		t.Fatalf("%d events stored (%v), want %d", n, err, writers*each)
	}
	store.Close()
	groups, appends := store.GroupCommits()
	t.Logf("%d appends, %d of them in %d group commits", writers*each, appends, groups)
	if groups == 0 {
		t.Fatal("16 concurrent writers never shared a commit")
	}
	// After Close, appends are still written (alone).
	if _, err := store.Append(ctx, AppendRequest{Stream: "after-close", Events: []NewEvent{newEvent("Z")}}); err != nil {
		t.Fatal(err)
	}
}
