package eventstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Appends written while others are being written (group commit and its
// losers) are announced on NotifyChannel after they commit, not inside
// their transaction. PostgreSQL serializes the commits of transactions
// that sent a NOTIFY (PreCommit_Notify takes one lock for the whole
// database and keeps it until the commit, its WAL flush included), so a
// NOTIFY in every append made concurrent appends wait for each other's
// fsync instead of sharing one: measured on this machine, 16 writers of a
// new user's transaction went from 2,742 to 1,347 commits/s with it. A
// lone append (nothing else being written in this process) keeps its
// NOTIFY in its transaction: there is no commit of ours to hold back, and
// an announcement would cost it a transaction and a round trip of its own
// (a twentieth of the server's CPU at one client).
//
// An announcement is a transaction of its own on the subscribers' pool
// (synchronous_commit off: a NOTIFY takes a transaction id, and its commit
// needs no flush), sent by one goroutine: appends that commit while one is
// on its way share the next, which names the event types of them all (see
// typesPayload). A subscriber is therefore woken a round trip
// later than before, and only after the append is visible. Should the
// process die between an append's commit and its announcement, other
// processes' subscribers find the events at their next poll.

// announceTimeout bounds one announcement; a lost one costs a poll interval.
const announceTimeout = 5 * time.Second

type announcer struct {
	send func(ctx context.Context, payload string) error
	// poke holds at most one announcement waiting: every append that
	// commits meanwhile is covered by it.
	poke chan struct{}
	// mu guards types, the event types of the appends the next
	// announcement covers.
	mu    sync.Mutex
	types map[string]struct{}
	stop  chan struct{}
	done  chan struct{}
	// failed counts announcements that could not be sent.
	failed atomic.Int64
	once   sync.Once
}

func newAnnouncer(send func(ctx context.Context, payload string) error) *announcer {
	a := &announcer{send: send, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), types: map[string]struct{}{}}
	go a.run()
	return a
}

// announce asks for an announcement of what has committed so far, types
// being those of the append that asks.
func (a *announcer) announce(types []string) {
	a.mu.Lock()
	for _, t := range types {
		a.types[t] = struct{}{}
	}
	a.mu.Unlock()
	select {
	case a.poke <- struct{}{}:
	default: // one is waiting already, and will cover this append
	}
}

func (a *announcer) run() {
	defer close(a.done)
	for {
		select {
		case <-a.poke:
			a.sendOne()
		case <-a.stop:
			select {
			case <-a.poke: // what committed before closing is announced
				a.sendOne()
			default:
			}
			return
		}
	}
}

func (a *announcer) sendOne() {
	a.mu.Lock()
	types := slices.Sorted(maps.Keys(a.types))
	clear(a.types)
	a.mu.Unlock()
	if len(types) == 0 {
		// Taken by the announcement before, which was sent after these
		// appends committed: nothing is left to announce.
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	if err := a.send(ctx, typesPayload(types)); err != nil {
		a.failed.Add(1)
	}
}

// close sends what is waiting and stops.
func (a *announcer) close() {
	a.once.Do(func() { close(a.stop) })
	<-a.done
}
