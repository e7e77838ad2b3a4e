package eventstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Group commit: appends that arrive while earlier ones are being written
// wait in a queue, and the next free committer writes everything waiting
// as one transaction, in one round trip, with one fsync. A lone append is
// written exactly as before, so one writer pays nothing for it; under load
// the cost of a commit is shared by every append in the group.
//
// Each append in a group stays isolated: when a statement fails (a stream
// moved on, an email taken, a retried request), PostgreSQL rolls the group
// back and reports the failing statement, which names its append. That
// append (the loser) is then written alone, through the ordinary path that
// turns the failure into its precise answer (conflict, duplicate,
// reservation taken), and the rest are written again as a group. Nobody is
// answered before their transaction has committed.

const (
	// committers is how many groups may be in flight at once: one is being
	// written while the next fills, and a group held up (a lock, a slow
	// fsync) does not stop the other. Fewer committers make larger groups,
	// which PostgreSQL writes for less CPU per append: quick benches, 3 runs
	// each, at 16 clients, gave its commands' backends 0.37-0.43 ms per
	// command with 4 committers, 0.31-0.34 with 2 and 0.26-0.28 with 1, at
	// the same latency (p50 9.5-11.2 ms); 1 would stop every append behind
	// one held-up group.
	committers = 2
	// maxGroup bounds a group, so one slow group cannot hold many callers.
	maxGroup = 64
	// groupTimeout bounds the writing of a group; callers' own contexts
	// do not (one caller giving up must not fail the others).
	groupTimeout = 30 * time.Second
)

type pendingAppend struct {
	req  AppendRequest
	done chan appendOutcome
}

type appendOutcome struct {
	res AppendResult
	err error
}

type groupCommitter struct {
	queue chan *pendingAppend
	stop  chan struct{}
	wg    sync.WaitGroup
	// writing counts transactions being written, by committers or by a
	// lone caller.
	writing atomic.Int32
	// mu orders queueing against closing: once closed is set, nothing
	// more is queued, so whatever was queued is written before Close
	// returns.
	mu     sync.RWMutex
	closed bool
}

// grouped hands the append to the committers and waits for its outcome.
func (s *Store) grouped(ctx context.Context, req AppendRequest) (AppendResult, error) {
	g := s.committer()
	if g == nil { // the store was closed before any append
		return s.appendAlone(ctx, req, notifyInTransaction)
	}
	// Nothing being written and nobody waiting: write it here and now,
	// without handing it to a committer (a lone writer pays nothing), with
	// its NOTIFY in the transaction (see announcer.go).
	if g.writing.Load() == 0 && len(g.queue) == 0 {
		g.writing.Add(1)
		defer g.writing.Add(-1)
		return s.appendAlone(ctx, req, notifyInTransaction)
	}
	p := &pendingAppend{req: req, done: make(chan appendOutcome, 1)}
	g.mu.RLock()
	if g.closed { // closing: no committers any more
		g.mu.RUnlock()
		return s.appendAlone(ctx, req, notifyInTransaction)
	}
	select {
	case g.queue <- p:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return AppendResult{}, fmt.Errorf("append to %s: %w", req.Stream, ctx.Err())
	}
	select {
	case out := <-p.done:
		return out.res, out.err
	case <-ctx.Done():
		// The append may still commit; like a lost answer, the caller's
		// retry (with its Idempotency-Key) tells.
		return AppendResult{}, fmt.Errorf("append to %s: %w", req.Stream, ctx.Err())
	}
}

func (s *Store) committer() *groupCommitter {
	s.groupOnce.Do(func() {
		g := &groupCommitter{queue: make(chan *pendingAppend, 4*maxGroup), stop: make(chan struct{})}
		for range committers {
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				s.commitLoop(g)
			}()
		}
		s.group = g
	})
	return s.group
}

func (s *Store) stopCommitters() {
	s.groupOnce.Do(func() {}) // no committers start after this
	g := s.group
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.mu.Unlock()
	close(g.stop)
	g.wg.Wait()
	// Appends queued after the committers stopped are written alone.
	for {
		select {
		case p := <-g.queue:
			res, err := s.appendAlone(context.Background(), p.req, notifyInTransaction)
			p.done <- appendOutcome{res, err}
		default:
			return
		}
	}
}

