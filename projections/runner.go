// Package projections owns the read models: one file per read model with
// its SQL, the Watermill handler that keeps it up to date from the event
// log, and its queries. Handlers write through the subscriber's transaction
// (watermill-sql's TxFromContext), so a read model's rows and its consumer
// group's offset commit together.
//
// It depends on domain and eventstore; it must not import commands or http.
package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Projection is one read model fed from the event log.
type Projection interface {
	// Name is the consumer group of the projection.
	Name() string
	// Apply applies one event in tx. It must be safe to run twice for the
	// same event (the version guards in the SQL make it so). Table names
	// are unqualified: a rebuild points them elsewhere with search_path.
	Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error
	// Tables are the tables the read model owns, swapped whole by a rebuild.
	Tables() []string
	// StreamPrefix is the kind of stream the read model reads ("user-"),
	// so a rebuild reads only those; "" for every stream.
	StreamPrefix() string
}

// Runner feeds projections from the event log through one Watermill router.
// All read models of a process share one subscriber: each event is read,
// revealed and decoded once and applied to every read model in the same
// delivery transaction, which also moves each read model's own offset (see
// eventstore.SubscriberConfig.Members). Reactions get a subscriber each.
type Runner struct {
	router *message.Router
	subs   []message.Subscriber
	store  *eventstore.Store
	wake   *eventstore.Wakeup
	wlog   watermill.LoggerAdapter
	log    zerolog.Logger
	lag    prometheus.Histogram
}

// Lag is how long events took from their recording to the commit of the
// read models that applied them; register it to publish it.
func (r *Runner) Lag() prometheus.Collector { return r.lag }

// newLagHistogram measures each event applied to the read models, from its
// recorded_at (the writer's clock, taken before its append committed) to
// the commit of the delivery that applied it: how far behind the log the
// read models answer, without what it costs to ask them.
func newLagHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatehouse_read_model_lag_seconds",
		Help:    "From an event's recording to the commit of the read models that applied it.",
		Buckets: []float64{.001, .002, .003, .005, .0075, .01, .015, .02, .03, .04, .05, .075, .1, .15, .2, .3, .5, 1, 2, 5, 10, 30},
	})
}

// lagKey holds, in a delivery's memo, the recording times of the events it
// applied, observed in the lag histogram once it commits.
type lagKey struct{}

func noteLag(tx pgx.Tx, e eventstore.RecordedEvent, lag prometheus.Histogram) {
	p, ok := tx.(*eventstore.PipelinedTx)
	if !ok {
		return
	}
	memo := p.Memo()
	recorded, ok := memo[lagKey{}].(*[]time.Time)
	if !ok {
		recorded = &[]time.Time{}
		memo[lagKey{}] = recorded
		p.AfterCommit(func() {
			now := time.Now()
			for _, t := range *recorded {
				lag.Observe(now.Sub(t).Seconds())
			}
		})
	}
	*recorded = append(*recorded, e.RecordedAt)
}

// readModelsHandler names the router handler that feeds the read models.
const readModelsHandler = "read-models"

// NewRunner wires the projections. wake, when set, makes them react to new
// events within milliseconds instead of at the fallback poll.
func NewRunner(store *eventstore.Store, wake *eventstore.Wakeup, log zerolog.Logger, projections ...Projection) (*Runner, error) {
	wlog := eventstore.WatermillLogger(log.With().Str("component", "projections").Logger())
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return nil, fmt.Errorf("create projection router: %w", err)
	}
	router.AddMiddleware(abandonDoomedDelivery(log))
	r := &Runner{router: router, store: store, wake: wake, wlog: wlog, log: log, lag: newLagHistogram()}
	if len(projections) == 0 {
		return r, nil
	}
	names := make([]string, len(projections))
	for i, p := range projections {
		names[i] = p.Name()
	}
	sub, err := store.NewSubscriber(eventstore.SubscriberConfig{ConsumerGroup: readModelsHandler, Members: names, Wakeup: wake, Pipelined: true}, wlog)
	if err != nil {
		return nil, err
	}
	r.subs = append(r.subs, sub)
	router.AddConsumerHandler(readModelsHandler, eventstore.Topic, sub, handler(store, projections, log, r.lag))
	return r, nil
}

// Reaction handles events outside any read model (a saga, the mail
// sender). It must tolerate redelivery: an error redelivers the event.
type Reaction func(ctx context.Context, e eventstore.RecordedEvent, ev domain.Event) error

