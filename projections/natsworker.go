package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// WorkerConfig is a worker fed from NATS JetStream instead of the events
// table.
type WorkerConfig struct {
	Bus eventstore.BusConfig
	// Group names the workers that share the load (their partition leases
	// and bus positions); workers with different groups each see every
	// event.
	Group string
	// LeaseTTL is how long a partition stays with a worker that stopped
	// renewing its lease (died): the time a dead worker's partitions take
	// to move.
	LeaseTTL time.Duration
	// Batch is the most messages applied in one transaction.
	Batch int
	// OnApplied, when set, is called after each event's transaction
	// committed (tests use it to check order and exactly-once).
	OnApplied func(partition int, e eventstore.RecordedEvent)
}

// Worker applies projections (and runs reactions) for events from
// JetStream. A worker works on a partition only while it holds the
// partition's lease (a key in a JetStream key-value bucket whose entries
// expire unless renewed), so each partition is consumed by one worker of
// the group at a time; when a worker dies its leases expire and other
// workers take the partitions over. The owner reads the partition in order
// from the sequence after the last one applied (an ordered consumer started
// at the position stored in PostgreSQL) and applies messages in batches,
// each in one transaction that also stores the partition's new position.
// The position is the only state: a message that comes again (a new owner
// starting where the database says, a lease lost mid-batch) is recognised
// by its sequence and skipped, so read models stay exactly-once.
type Worker struct {
	store       *eventstore.Store
	cfg         WorkerConfig
	id          string
	log         zerolog.Logger
	projections []Projection
	reactions   []namedReaction
	metrics     *workerMetrics

	mu   sync.Mutex
	held int // partitions this worker holds
}

type namedReaction struct {
	name   string
	react  Reaction
	wanted func(eventType string) bool
}

// NewWorker returns a worker for the projections.
func NewWorker(store *eventstore.Store, cfg WorkerConfig, log zerolog.Logger, reg prometheus.Registerer, projections ...Projection) (*Worker, error) {
	if cfg.Group == "" {
		return nil, errors.New("a worker needs a group")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	m, err := newWorkerMetrics(reg)
	if err != nil {
		return nil, err
	}
	id := nuid.Next()
	return &Worker{store: store, cfg: cfg, id: id, log: log.With().Str("component", "worker").Str("group", cfg.Group).Str("worker", id).Logger(),
		projections: projections, metrics: m}, nil
}

// AddReaction runs a reaction (a saga) on every event of the given types
// (none: every type) after the projections. Reactions tolerate
// redelivery, as with the SQL bus.
func (w *Worker) AddReaction(name string, react Reaction, types ...string) {
	w.reactions = append(w.reactions, namedReaction{name, react, reactsTo(types)})
}

// LeaseBucket is the key-value bucket of the partition leases.
func LeaseBucket(bus eventstore.BusConfig) string { return bus.Stream + "_LEASES" }

// Run works on every partition it can get a lease for until ctx ends.
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
	kv, err := leases(js, w.cfg.Bus, w.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.announce(ctx, kv) })
	for p := range w.cfg.Bus.Partitions {
		wg.Go(func() { w.partition(ctx, js, kv, p) })
	}
	wg.Wait()
	return nil
}

// announce keeps this worker's presence key alive, so that every worker
// of the group knows how many share the partitions.
func (w *Worker) announce(ctx context.Context, kv nats.KeyValue) {
	key := w.cfg.Group + ".w." + w.id
	for {
		if _, err := kv.Put(key, []byte(w.id)); err != nil {
			w.log.Warn().Err(err).Msg("announce failed")
		}
		select {
		case <-ctx.Done():
			_ = kv.Delete(key)
			return
		case <-time.After(w.cfg.LeaseTTL / 3):
		}
	}
}

// share is how many partitions each live worker of the group should hold.
func (w *Worker) share(kv nats.KeyValue) int {
	keys, err := kv.Keys()
	if err != nil {
		return w.cfg.Bus.Partitions
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, w.cfg.Group+".w.") {
			n++
		}
	}
	n = max(n, 1)
	return (w.cfg.Bus.Partitions + n - 1) / n
}

// claim counts a partition taken, unless this worker holds its share.
func (w *Worker) claim(share int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held >= share {
		return false
	}
	w.held++
	return true
}

// surplus releases one partition when this worker holds more than its share.
func (w *Worker) surplus(share int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held <= share {
		return false
	}
	w.held--
	return true
}

func (w *Worker) release() {
	w.mu.Lock()
	w.held--
	w.mu.Unlock()
}

