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
}

// Lag is how many positions the group is behind the head. Positions are
// handed out before commit, so this counts gaps left by rolled-back
// appends too: an upper bound, exact when the log has no gaps.
func (p Position) Lag() int64 { return max(p.Head-p.Position, 0) }

// Positions reads every consumer group's offset and the log's head.
func Positions(ctx context.Context, pool *pgxpool.Pool) ([]Position, error) {
	rows, err := pool.Query(ctx, `SELECT o.consumer_group, coalesce(o.offset_acked, 0), h.head
		FROM watermill_offsets_events o, (SELECT coalesce(max(position), 0) AS head FROM events) h ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read projection positions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Position, error) {
		var p Position
		err := r.Scan(&p.Group, &p.Position, &p.Head)
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
		lag:      prometheus.NewDesc("gatehouse_projection_lag_events", "Positions between the consumer group and the head of the log.", []string{"group"}, nil),
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
