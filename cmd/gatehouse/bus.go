package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations"
	"gatehouse/projections"
	"gatehouse/sagas"
)

// busFlags choose how events reach read models and sagas.
type busFlags struct {
	kind       string
	url        string
	stream     string
	subject    string
	partitions int
}

func (b *busFlags) register(fl *pflag.FlagSet, withKind bool) {
	if withKind {
		fl.StringVar(&b.kind, "bus", envOr("GATEHOUSE_BUS", "sql"), "sql: read models and sagas in this process, fed from the events table; nats: relay events to NATS JetStream for workers (env GATEHOUSE_BUS)")
	} else {
		b.kind = "nats"
	}
	fl.StringVar(&b.url, "nats-url", envOr("GATEHOUSE_NATS_URL", "nats://127.0.0.1:4222"), "NATS server with JetStream (env GATEHOUSE_NATS_URL)")
	fl.StringVar(&b.stream, "nats-stream", envOr("GATEHOUSE_NATS_STREAM", "GATEHOUSE"), "JetStream stream of the events (env GATEHOUSE_NATS_STREAM)")
	fl.StringVar(&b.subject, "nats-subject", envOr("GATEHOUSE_NATS_SUBJECT", "gatehouse.events"), "subject prefix; partition n is <prefix>.<n> (env GATEHOUSE_NATS_SUBJECT)")
	fl.IntVar(&b.partitions, "partitions", 16, "partitions of the stream (organizations are spread over them; fixed once events are on the bus)")
}

func (b *busFlags) validate() error {
	switch {
	case b.kind != "sql" && b.kind != "nats":
		return usageError{fmt.Errorf("--bus (or GATEHOUSE_BUS) %q: want sql or nats", b.kind)}
	case b.partitions < 1 || b.partitions > 1024:
		return usageError{fmt.Errorf("--partitions %d: want 1 to 1024", b.partitions)}
	case b.stream == "" || strings.ContainsAny(b.stream, ". *>"):
		return usageError{fmt.Errorf("--nats-stream %q: want a name without spaces, dots, * or >", b.stream)}
	case b.subject == "" || strings.ContainsAny(b.subject, " *>"):
		return usageError{fmt.Errorf("--nats-subject %q: want a subject prefix without spaces, * or >", b.subject)}
	}
	return nil
}

func (b *busFlags) config() eventstore.BusConfig {
	c := eventstore.DefaultBus(b.url)
	c.Stream, c.Subject, c.Partitions = b.stream, b.subject, b.partitions
	return c
}

// relayCommand runs the relay alone (serve --bus nats runs one too).
func relayCommand(g *globalFlags) *cobra.Command {
	var b busFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Move committed events from PostgreSQL to NATS JetStream",
		Long: "Publishes every committed event, in commit order, to <nats-subject>.<partition> on the JetStream\n" +
			"stream, partitioned by organization, with the event id as JetStream message id so that a relay\n" +
			"restart never puts an event on the bus twice.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := b.validate(); err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, closeStore, err := openMigratedStore(ctx, g)
			if err != nil {
				return err
			}
			defer closeStore()
			wake := eventstore.NewWakeup(g.databaseURL, log.With().Str("component", "wakeup").Logger())
			go wake.Run(ctx)
			relay, err := eventstore.NewRelay(store, wake, b.config(), log)
			if err != nil {
				return err
			}
			log.Info().Str("nats", b.url).Str("stream", b.stream).Msg("relaying")
			return relay.Run(ctx)
		},
	}
	b.register(cmd.Flags(), false)
	return cmd
}

