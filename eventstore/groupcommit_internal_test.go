package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/migrations/dbtest"
)

// newTestStore is a store on a fresh database, closed when the test ends.
func newTestStore(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.NewPool(t)
	store := New(pool)
	t.Cleanup(store.Close)
	return store, pool
}

// pendingGroup is a group as the committers take it from their queue.
func pendingGroup(t *testing.T, reqs ...AppendRequest) []*pendingAppend {
	t.Helper()
	var group []*pendingAppend
	for _, r := range reqs {
		if err := prepareAppend(&r); err != nil {
			t.Fatal(err)
		}
		group = append(group, &pendingAppend{req: r, done: make(chan appendOutcome, 1)})
	}
	return group
}

func newEvent(typ string) NewEvent {
	return NewEvent{ID: uuid.New(), Type: typ, Data: json.RawMessage(`{}`), Metadata: Metadata{ActorKind: "system"}}
}

// Given a group of appends of which some must fail, when it is committed,
// then each append gets exactly the answer it would have got alone, and
// only the others' events are stored.
//
// Both forms are covered: a group whose statements are all row inserts
// and checks is first sent merged (merged.go), fails as a whole, and is
// sent again per append; one with other statements goes per append at once.
func TestGroupCommitIsolatesEachAppend(t *testing.T) {
	t.Parallel()
	for _, merged := range []bool{true, false} {
		t.Run(fmt.Sprintf("merged=%v", merged), func(t *testing.T) {
			t.Parallel()
			testGroupCommitIsolatesEachAppend(t, merged)
		})
	}
}

