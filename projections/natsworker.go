package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// WorkerConfig is a worker fed from NATS JetStream instead of the events
// table.
type WorkerConfig struct {
	Bus eventstore.BusConfig
	// Group names the workers that share the load (and their JetStream
	// consumers and bus positions); workers with different groups each
	// see every event.
	Group string
	// AckWait is how long a message may stay unacknowledged before
	// JetStream gives it to another worker: the time a dead worker's
	// partitions take to move.
	AckWait time.Duration
	// OnApplied, when set, is called after each message's transaction
	// committed (tests use it to check order and exactly-once).
	OnApplied func(partition int, e eventstore.RecordedEvent)
}

// Worker applies projections (and runs reactions) for events from
// JetStream. Each partition has one durable pull consumer per group with at
// most one message in flight, so whichever worker of the group holds a
// partition's message is the only one working on that partition, in order;
// when a worker dies its message is redelivered to another after AckWait,
// and the partition carries on there. The last applied stream sequence of
// each partition is stored in the transaction that applies the message, so
// a redelivered message is skipped: read models stay exactly-once.
type Worker struct {
	store       *eventstore.Store
	cfg         WorkerConfig
	log         zerolog.Logger
	projections []Projection
	reactions   []namedReaction
	metrics     *workerMetrics
}

type namedReaction struct {
	name  string
	react Reaction
}

// NewWorker returns a worker for the projections.
func NewWorker(store *eventstore.Store, cfg WorkerConfig, log zerolog.Logger, reg prometheus.Registerer, projections ...Projection) (*Worker, error) {
	if cfg.Group == "" {
		return nil, errors.New("a worker needs a group")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	m, err := newWorkerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Worker{store: store, cfg: cfg, log: log.With().Str("component", "worker").Str("group", cfg.Group).Logger(),
		projections: projections, metrics: m}, nil
}

// AddReaction runs a reaction (a saga) on every event after the
// projections. Reactions tolerate redelivery, as with the SQL bus.
func (w *Worker) AddReaction(name string, react Reaction) {
	w.reactions = append(w.reactions, namedReaction{name, react})
}

// Run consumes every partition until ctx ends. A message being applied
// when ctx ends is not acknowledged unless its transaction committed first
// (then a redelivery is skipped).
func (w *Worker) Run(ctx context.Context) error {
	conn, err := eventstore.ConnectBus(w.cfg.Bus, "gatehouse-worker-"+w.cfg.Group, w.log)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer conn.Close()
	js, err := conn.JetStream()
	if err != nil {
		return err
	}
	if err := eventstore.EnsureBusStream(js, w.cfg.Bus); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, w.cfg.Bus.Partitions)
	for p := range w.cfg.Bus.Partitions {
		sub, err := w.subscribe(js, p)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := w.consume(ctx, sub, p); err != nil {
				errs <- err
			}
		})
	}
	go w.watchPending(ctx, js)
	wg.Wait()
	close(errs)
	return <-errs
}

func (w *Worker) consumerName(p int) string { return w.cfg.Group + "-p" + strconv.Itoa(p) }

func (w *Worker) subscribe(js nats.JetStreamContext, p int) (*nats.Subscription, error) {
	name := w.consumerName(p)
	cc := &nats.ConsumerConfig{Durable: name, FilterSubject: w.cfg.Bus.PartitionSubject(p), AckPolicy: nats.AckExplicitPolicy,
		MaxAckPending: 1, AckWait: w.cfg.AckWait, DeliverPolicy: nats.DeliverAllPolicy, MaxDeliver: -1}
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		if _, err = js.ConsumerInfo(w.cfg.Bus.Stream, name); errors.Is(err, nats.ErrConsumerNotFound) {
			_, err = js.AddConsumer(w.cfg.Bus.Stream, cc)
		}
		if err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	sub, err := js.PullSubscribe(w.cfg.Bus.PartitionSubject(p), name, nats.Bind(w.cfg.Bus.Stream, name))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	return sub, nil
}

func (w *Worker) consume(ctx context.Context, sub *nats.Subscription, p int) error {
	for ctx.Err() == nil {
		msgs, err := sub.Fetch(1, nats.MaxWait(time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn().Err(err).Int("partition", p).Msg("fetch failed; retrying")
			time.Sleep(250 * time.Millisecond)
			continue
		}
		for _, m := range msgs {
			w.handle(ctx, m, p)
		}
	}
	return nil
}

// handle applies one message and acknowledges it; on failure it asks for
// a redelivery after a pause.
func (w *Worker) handle(ctx context.Context, m *nats.Msg, p int) {
	meta, err := m.Metadata()
	if err != nil {
		w.log.Error().Err(err).Int("partition", p).Msg("message without JetStream metadata; dropped")
		_ = m.Term()
		return
	}
	seq := int64(meta.Sequence.Stream)
	wm, err := (&wnats.NATSMarshaler{}).Unmarshal(m)
	if err != nil {
		w.log.Error().Err(err).Int64("sequence", seq).Msg("undecodable message; dropped")
		_ = m.Term()
		return
	}
	e, err := eventstore.EventFromMessage(wm)
	if err != nil {
		w.log.Error().Err(err).Int64("sequence", seq).Msg("undecodable event; dropped")
		_ = m.Term()
		return
	}
	applied, err := w.apply(ctx, p, seq, e)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: JetStream redelivers it to whoever is next
		}
		w.log.Error().Err(err).Int("partition", p).Int64("sequence", seq).Str("event_type", e.Type).
			Str("correlation_id", e.Metadata.CorrelationID).Msg("applying failed; will be redelivered")
		_ = m.NakWithDelay(time.Second)
		return
	}
	if applied && w.cfg.OnApplied != nil {
		w.cfg.OnApplied(p, e)
	}
	for _, r := range w.reactions {
		if err := w.react(ctx, r, e); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Error().Err(err).Str("reaction", r.name).Int64("position", e.Position).Msg("reaction failed; will be redelivered")
			_ = m.NakWithDelay(time.Second)
			return
		}
	}
	if ctx.Err() != nil {
		return // a crash right here: committed, not acknowledged; the redelivery is skipped
	}
	if err := m.AckSync(); err != nil {
		w.log.Warn().Err(err).Int64("sequence", seq).Msg("ack failed; the message will come again and be skipped")
		return
	}
	w.metrics.applied.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Inc()
	w.metrics.sequence.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Set(float64(seq))
}