// workerCommand runs read models and sagas fed from JetStream.
func workerCommand(g *globalFlags) *cobra.Command {
	var b busFlags
	var group, projNames, sagaNames, metricsAddr string
	var leaseTTL time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run read models and sagas fed from NATS JetStream (several workers share the partitions)",
		Long: "Consumes every partition of the bus; workers of the same --group share them, one worker per\n" +
			"partition at a time (a lease in a JetStream key-value bucket), in order. A partition held by a\n" +
			"worker that dies moves to another after --lease-ttl. Read models stay exactly-once: each\n" +
			"partition's last applied sequence is stored with the rows it produced.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if b.kind != "nats" {
				return usageError{fmt.Errorf("--bus %q: workers are fed from nats", b.kind)}
			}
			if err := b.validate(); err != nil {
				return err
			}
			if group == "" || strings.ContainsAny(group, ". *>") {
				return usageError{fmt.Errorf("--group %q: want a name without spaces, dots, * or >", group)}
			}
			if metricsAddr != "" {
				if _, _, err := net.SplitHostPort(metricsAddr); err != nil {
					return usageError{fmt.Errorf("--metrics-addr %q: want host:port", metricsAddr)}
				}
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, closeStore, err := openMigratedStore(ctx, g)
			if err != nil {
				return err
			}
			defer closeStore()
			var chosen []projections.Projection
			if projNames != "" {
				if chosen, err = projections.ByName(store, splitList(projNames)...); err != nil {
					return usageError{fmt.Errorf("--projections: %w", err)}
				}
			}
			reg := prometheus.NewRegistry()
			w, err := projections.NewWorker(store, projections.WorkerConfig{Bus: b.config(), Group: group, LeaseTTL: leaseTTL}, log, reg, chosen...)
			if err != nil {
				return err
			}
			app := commands.New(commands.Deps{Store: store, Metrics: reg})
			chosenSagas, err := sagasByName(app, log, reg, splitList(sagaNames)...)
			if err != nil {
				return usageError{fmt.Errorf("--sagas: %w", err)}
			}
			for _, s := range chosenSagas {
				w.AddReaction(s.Name(), s.React, s.Types()...)
			}
			if metricsAddr != "" {
				mux := http.NewServeMux()
				mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
				srv := &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
						log.Error().Err(err).Msg("metrics listener stopped")
					}
				}()
				defer srv.Close()
			}
			log.Info().Str("group", group).Int("projections", len(chosen)).Str("sagas", sagaNames).Msg("worker running")
			return w.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&b.kind, "bus", "nats", "where events come from (workers: nats)")
	b.register(fl, false)
	b.kind = "nats"
	fl.StringVar(&group, "group", "read-models", "workers of one group share the partitions; give separate groups to separate sets of read models")
	fl.StringVar(&projNames, "projections", "users,companies,roles,orgs,chain,access", "read models to run (comma-separated; empty for none)")
	fl.StringVar(&sagaNames, "sagas", "", "sagas to run: auto-invite, super-user (comma-separated)")
	fl.StringVar(&metricsAddr, "metrics-addr", envOr("GATEHOUSE_METRICS_ADDR", ""), "serve /metrics here (partition activity and lag)")
	fl.DurationVar(&leaseTTL, "lease-ttl", 10*time.Second, "how long a dead worker's partitions stay with it before others take them over")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// openMigratedStore brings the schema up to date and opens the event store.
func openMigratedStore(ctx context.Context, g *globalFlags) (*eventstore.Store, func(), error) {
	if _, err := migrations.Up(ctx, g.databaseURL); err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, g.databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	store := eventstore.New(pool)
	return store, func() { store.Close(); pool.Close() }, nil
}

// saga is a reaction with the name of its consumer group.
type saga interface {
	Name() string
	React(context.Context, eventstore.RecordedEvent, domain.Event) error
	Types() []string
}

// sagasByName builds the sagas named as on the command line.
func sagasByName(app *commands.App, log zerolog.Logger, reg prometheus.Registerer, names ...string) ([]saga, error) {
	var out []saga
	for _, name := range names {
		switch name {
		case "auto-invite":
			out = append(out, sagas.NewAutoInvite(app, log, reg))
		case "super-user":
			out = append(out, sagas.NewSuperUser(app, log, reg))
		default:
			return nil, fmt.Errorf("unknown saga %q (auto-invite, super-user)", name)
		}
	}
	return out, nil
}