func (s *Store) commitLoop(g *groupCommitter) {
	for {
		var first *pendingAppend
		select {
		case first = <-g.queue:
		case <-g.stop:
			return
		}
		group := []*pendingAppend{first}
	fill:
		for len(group) < maxGroup {
			select {
			case p := <-g.queue:
				group = append(group, p)
			default:
				break fill
			}
		}
		g.writing.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		s.commitGroup(ctx, group)
		cancel()
		g.writing.Add(-1)
	}
}

// commitGroup writes the group and answers every append in it. A loser
// is written alone only after the rest of its group has committed: its
// failure may come from another append of the same group (the same stream,
// the same email), which must win, as it would have without the group.
func (s *Store) commitGroup(ctx context.Context, group []*pendingAppend) {
	var losers []*pendingAppend
	defer func() {
		for _, p := range losers {
			res, err := s.appendAlone(ctx, p.req, announceAfterCommit)
			p.done <- appendOutcome{res, err}
		}
	}()
	merge := mergeable(group)
	for len(group) > 0 {
		if len(group) == 1 {
			res, err := s.appendAlone(ctx, group[0].req, announceAfterCommit)
			group[0].done <- appendOutcome{res, err}
			return
		}
		if merge {
			// Tried once: after a failure the per-append form finds the
			// loser, and the rest are written in that form.
			merge = false
			results, err := s.sendMerged(ctx, group)
			if err == nil {
				for i, p := range group {
					p.done <- appendOutcome{res: results[i]}
				}
				s.groupStats.add(len(group))
				s.groupStats.merged.Add(1)
				return
			}
			s.groupStats.mergedFailed.Add(1)
		}
		results, loser, err := s.sendGroup(ctx, group)
		if err == nil {
			for i, p := range group {
				p.done <- appendOutcome{res: results[i]}
			}
			s.groupStats.add(len(group))
			return
		}
		if loser < 0 {
			// Not one append's fault (connection lost, commit refused):
			// each is written alone and gets its own answer.
			losers = append(group, losers...)
			return
		}
		losers = append(losers, group[loser])
		group = append(group[:loser:loser], group[loser+1:]...)
	}
}

// sendGroup writes every append of the group in one implicit transaction.
// On failure it names the append whose statement failed (-1 when the
// failure is not one append's).
func (s *Store) sendGroup(ctx context.Context, group []*pendingAppend) (_ []AppendResult, loser int, err error) {
	b := &pgx.Batch{}
	for _, p := range group {
		queueAppend(b, p.req)
	}
	br := s.pool.SendBatch(ctx, b)
	results := make([]AppendResult, len(group))
	loser = -1
	for i, p := range group {
		rows, err := br.Query()
		var positions []int64
		if err == nil {
			positions, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err == nil && len(positions) != len(p.req.Events) {
			err = fmt.Errorf("append to %s: %d of %d events inserted", p.req.Stream, len(positions), len(p.req.Events))
		}
		for j := 0; err == nil && j < len(p.req.Statements); j++ {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return nil, i, fmt.Errorf("group commit: append %d: %w", i, err)
		}
		results[i] = AppendResult{
			FirstPosition: positions[0],
			LastPosition:  positions[len(positions)-1],
			Version:       p.req.ExpectedVersion + len(p.req.Events),
		}
	}
	if err := br.Close(); err != nil {
		return nil, -1, fmt.Errorf("group commit: commit: %w", err)
	}
	s.announce(groupTypes(group))
	return results, -1, nil
}

// groupTypes are the event types a group appended, for its announcement.
func groupTypes(group []*pendingAppend) []string {
	var events []NewEvent
	for _, p := range group {
		events = append(events, p.req.Events...)
	}
	return eventTypes(events)
}

// groupStats counts what group commit did, for metrics.
type groupStats struct {
	groups, appends atomic.Int64
	// merged counts groups written merged; mergedFailed those that failed
	// merged and were sent again per append.
	merged, mergedFailed atomic.Int64
}

func (g *groupStats) add(n int) {
	g.groups.Add(1)
	g.appends.Add(int64(n))
}

// GroupCommits reports how many transactions wrote more than one append,
// and how many appends they wrote.
func (s *Store) GroupCommits() (groups, appends int64) {
	return s.groupStats.groups.Load(), s.groupStats.appends.Load()
}

// MergedGroupCommits reports how many groups were written merged
// (multi-row statements, see merged.go), and how many failed merged and
// were written again per append.
func (s *Store) MergedGroupCommits() (merged, failed int64) {
	return s.groupStats.merged.Load(), s.groupStats.mergedFailed.Load()
}