// apply runs the projections for the message in one transaction with the
// partition's position; it reports false for a message applied before.
func (w *Worker) apply(ctx context.Context, p int, seq int64, e eventstore.RecordedEvent) (bool, error) {
	tx, err := w.store.Pool().Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := tx.Exec(ctx, `INSERT INTO bus_positions (consumer_group, partition) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.cfg.Group, p); err != nil {
		return false, fmt.Errorf("bus position: %w", err)
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT last_sequence FROM bus_positions WHERE consumer_group = $1 AND partition = $2 FOR UPDATE`, w.cfg.Group, p).Scan(&last); err != nil {
		return false, fmt.Errorf("bus position: %w", err)
	}
	if seq <= last {
		w.metrics.skipped.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Inc()
		return false, nil
	}
	if len(w.projections) > 0 {
		one := []eventstore.RecordedEvent{e}
		if err := w.store.Reveal(ctx, one); err != nil {
			return false, err
		}
		ev, err := domain.DecodeEvent(one[0].Type, one[0].SchemaVersion, one[0].Data)
		if err != nil {
			return false, err
		}
		for _, proj := range w.projections {
			if err := applyInSavepoint(ctx, tx, proj, one[0], ev); err != nil {
				return false, err
			}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE bus_positions SET last_sequence = $3, applied = applied + 1, updated_at = now()
		WHERE consumer_group = $1 AND partition = $2`, w.cfg.Group, p, seq); err != nil {
		return false, fmt.Errorf("bus position: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

func applyInSavepoint(ctx context.Context, tx pgx.Tx, p Projection, e eventstore.RecordedEvent, ev domain.Event) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := p.Apply(ctx, sp, e, ev); err != nil {
		_ = sp.Rollback(ctx)
		return fmt.Errorf("projection %s at %d: %w", p.Name(), e.Position, err)
	}
	return sp.Commit(ctx)
}

func (w *Worker) react(ctx context.Context, r namedReaction, e eventstore.RecordedEvent) error {
	one := []eventstore.RecordedEvent{e}
	if err := w.store.Reveal(ctx, one); err != nil {
		return err
	}
	ev, err := domain.DecodeEvent(one[0].Type, one[0].SchemaVersion, one[0].Data)
	if err != nil {
		return err
	}
	return r.react(ctx, one[0], ev)
}

// watchPending publishes how far behind each partition is, from
// JetStream's consumer state.
func (w *Worker) watchPending(ctx context.Context, js nats.JetStreamContext) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		for p := range w.cfg.Bus.Partitions {
			info, err := js.ConsumerInfo(w.cfg.Bus.Stream, w.consumerName(p))
			if err != nil {
				continue
			}
			w.metrics.pending.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Set(float64(info.NumPending) + float64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// BusLag is the number of messages of the group not yet acknowledged in
// every partition (0 when the workers have caught up with the bus).
func BusLag(js nats.JetStreamContext, bus eventstore.BusConfig, group string) (int, error) {
	total := 0
	for p := range bus.Partitions {
		info, err := js.ConsumerInfo(bus.Stream, group+"-p"+strconv.Itoa(p))
		if errors.Is(err, nats.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += int(info.NumPending) + info.NumAckPending
	}
	return total, nil
}

type workerMetrics struct {
	applied, skipped  *prometheus.CounterVec
	sequence, pending *prometheus.GaugeVec
}

func newWorkerMetrics(reg prometheus.Registerer) (*workerMetrics, error) {
	labels := []string{"group", "partition"}
	m := &workerMetrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_worker_messages_applied_total",
			Help: "Messages this worker applied and acknowledged, by partition: which partitions it is working on."}, labels),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_worker_messages_skipped_total",
			Help: "Redelivered messages recognised as applied before and skipped."}, labels),
		sequence: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_worker_partition_sequence",
			Help: "Stream sequence of the last message this worker applied, by partition."}, labels),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_worker_partition_lag_messages",
			Help: "Messages of the partition not yet acknowledged by the group (from JetStream)."}, labels),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.sequence, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
