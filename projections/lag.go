package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Position is where a consumer group stands against the head of the log.
type Position struct {
	Group    string
	Position int64
	Head     int64
	// Behind counts the stored events the group has not had yet, in commit
	// order (at most maxCounted).
	Behind int64
}

// Lag is how many events the group is behind. It is counted in commit
// order, not as head minus position: positions are handed out before
// commit, so the event a group read last can carry a lower position than
// one it has already read (a long transaction that started earlier and
// committed later), and the difference would never reach zero.
func (p Position) Lag() int64 { return p.Behind }

// maxCounted bounds the count of events behind, so that reading positions
// stays cheap however far behind a group is.
const maxCounted = 1_000_000

// Positions reads every consumer group's offset, the log's head, and how
// many events each group has still to read.
func Positions(ctx context.Context, pool *pgxpool.Pool) ([]Position, error) {
	// The planner expects many rows behind each offset and would JIT-compile
	// the query (a tenth of a second or more, at every readiness probe);
	// when caught up there is nothing to count.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read projection positions: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// Nor a sequential scan: the planner guesses a third of the log lies
	// behind each offset, while the index in commit order finds the few
	// that do at once.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off; SET LOCAL enable_seqscan = off`); err != nil {
		return nil, fmt.Errorf("read projection positions: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT o.consumer_group, coalesce(o.offset_acked, 0), h.head,
			(SELECT count(*) FROM (SELECT 1 FROM events e
				WHERE (e.transaction_id, e.position) > (o.last_processed_transaction_id, coalesce(o.offset_acked, 0))
				ORDER BY e.transaction_id, e.position LIMIT $1) behind)
		FROM watermill_offsets_events o, (SELECT coalesce(max(position), 0) AS head FROM events) h ORDER BY 1`, maxCounted)
	if err != nil {
		return nil, fmt.Errorf("read projection positions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Position, error) {
		var p Position
		err := r.Scan(&p.Group, &p.Position, &p.Head, &p.Behind)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read projection positions: %w", err)
	}
	return out, nil
}

// LagCollector exposes each consumer group's position and lag on /metrics,
// read from the database at scrape time.
type LagCollector struct {
	pool     *pgxpool.Pool
	position *prometheus.Desc
	lag      *prometheus.Desc
	head     *prometheus.Desc
}

// NewLagCollector returns the collector; register it with a registry.
func NewLagCollector(pool *pgxpool.Pool) *LagCollector {
	return &LagCollector{
		pool:     pool,
		position: prometheus.NewDesc("gatehouse_projection_position", "Last event position applied by the consumer group.", []string{"group"}, nil),
		lag:      prometheus.NewDesc("gatehouse_projection_lag_events", "Stored events the consumer group has not read yet (commit order).", []string{"group"}, nil),
		head:     prometheus.NewDesc("gatehouse_events_head_position", "Highest position in the event log.", nil, nil),
	}
}

func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.position
	ch <- c.lag
	ch <- c.head
}

func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ps, err := Positions(context.Background(), c.pool)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lag, err)
		return
	}
	for i, p := range ps {
		if i == 0 {
			ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(p.Head))
		}
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(p.Position), p.Group)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(p.Lag()), p.Group)
	}
}