// reactionCoalesce is how long a reaction's subscriber gathers commits
// before reading: nobody waits on a saga or a mail within milliseconds,
// and reading less often leaves the machine to commands and read models.
const reactionCoalesce = 25 * time.Millisecond

// AddReaction runs a reaction under its own consumer group, from the head
// of the log when the group is new (a saga or the mail sender must not act
// on history). Call it before Run.
//
// A reaction names the event types it reacts to (none: every type); the
// others are passed over before they are revealed and decoded, which was
// most of a reaction's work (and, for a new user, a query for their key).
func (r *Runner) AddReaction(name string, react Reaction, types ...string) error {
	if err := r.store.StartAtHead(context.Background(), name); err != nil {
		return err
	}
	sub, err := r.store.NewSubscriber(eventstore.SubscriberConfig{ConsumerGroup: name, Wakeup: r.wake, BatchSize: 100, Coalesce: reactionCoalesce,
		Types: types}, r.wlog)
	if err != nil {
		return err
	}
	r.subs = append(r.subs, sub)
	wanted := reactsTo(types)
	r.router.AddConsumerHandler(name, eventstore.Topic, sub, func(msg *message.Message) error {
		// The type is read alone first: turning every message into an event
		// only to pass most of them over was a tenth of the server's CPU.
		if !wanted(msg.Metadata.Get(eventstore.MetaEventType)) {
			return nil
		}
		e, err := eventstore.EventFromMessage(msg)
		if err != nil {
			return err
		}
		if e, err = reveal(msg.Context(), r.store, e); err != nil {
			return err
		}
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := react(msg.Context(), e, ev); err != nil {
			r.log.Error().Err(err).Str("reaction", name).Int64("position", e.Position).Str("event_type", e.Type).
				Str("correlation_id", e.Metadata.CorrelationID).Msg("reaction failed; event will be redelivered")
			return err
		}
		return nil
	})
	return nil
}

// Router is the underlying Watermill router, for handlers of other topics.
func (r *Runner) Router() *message.Router { return r.router }

// Run runs the projections until ctx ends or Close is called.
func (r *Runner) Run(ctx context.Context) error { return r.router.Run(ctx) }

// Running is closed once every handler runs.
func (r *Runner) Running() chan struct{} { return r.router.Running() }

// Close stops the router, letting in-flight batches finish.
func (r *Runner) Close() error { return r.router.Close() }

// handler applies one delivered event to every read model, in the
// delivery transaction. There is no savepoint per event and read model (two
// more round trips each, for the rare failure): when an Apply fails, the
// transaction is made unable to commit, and abandonDoomedDelivery lets the
// whole batch roll back and be read again, so no write of a failed attempt
// survives into the next one.
func handler(store *eventstore.Store, projections []Projection, log zerolog.Logger, lag prometheus.Histogram) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		tx, err := pgxTx(ctx)
		if err != nil {
			return err
		}
		e, err := revealed(ctx, store, msg)
		if err != nil {
			return err
		}
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("read models at %d: %w", e.Position, err)
		}
		applied, err := memberOffsets(ctx, tx, projections, msg.Metadata.Get(eventstore.MetaMembersAligned) == "true")
		if err != nil {
			return err
		}
		for _, p := range projections {
			if applied[p.Name()].Covers(e) {
				continue // a read model ahead of the others (rebuilt) has this one
			}
			if err := p.Apply(ctx, tx, e, ev); err != nil {
				log.Error().Err(err).Str("projection", p.Name()).Int64("position", e.Position).
					Str("event_type", e.Type).Str("correlation_id", e.Metadata.CorrelationID).Msg("projection failed; its batch will be read again")
				abandon(ctx, tx)
				return fmt.Errorf("projection %s at %d: %w", p.Name(), e.Position, err)
			}
		}
		noteLag(tx, e, lag)
		return nil
	}
}

// abandonDoomedDelivery acks a failed message whose delivery transaction
// can never commit: its connection is closed (PostgreSQL restarted, backend
// terminated) or a statement failed in it. watermill-sql redelivers a
// nacked message on the same transaction, which would then loop forever.
// Acking is safe because nothing can commit: the subscriber's offset
// update fails, the batch rolls back and is read again in a fresh
// transaction; nothing is skipped.
func abandonDoomedDelivery(log zerolog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			tx, txErr := pgxTx(msg.Context())
			if txErr == nil && doomed(tx) {
				return nil, nil // the batch is lost already; do not try the rest of it
			}
			out, err := h(msg)
			if err == nil {
				return out, nil
			}
			if txErr == nil && doomed(tx) {
				log.Warn().Err(err).Str("handler", message.HandlerNameFromCtx(msg.Context())).
					Msg("delivery transaction cannot commit; the batch will be read again")
				return nil, nil
			}
			return out, err
		}
	}
}

