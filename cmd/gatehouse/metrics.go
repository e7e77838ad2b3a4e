package main

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"gatehouse/eventstore"
	"gatehouse/projections"
)

// newRegistry gathers the process's metrics: Go runtime, process, the
// database pool, group commit, and projection positions (commands and HTTP
// register their own).
func newRegistry(pool *pgxpool.Pool, store *eventstore.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(projections.NewLagCollector(pool))
	stat := func(name, help string, f func(s *pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_db_pool_" + name, Help: help},
			func() float64 { return f(pool.Stat()) })
	}
	reg.MustRegister(
		stat("total_conns", "Connections in the pool.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		stat("idle_conns", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		stat("acquired_conns", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		stat("max_conns", "Pool size.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		stat("acquire_count", "Connections acquired since start.", func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
		stat("empty_acquire_count", "Acquires that had to wait for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		stat("acquire_seconds_total", "Time spent acquiring connections.", func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
	)
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_group_commits_total", Help: "Transactions that wrote several appends at once."},
			func() float64 { g, _ := store.GroupCommits(); return float64(g) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_group_committed_appends_total", Help: "Appends written in a shared transaction."},
			func() float64 { _, a := store.GroupCommits(); return float64(a) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_group_commits_merged_total",
			Help: "Group commits written merged: one insert per table for all their appends."},
			func() float64 { m, _ := store.MergedGroupCommits(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_group_commits_merged_failed_total",
			Help: "Group commits that failed merged (a conflict, a taken reservation, a retry) and were written again per append."},
			func() float64 { _, f := store.MergedGroupCommits(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_append_announcements_failed_total",
			Help: "NOTIFYs after appends' commits that could not be sent; subscribers found those events at their next poll."},
			func() float64 { return float64(store.AnnouncementsFailed()) }),
	)
	return reg
}