func leases(js nats.JetStreamContext, bus eventstore.BusConfig, ttl time.Duration) (nats.KeyValue, error) {
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		var kv nats.KeyValue
		if kv, err = js.KeyValue(LeaseBucket(bus)); err == nil {
			return kv, nil
		}
		if errors.Is(err, nats.ErrBucketNotFound) {
			if kv, err = js.CreateKeyValue(&nats.KeyValueConfig{Bucket: LeaseBucket(bus), TTL: ttl, History: 1, Storage: nats.FileStorage}); err == nil {
				return kv, nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket(bus), err)
}

func (w *Worker) leaseKey(p int) string { return w.cfg.Group + "." + strconv.Itoa(p) }

// partition tries to take partition p's lease; while it holds it, it
// renews it and applies the partition's messages.
func (w *Worker) partition(ctx context.Context, js nats.JetStreamContext, kv nats.KeyValue, p int) {
	label := []string{w.cfg.Group, strconv.Itoa(p)}
	for ctx.Err() == nil {
		if !w.claim(w.share(kv)) {
			sleep(ctx, w.cfg.LeaseTTL/4)
			continue
		}
		rev, err := kv.Create(w.leaseKey(p), []byte(w.id))
		if err != nil {
			w.release()
			sleep(ctx, w.cfg.LeaseTTL/4)
			continue
		}
		w.log.Info().Int("partition", p).Msg("partition taken")
		w.metrics.owned.WithLabelValues(label...).Set(1)
		held, cancel := context.WithCancel(ctx)
		released := false
		renewing := make(chan struct{})
		go func() { // renew at a third of the TTL; a failed renewal ends the work
			defer close(renewing)
			defer cancel()
			t := time.NewTicker(w.cfg.LeaseTTL / 3)
			defer t.Stop()
			for {
				select {
				case <-held.Done():
					return
				case <-t.C:
				}
				if w.surplus(w.share(kv)) { // more workers now: hand one partition over
					released = true
					return
				}
				if rev, err = kv.Update(w.leaseKey(p), []byte(w.id), rev); err != nil {
					w.log.Warn().Err(err).Int("partition", p).Msg("lease lost")
					return
				}
			}
		}()
		if err := w.consume(held, js, p); err != nil && held.Err() == nil {
			w.log.Warn().Err(err).Int("partition", p).Msg("partition consumer stopped; starting again")
			sleep(ctx, 250*time.Millisecond)
		}
		cancel()
		<-renewing // released and rev are the renewer's until it ends
		w.metrics.owned.WithLabelValues(label...).Set(0)
		// Free the lease at once (handing over, shutting down, or starting
		// again after an error); a lease already lost has a newer revision
		// and is left alone.
		_ = kv.Delete(w.leaseKey(p), nats.LastRevision(rev))
		if released {
			w.log.Info().Int("partition", p).Msg("partition handed over")
			sleep(ctx, w.cfg.LeaseTTL) // let another worker take it
		} else {
			w.release()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// consume reads partition p from the message after the last one applied
// and applies it in batches until ctx ends or the consumer fails.
func (w *Worker) consume(ctx context.Context, js nats.JetStreamContext, p int) error {
	last, err := w.position(ctx, p)
	if err != nil {
		return err
	}
	sub, err := js.SubscribeSync(w.cfg.Bus.PartitionSubject(p), nats.OrderedConsumer(), nats.BindStream(w.cfg.Bus.Stream),
		nats.StartSequence(uint64(last)+1))
	if err != nil {
		return fmt.Errorf("read partition %d: %w", p, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	go w.watchPending(ctx, sub, p)
	batch := make([]*nats.Msg, 0, w.cfg.Batch)
	for ctx.Err() == nil {
		wait := time.Second
		if len(batch) > 0 {
			wait = 2 * time.Millisecond // a batch is what arrived together
		}
		m, err := nextMsg(ctx, sub, wait)
		if err == nil {
			batch = append(batch, m)
			if len(batch) < w.cfg.Batch {
				continue
			}
		} else if ctx.Err() != nil {
			return nil
		} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if len(batch) == 0 {
			continue
		}
		if err := w.applyBatch(ctx, p, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Start again from the stored position: nothing of the batch
			// was committed.
			return fmt.Errorf("apply batch: %w", err)
		}
		batch = batch[:0]
	}
	return nil
}

func nextMsg(ctx context.Context, sub *nats.Subscription, d time.Duration) (*nats.Msg, error) {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return sub.NextMsgWithContext(c)
}

func (w *Worker) position(ctx context.Context, p int) (int64, error) {
	var last int64
	err := w.store.Pool().QueryRow(ctx, `SELECT coalesce((SELECT last_sequence FROM bus_positions WHERE consumer_group = $1 AND partition = $2), 0)`,
		w.cfg.Group, p).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("bus position of partition %d: %w", p, err)
	}
	return last, nil
}

// applyBatch applies the messages in one transaction with the partition's
// position, skipping those applied before; then runs the reactions.
func (w *Worker) applyBatch(ctx context.Context, p int, batch []*nats.Msg) error {
	events := make([]eventstore.RecordedEvent, 0, len(batch))
	seqs := make([]int64, 0, len(batch))
	for _, m := range batch {
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message without JetStream metadata: %w", err)
		}
		wm, err := (&wnats.NATSMarshaler{}).Unmarshal(m)
		if err != nil {
			return fmt.Errorf("message %d: %w", meta.Sequence.Stream, err)
		}
		e, err := eventstore.EventFromMessage(wm)
		if err != nil {
			return fmt.Errorf("message %d: %w", meta.Sequence.Stream, err)
		}
		events = append(events, e)
		seqs = append(seqs, int64(meta.Sequence.Stream))
	}
	inner, err := w.store.Pool().Begin(ctx)
	if err != nil {
		return err
	}
	defer inner.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// Pipelined like the SQL bus's deliveries: the read models' writes are
	// queued, and rows they leave for later become one statement per table
	// for the whole batch.
	tx := &eventstore.PipelinedTx{Tx: inner}
	if _, err := tx.Exec(ctx, `INSERT INTO bus_positions (consumer_group, partition) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.cfg.Group, p); err != nil {
		return fmt.Errorf("bus position: %w", err)
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT last_sequence FROM bus_positions WHERE consumer_group = $1 AND partition = $2 FOR UPDATE`, w.cfg.Group, p).Scan(&last); err != nil {
		return fmt.Errorf("bus position: %w", err)
	}
	var fresh []eventstore.RecordedEvent
	top := last
	for i, e := range events {
		if seqs[i] <= top {
			w.metrics.skipped.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Inc()
			continue
		}
		top = seqs[i]
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		return nil
	}
	// Each event is revealed and decoded once for the projections and the
	// reactions. Reactions run before the commit: a worker that dies after
	// them runs them again (sagas tolerate that), never not at all.
	revealed := slices.Clone(fresh)
	if err := w.store.Reveal(ctx, revealed); err != nil {
		return err
	}
	for _, e := range revealed {
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return err
		}
		// No savepoints: a failure rolls the whole batch back, and the
		// batch is read again from the stored position.
		for _, proj := range w.projections {
			if err := proj.Apply(ctx, tx, e, ev); err != nil {
				return fmt.Errorf("projection %s at %d: %w", proj.Name(), e.Position, err)
			}
		}
		for _, r := range w.reactions {
			if !r.wanted(e.Type) {
				continue
			}
			if err := r.react(ctx, e, ev); err != nil {
				return fmt.Errorf("reaction %s at %d: %w", r.name, e.Position, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE bus_positions SET last_sequence = $3, applied = applied + $4, updated_at = now()
		WHERE consumer_group = $1 AND partition = $2`, w.cfg.Group, p, top, len(fresh)); err != nil {
		return fmt.Errorf("bus position: %w", err)
	}
	if err := tx.Flush(ctx); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	// A commit once sent is seen through, even when the worker is being
	// stopped: cancelled halfway, its outcome would be unknown here (the
	// server may have committed), and the batch would count as not applied.
	if err := inner.Commit(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	label := []string{w.cfg.Group, strconv.Itoa(p)}
	w.metrics.applied.WithLabelValues(label...).Add(float64(len(fresh)))
	w.metrics.sequence.WithLabelValues(label...).Set(float64(top))
	if w.cfg.OnApplied != nil {
		for _, e := range fresh {
			w.cfg.OnApplied(p, e)
		}
	}
	return nil
}

// watchPending publishes how far behind the partition is while this
// worker holds it.
func (w *Worker) watchPending(ctx context.Context, sub *nats.Subscription, p int) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if info, err := sub.ConsumerInfo(); err == nil {
			w.metrics.pending.WithLabelValues(w.cfg.Group, strconv.Itoa(p)).Set(float64(info.NumPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// BusLag is how many partitions of the group have not yet applied the
// last message on the bus (0 when the workers have caught up).
func BusLag(ctx context.Context, js nats.JetStreamContext, pool *pgxpool.Pool, bus eventstore.BusConfig, group string) (int, error) {
	behind := 0
	for p := range bus.Partitions {
		m, err := js.GetLastMsg(bus.Stream, bus.PartitionSubject(p))
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		var last int64
		if err := pool.QueryRow(ctx, `SELECT coalesce((SELECT last_sequence FROM bus_positions WHERE consumer_group = $1 AND partition = $2), 0)`,
			group, p).Scan(&last); err != nil {
			return 0, err
		}
		if int64(m.Sequence) > last {
			behind++
		}
	}
	return behind, nil
}

type workerMetrics struct {
	applied, skipped         *prometheus.CounterVec
	sequence, pending, owned *prometheus.GaugeVec
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
			Help: "Messages of the partition on the bus that this worker has not read yet (while it holds the partition)."}, labels),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_worker_partition_owned",
			Help: "1 while this worker holds the partition's lease."}, labels),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.sequence, m.pending, m.owned} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
