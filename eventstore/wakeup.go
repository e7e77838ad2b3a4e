package eventstore

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// Wakeup listens on NotifyChannel with one dedicated connection and wakes
// the registered subscribers when an append commits: every subscriber, or,
// for one that reads only some event types (a saga, the mail sender), only
// when the append holds one of them (see typesPayload). Woken by every
// append, each reaction ran a delivery transaction per wake-up just to move
// its offset past events it passes over. Subscribers still poll at a
// fallback interval, so a lost notification (or a blocking transaction that
// appended nothing) delays them by that interval at most.
type Wakeup struct {
	connString string
	log        zerolog.Logger

	mu sync.Mutex
	// waiters are the subscribers' wake-up channels, each with the event
	// types that wake it (none: every append).
	waiters map[chan struct{}][]string
	// watchers are told of notifications on other channels, and whether
	// the listener is connected (a watcher that caches must not trust its
	// cache while notifications can be missed).
	watchers map[string][]Watcher
}

// Watcher follows a notification channel through the Wakeup's connection.
type Watcher struct {
	// Notified runs for each notification on the channel, with its payload.
	Notified func(payload string)
	// Listening runs with true once the channel is listened to (every
	// notification from then on arrives), and with false when the
	// connection is lost (notifications may be missed until the next true).
	Listening func(bool)
}

// Watch follows channel with the listener's connection; call it before Run.
// A channel may have several watchers.
func (w *Wakeup) Watch(channel string, watcher Watcher) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watchers == nil {
		w.watchers = map[string][]Watcher{}
	}
	w.watchers[channel] = append(w.watchers[channel], watcher)
}

// watched is a copy of the watchers, to call outside the lock.
func (w *Wakeup) watched() map[string][]Watcher {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.watchers)
}

// watchersOf is channel's watchers, without copying the map: every change
// a decision depends on is a notification (see projections.AccessCache).
// Watch only appends, so the slice read here stays as it was.
func (w *Wakeup) watchersOf(channel string) []Watcher {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watchers[channel]
}

func (w *Wakeup) listening(on bool) {
	for _, ws := range w.watched() {
		for _, wt := range ws {
			wt.Listening(on)
		}
	}
}

// NewWakeup returns a listener for the database at connString. Run starts it.
func NewWakeup(connString string, log zerolog.Logger) *Wakeup {
	return &Wakeup{connString: connString, log: log, waiters: map[chan struct{}][]string{}}
}

// Run listens until ctx ends, reconnecting after failures.
func (w *Wakeup) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn().Err(err).Dur("retry_in", backoff).Msg("event notification listener stopped; reconnecting")
		w.broadcast() // whatever was missed meanwhile is picked up by a poll
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *Wakeup) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, w.connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	for ch := range w.watched() {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	w.listening(true)
	defer w.listening(false)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == NotifyChannel {
			w.wake(n.Payload)
			continue
		}
		for _, wt := range w.watchersOf(n.Channel) {
			wt.Notified(n.Payload)
		}
	}
}

// broadcast wakes every subscriber.
func (w *Wakeup) broadcast() { w.wake("") }

// wake wakes the subscribers that an append of the types in payload
// concerns (see typesPayload): all of them when payload is empty.
func (w *Wakeup) wake(payload string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch, types := range w.waiters {
		if payload != "" && len(types) > 0 && !namesAny(payload, types) {
			continue
		}
		select {
		case ch <- struct{}{}:
		default: // already signalled; one pending wake-up is enough
		}
	}
}

// typesPayload is the payload of a notification on NotifyChannel: the
// event types appended, sorted and without repeats, separated by commas
// (a type's name never holds one). Too many to name make it empty, which
// wakes every subscriber, as does the empty payload of an older process.
func typesPayload(types []string) string {
	p := strings.Join(types, ",")
	if len(p) > maxTypesPayload {
		return ""
	}
	return p
}

// maxTypesPayload keeps a payload well under PostgreSQL's limit (8000 bytes).
const maxTypesPayload = 2000

// eventTypes are the types of events, sorted and without repeats.
func eventTypes(events []NewEvent) []string {
	types := make([]string, 0, len(events))
	for _, e := range events {
		types = append(types, e.Type)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// namesAny reports whether payload names one of types.
func namesAny(payload string, types []string) bool {
	for payload != "" {
		var name string
		name, payload, _ = strings.Cut(payload, ",")
		if slices.Contains(types, name) {
			return true
		}
	}
	return false
}

// register adds a subscriber's wake-up channel, woken by appends of types
// (any append when there are none).
func (w *Wakeup) register(types []string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.waiters[ch] = slices.Clone(types)
	w.mu.Unlock()
	return ch
}

func (w *Wakeup) unregister(ch chan struct{}) {
	w.mu.Lock()
	delete(w.waiters, ch)
	w.mu.Unlock()
}

// BackoffManager returns a watermill-sql BackoffManager for one subscriber:
// after a read that was not a full batch it waits for a notification (or
// fallback, or done), then coalesce, instead of polling at a fixed
// interval; after a full batch it reads again at once. A subscriber that
// reads only some event types names them: other appends do not wake it,
// and its fallback poll moves its offset past them. Release it with the
// returned function when the subscriber is closed.
//
// A read that delivered events but no full batch has read everything
// visible, and whatever commits later notifies, so there is no read just
// to find nothing: one delivery transaction per wake-up, not two.
func (w *Wakeup) BackoffManager(fallback, coalesce, retry time.Duration, full func() bool, done <-chan struct{}, types ...string) (wsql.BackoffManager, func()) {
	ch := w.register(types)
	return &wakeupBackoff{
		wake:     ch,
		fallback: fallback,
		coalesce: coalesce,
		full:     full,
		inner:    wsql.NewDefaultBackoffManager(fallback, retry),
		done:     done,
	}, func() { w.unregister(ch) }
}

type wakeupBackoff struct {
	wake               chan struct{}
	fallback, coalesce time.Duration
	full               func() bool
	inner              wsql.BackoffManager
	done               <-chan struct{}
}

func (b *wakeupBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil || (!noMsg && b.full()) {
		return b.inner.HandleError(logger, noMsg, err)
	}
	t := time.NewTimer(b.fallback)
	defer t.Stop()
	select {
	case <-b.wake:
		// Let the commits arriving together be read as one batch: under
		// load, every consumer would otherwise run a delivery transaction
		// per commit.
		return b.coalesce
	case <-t.C:
	case <-b.done:
	}
	return 0
}