type memberOffsetsKey struct{}

// memberOffsets are the read models' own offsets as this delivery
// transaction found them (it holds their rows' locks, so they stay put):
// the subscriber reads from the earliest, and a read model that is ahead
// skips what it has. No read model thus sees an event twice, which lets
// them remember rows across the events of a batch (PipelinedTx.Memo).
// When the delivery found the offsets all equal (aligned), none is ahead,
// and they are not read again.
func memberOffsets(ctx context.Context, tx pgx.Tx, projections []Projection, aligned bool) (map[string]eventstore.Cursor, error) {
	memo := txMemo(tx)
	if memo != nil {
		if m, ok := memo[memberOffsetsKey{}].(map[string]eventstore.Cursor); ok {
			return m, nil
		}
	}
	if aligned {
		return nil, nil // no read model has any of the events: nothing to skip
	}
	names := make([]string, len(projections))
	for i, p := range projections {
		names[i] = p.Name()
	}
	rows, err := tx.Query(ctx, `SELECT consumer_group, last_processed_transaction_id::text::bigint, coalesce(offset_acked, 0)
		FROM watermill_offsets_events WHERE consumer_group = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("read model offsets: %w", err)
	}
	m := map[string]eventstore.Cursor{}
	for rows.Next() {
		var g string
		var xid, pos int64
		if err := rows.Scan(&g, &xid, &pos); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read model offsets: %w", err)
		}
		m[g] = eventstore.Cursor{TransactionID: uint64(xid), Position: pos}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read model offsets: %w", err)
	}
	if memo != nil {
		memo[memberOffsetsKey{}] = m
	}
	return m, nil
}

// txMemo is the delivery transaction's memo, nil outside a pipelined
// transaction (a rebuild), where nothing is remembered.
func txMemo(tx pgx.Tx) map[any]any {
	if p, ok := tx.(*eventstore.PipelinedTx); ok {
		return p.Memo()
	}
	return nil
}

// abandon makes the delivery transaction unable to commit (unless it is
// already): an error raised inside it puts it in the failed state.
func abandon(ctx context.Context, tx pgx.Tx) {
	if !doomed(tx) { // on the connection: a pipelined transaction would only queue it
		_, _ = tx.Conn().Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'delivery abandoned after a failed projection'; END $$`)
	}
}

// doomed reports whether a transaction can no longer commit.
func doomed(tx pgx.Tx) bool {
	conn := tx.Conn()
	return conn.IsClosed() || conn.PgConn().TxStatus() == 'E'
}

// revealed is the delivered event with its personal fields revealed.
func revealed(ctx context.Context, store *eventstore.Store, msg *message.Message) (eventstore.RecordedEvent, error) {
	e, err := eventstore.EventFromMessage(msg)
	if err != nil {
		return e, err
	}
	return reveal(ctx, store, e)
}

// reactsTo tells whether a reaction registered for types wants an event
// of type t; no types means every type.
func reactsTo(types []string) func(t string) bool {
	if len(types) == 0 {
		return func(string) bool { return true }
	}
	set := make(map[string]bool, len(types))
	for _, t := range types {
		set[t] = true
	}
	return func(t string) bool { return set[t] }
}

func reveal(ctx context.Context, store *eventstore.Store, e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
	one := []eventstore.RecordedEvent{e}
	if err := store.Reveal(ctx, one); err != nil {
		return e, err
	}
	return one[0], nil
}

var errNoTx = errors.New("message carries no watermill-sql transaction")

func pgxTx(ctx context.Context) (pgx.Tx, error) {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, errNoTx
	}
	if p, ok := eventstore.DeliveryTx(tx); ok {
		return p, nil
	}
	switch t := tx.(type) {
	case *wsql.PgxTx:
		return t.Tx, nil
	case wsql.PgxTx:
		return t.Tx, nil
	}
	return nil, fmt.Errorf("delivery transaction is %T, not pgx", tx)
}