func testGroupCommitIsolatesEachAppend(t *testing.T, merged bool) {
	store, pool := newTestStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE test_reserved (k text PRIMARY KEY); INSERT INTO test_reserved VALUES ('taken')`); err != nil {
		t.Fatal(err)
	}
	errTaken := errors.New("taken")
	reserve := func(k string) Statement {
		if merged {
			return InsertRow("test_reserved", "k", k)
		}
		return Statement{SQL: `INSERT INTO test_reserved VALUES ('` + k + `')`}
	}
	taken := reserve("taken")
	taken.OnUniqueViolation = errTaken
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
		"reservation taken":     {Stream: "c", Events: []NewEvent{newEvent("C")}, Statements: []Statement{taken}},
		"retry of stored":       stored,
		"another new stream":    {Stream: "e", Events: []NewEvent{newEvent("E")}, Statements: []Statement{reserve("e")}},
		"loses to one in group": {Stream: "a", Events: []NewEvent{newEvent("A-other")}},
		"decided on a moved stream": {Stream: "g", Events: []NewEvent{newEvent("G")},
			Statements: []Statement{StreamUnchanged("d", 1), StreamUnchanged("b", 0)}},
		"decided on what the group moves": {Stream: "h", Events: []NewEvent{newEvent("H")}, Statements: []Statement{StreamUnchanged("a", 0)}},
		"decided on unchanged streams": {Stream: "f", Events: []NewEvent{newEvent("F")},
			Statements: []Statement{StreamUnchanged("d", 1), StreamUnchanged("none", 0)}},
	}
	order := []string{"new stream", "stream moved on", "reservation taken", "retry of stored", "another new stream", "loses to one in group",
		"decided on a moved stream", "decided on what the group moves", "decided on unchanged streams"}
	var inOrder []AppendRequest
	for _, name := range order {
		inOrder = append(inOrder, reqs[name])
	}
	group := pendingGroup(t, inOrder...)
	if mergeable(group) != merged {
		t.Fatalf("mergeable: %v, want %v", !merged, merged)
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
	var wantFailed int64
	if merged {
		wantFailed = 1
	}
	if ok, failed := store.MergedGroupCommits(); ok != 0 || failed != wantFailed {
		t.Fatalf("merged groups: %d written, %d failed; want 0 and %d", ok, failed, wantFailed)
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

// Given a group of appends whose statements are row inserts and checks,
// when it is committed, then it is written merged, as one group, and every
// append's events, versions, organization, time and rows are stored as
// they would have been alone, with each answer pointing at its own events.
func TestMergedGroupStoresEachAppend(t *testing.T) {
	t.Parallel()
	store, pool := newTestStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE test_rows (name text, n int, ref uuid); CREATE TABLE test_keys (k text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"earlier", "kept"} {
		if _, err := store.Append(ctx, AppendRequest{Stream: stream, Events: []NewEvent{newEvent("E0")}}); err != nil {
			t.Fatal(err)
		}
	}
	org, ref := uuid.NewString(), uuid.New()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	reqs := []AppendRequest{
		{Stream: "m1", OrgID: org, RecordedAt: at, Events: []NewEvent{newEvent("A1"), newEvent("A2")},
			Statements: []Statement{InsertRow("test_rows", "name, n, ref", "first", 1, ref), InsertRow("test_keys", "k", "a"), StreamUnchanged("none", 0)}},
		{Stream: "m2", Events: []NewEvent{newEvent("B1")},
			Statements: []Statement{InsertRow("test_keys", "k", "b"), StreamUnchanged("none", 0), StreamUnchanged("kept", 1)}},
		{Stream: "m1", OrgID: org, ExpectedVersion: 2, Events: []NewEvent{newEvent("A3"), newEvent("A4"), newEvent("A5")}},
		{Stream: "earlier", ExpectedVersion: 1, Events: []NewEvent{newEvent("E1")},
			Statements: []Statement{InsertRow("test_rows", "name, n, ref", "second", 2, nil)}},
	}
	group := pendingGroup(t, reqs...)
	store.commitGroup(ctx, group)
	wantVersions := []int{2, 1, 5, 2}
	for i, p := range group {
		o := <-p.done
		if o.err != nil {
			t.Fatalf("append %d: %v", i, o.err)
		}
		if o.res.Version != wantVersions[i] {
			t.Errorf("append %d: version %d, want %d", i, o.res.Version, wantVersions[i])
		}
		rows, err := pool.Query(ctx, `SELECT event_id, stream_id, stream_version, coalesce(org_id::text, ''), recorded_at FROM events
			WHERE position BETWEEN $1 AND $2 ORDER BY position`, o.res.FirstPosition, o.res.LastPosition)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; rows.Next(); n++ {
			var id uuid.UUID
			var stream, gotOrg string
			var version int
			var recorded time.Time
			if err := rows.Scan(&id, &stream, &version, &gotOrg, &recorded); err != nil {
				t.Fatal(err)
			}
			req := p.req
			if n >= len(req.Events) || id != req.Events[n].ID || stream != req.Stream || version != req.ExpectedVersion+n+1 || gotOrg != req.OrgID {
				t.Fatalf("append %d, event %d: %s %s v%d org %q, want its own", i, n, id, stream, version, gotOrg)
			}
			if !req.RecordedAt.IsZero() && !recorded.Equal(req.RecordedAt) {
				t.Errorf("append %d: recorded at %v, want %v", i, recorded, req.RecordedAt)
			}
		}
		if rows.Err() != nil || n != len(p.req.Events) {
			t.Fatalf("append %d: %d events at its positions (%v), want %d", i, n, rows.Err(), len(p.req.Events))
		}
	}
	if ok, failed := store.MergedGroupCommits(); ok != 1 || failed != 0 {
		t.Fatalf("merged groups: %d written, %d failed; want 1 and 0", ok, failed)
	}
	var got string
	if err := pool.QueryRow(ctx, `SELECT string_agg(name || n || coalesce(ref::text, '-'), ' ' ORDER BY n) || ' ' ||
		(SELECT string_agg(k, ' ' ORDER BY k) FROM test_keys) FROM test_rows`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := "first1" + ref.String() + " second2- a b"; got != want {
		t.Fatalf("rows %q, want %q", got, want)
	}
}

// Given a group in which one append was decided on a stream that a later
// append of the group moves on, when it is committed, then the merged
// form (whose checks run after every event) fails and the group is written
// per append, in its order, where both succeed, as they would one after
// the other.
func TestMergedGroupFailingOnOrderIsWrittenPerAppend(t *testing.T) {
	t.Parallel()
	store, _ := newTestStore(t)
	ctx := context.Background()
	if _, err := store.Append(ctx, AppendRequest{Stream: "kept", Events: []NewEvent{newEvent("K1")}}); err != nil {
		t.Fatal(err)
	}
	reqs := []AppendRequest{
		{Stream: "decided", Events: []NewEvent{newEvent("D")}, Statements: []Statement{StreamUnchanged("kept", 1)}},
		{Stream: "kept", ExpectedVersion: 1, Events: []NewEvent{newEvent("K2")}},
	}
	group := pendingGroup(t, reqs...)
	store.commitGroup(ctx, group)
	for i, p := range group {
		if o := <-p.done; o.err != nil || o.res.Version != p.req.ExpectedVersion+1 {
			t.Errorf("append %d: %+v", i, o)
		}
	}
	if ok, failed := store.MergedGroupCommits(); ok != 0 || failed != 1 {
		t.Fatalf("merged groups: %d written, %d failed; want 0 and 1", ok, failed)
	}
}

// Rows merged for one table go out as inserts of powers of two rows,
// largest first, each with its own rows' values in order: a handful of
// statement texts per table, whatever the group's size.
func TestMergedRowsAreQueuedInPowersOfTwo(t *testing.T) {
	m := &mergedRows{rowInsert: rowInsert{table: "t", columns: "a, b"}, width: 2}
	for i := range 13 {
		m.args = append(m.args, i, -i)
	}
	b := &pgx.Batch{}
	m.queue(b)
	var rows []int
	next := 0
	for _, q := range b.QueuedQueries {
		n := strings.Count(q.SQL, "(") - 1 // the column list's parenthesis
		rows = append(rows, n)
		if len(q.Arguments) != 2*n || !strings.HasPrefix(q.SQL, "INSERT INTO t (a, b) VALUES ($1,$2)") ||
			!strings.HasSuffix(q.SQL, fmt.Sprintf("($%d,$%d)", 2*n-1, 2*n)) {
			t.Fatalf("statement %q with %d values for %d rows", q.SQL, len(q.Arguments), n)
		}
		for j := 0; j < n; j++ {
			if q.Arguments[2*j] != next || q.Arguments[2*j+1] != -next {
				t.Fatalf("row %d of %q holds %v, %v; want row %d", j, q.SQL, q.Arguments[2*j], q.Arguments[2*j+1], next)
			}
			next++
		}
	}
	if fmt.Sprint(rows) != "[8 4 1]" || next != 13 {
		t.Fatalf("13 rows queued as %v (%d in all), want [8 4 1]", rows, next)
	}
}

// Checks are merged only when they are the same check: one of stream "a1"
// at version 2 and one of stream "a" at version 12 are two, and the second
// still refuses its append when "a" has moved past 12.
func TestMergedGroupKeepsDistinctChecksApart(t *testing.T) {
	t.Parallel()
	store, _ := newTestStore(t)
	ctx := context.Background()
	var thirteen []NewEvent
	for range 13 {
		thirteen = append(thirteen, newEvent("A"))
	}
	if _, err := store.Append(ctx, AppendRequest{Stream: "a", Events: thirteen}); err != nil {
		t.Fatal(err)
	}
	group := pendingGroup(t,
		AppendRequest{Stream: "x", Events: []NewEvent{newEvent("X")}, Statements: []Statement{StreamUnchanged("a1", 2)}},
		AppendRequest{Stream: "y", Events: []NewEvent{newEvent("Y")}, Statements: []Statement{StreamUnchanged("a", 12)}})
	store.commitGroup(ctx, group)
	if o := <-group[0].done; o.err != nil {
		t.Errorf("the append decided on a1: %v", o.err)
	}
	if o := <-group[1].done; !errors.Is(o.err, ErrStreamMoved) {
		t.Errorf("the append decided on a at 12: %+v, want ErrStreamMoved", o)
	}
}
