package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/eventstore"
	gatehttp "gatehouse/http"
	"gatehouse/migrations"
	"gatehouse/notify"
	"gatehouse/projections"
	"gatehouse/sagas"
)

type serveFlags struct {
	addr              string
	publicURL         string
	smtpURL           string
	exposeInviteLinks bool
	maxLagRaw         string
	maxLag            int64
	secretKey         string
	debugAddr         string
	csrfKey           []byte
	bus               busFlags
	mailFrom          string
	sealer            *commands.Sealer
}

func serveCommand(g *globalFlags) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API, the projections and the sagas in one process",
		Long: "Runs the HTTP API, the read-model projections and the sagas. Migrations are applied at start,\n" +
			"and the database named by DATABASE_URL is created if it does not exist.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if err := f.validate(); err != nil {
				return err
			}
			return serve(cmd.Context(), g, f, log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", envOr("GATEHOUSE_ADDR", "127.0.0.1:8080"), "listen address (env GATEHOUSE_ADDR)")
	fl.StringVar(&f.debugAddr, "debug-addr", envOr("GATEHOUSE_DEBUG_ADDR", ""), "when set, serve Go's pprof profiles on this address (keep it private; env GATEHOUSE_DEBUG_ADDR)")
	fl.StringVar(&f.publicURL, "public-url", envOr("GATEHOUSE_PUBLIC_URL", ""), "base URL of links in emails and answers; default http://<addr> (env GATEHOUSE_PUBLIC_URL)")
	fl.StringVar(&f.smtpURL, "smtp-url", envOr("GATEHOUSE_SMTP_URL", ""), "smtp://user:pass@host:port; mail is off without it (env GATEHOUSE_SMTP_URL)")
	exposeDefault, _ := strconv.ParseBool(envOr("GATEHOUSE_EXPOSE_INVITE_LINKS", "false"))
	fl.BoolVar(&f.exposeInviteLinks, "expose-invite-links", exposeDefault,
		"development only: add accept_url to invitation answers (env GATEHOUSE_EXPOSE_INVITE_LINKS=true)")
	fl.StringVar(&f.secretKey, "secret-key", envOr("GATEHOUSE_SECRET_KEY", ""),
		"base64 of 32 random bytes; seals invitation links for the mail sender (required with --smtp-url) (env GATEHOUSE_SECRET_KEY)")
	fl.StringVar(&f.mailFrom, "mail-from", envOr("GATEHOUSE_MAIL_FROM", ""), "sender address of emails; default noreply@<public host> (env GATEHOUSE_MAIL_FROM)")
	f.bus.register(fl, true)
	fl.StringVar(&f.maxLagRaw, "max-projection-lag", envOr("GATEHOUSE_MAX_PROJECTION_LAG", "10000"),
		"/readyz fails while a read model is more than this many events behind (env GATEHOUSE_MAX_PROJECTION_LAG)")
	return cmd
}

// ready is the readiness check: database reachable, schema current, and no
// read model far behind the log.
func ready(ctx context.Context, pool *pgxpool.Pool, maxLag int64, groups map[string]bool) error {
	if err := migrations.CheckCurrent(ctx, pool); err != nil {
		return err
	}
	ps, err := projections.Positions(ctx, pool)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if groups[p.Group] && p.Lag() > maxLag {
			return fmt.Errorf("read model %s is %d events behind (limit %d)", p.Group, p.Lag(), maxLag)
		}
	}
	return nil
}

func (f *serveFlags) validate() error {
	if v := os.Getenv("GATEHOUSE_EXPOSE_INVITE_LINKS"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return usageError{fmt.Errorf("GATEHOUSE_EXPOSE_INVITE_LINKS=%q: want true or false", v)}
		}
	}
	if f.secretKey != "" {
		key, err := base64.StdEncoding.DecodeString(f.secretKey)
		if err != nil {
			key, err = base64.RawURLEncoding.DecodeString(f.secretKey)
		}
		if err != nil || len(key) != 32 {
			return usageError{errors.New("--secret-key (or GATEHOUSE_SECRET_KEY): want base64 of 32 random bytes (openssl rand -base64 32)")}
		}
		if f.sealer, err = commands.NewSealer(key); err != nil {
			return usageError{err}
		}
		// The forms' CSRF key is derived from the secret key, so every
		// replica and every restart accepts the forms of the others.
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("gatehouse portal csrf"))
		f.csrfKey = mac.Sum(nil)
	}
	if f.mailFrom == "" {
		u, _ := url.Parse(f.publicURL)
		f.mailFrom = "noreply@" + u.Hostname()
		if !strings.Contains(u.Hostname(), ".") {
			f.mailFrom = "noreply@gatehouse.invalid"
		}
	}
	lag, err := strconv.ParseInt(f.maxLagRaw, 10, 64)
	if err != nil || lag < 1 {
		return usageError{fmt.Errorf("--max-projection-lag (or GATEHOUSE_MAX_PROJECTION_LAG) %q: want a positive whole number", f.maxLagRaw)}
	}
	f.maxLag = lag
	if err := f.bus.validate(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usageError{fmt.Errorf("--addr (or GATEHOUSE_ADDR) %q: want host:port", f.addr)}
	}
	if f.publicURL == "" {
		f.publicURL = "http://" + f.addr
	}
	if u, err := url.Parse(f.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--public-url (or GATEHOUSE_PUBLIC_URL) %q: want an http or https URL", f.publicURL)}
	}
	if f.smtpURL != "" {
		if u, err := url.Parse(f.smtpURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			// The value is not echoed: it may carry a password.
			return usageError{errors.New("--smtp-url (or GATEHOUSE_SMTP_URL): want smtp://user:pass@host:port or smtps://…")}
		}
	}
	if f.smtpURL != "" && f.sealer == nil {
		return usageError{errors.New("--smtp-url needs --secret-key (or GATEHOUSE_SECRET_KEY) to seal invitation links for the mail sender")}
	}

	return nil
}

func serve(ctx context.Context, g *globalFlags, f *serveFlags, log zerolog.Logger) error {
	if err := migrations.EnsureDatabase(ctx, g.databaseURL); err != nil {
		return err
	}
	applied, err := migrations.Up(ctx, g.databaseURL)
	if err != nil {
		return err
	}
	log.Info().Int("applied", len(applied)).Msg("migrations up to date")

	poolCfg, err := pgxpool.ParseConfig(g.databaseURL)
	if err != nil {
		return usageError{fmt.Errorf("--database-url: %w", err)}
	}
	poolCfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("open database pool: %w", err)
	}
	defer pool.Close()

	store := eventstore.New(pool)
	defer store.Close()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	wake := eventstore.NewWakeup(g.databaseURL, log.With().Str("component", "wakeup").Logger())

	// With --bus sql this process runs every read model and saga; with
	// --bus nats it relays events to JetStream, and workers (gatehouse
	// worker) run the read models and sagas. Mail and the helpdesk inbox
	// stay here, where their configuration is.
	all := projections.All(store)
	var users *projections.Users
	for _, p := range all {
		if u, ok := p.(*projections.Users); ok {
			users = u
		}
	}
	inProcess := all
	if f.bus.kind == "nats" {
		inProcess = nil
	}
	runner, err := projections.NewRunner(store, wake, log, inProcess...)
	if err != nil {
		return err
	}
	groups := map[string]bool{}
	for _, p := range inProcess {
		groups[p.Name()] = true
	}
	reg := newRegistry(pool, store)
	reg.MustRegister(runner.Lag())
	app := commands.New(commands.Deps{Store: store, Metrics: reg, Sealer: f.sealer})
	app.WatchStaffTokens(wake) // before the listener runs, which listens to what it watches
	access := projections.NewAccessCache(users, reg)
	access.Watch(wake)
	go wake.Run(runCtx)
	if f.bus.kind == "sql" {
		all, err := sagasByName(app, log, reg, "auto-invite", "super-user")
		if err != nil {
			return err
		}
		for _, r := range all {
			if err := runner.AddReaction(r.Name(), r.React, r.Types()...); err != nil {
				return err
			}
			groups[r.Name()] = true
		}
	} else {
		relay, err := eventstore.NewRelay(store, wake, f.bus.config(), log)
		if err != nil {
			return err
		}
		go func() {
			if err := relay.Run(runCtx); err != nil {
				log.Error().Err(err).Msg("relay stopped")
			}
		}()
		defer relay.Close() //nolint:errcheck
		groups[eventstore.RelayGroup] = true
		log.Info().Str("nats", f.bus.url).Str("stream", f.bus.stream).Int("partitions", f.bus.partitions).Msg("relaying events to NATS JetStream; read models and sagas run in workers")
	}
	if err := sagas.AddHelpdeskInbox(runner.Router(), pool, app, log, eventstore.WatermillLogger(log)); err != nil {
		return err
	}
	if f.smtpURL == "" {
		log.Warn().Msg("mail is disabled (no --smtp-url): invitations are recorded but no email is sent")
	} else {
		transport, err := notify.NewSMTP(f.smtpURL, f.mailFrom)
		if err != nil {
			return usageError{err}
		}
		sender := notify.NewSender(app, transport, notify.Config{PublicURL: f.publicURL}, log.With().Str("component", "mail").Logger(), reg)
		if err := runner.AddReaction(sender.Name(), sender.React, sender.Types()...); err != nil {
			return err
		}
		groups[sender.Name()] = true
		log.Info().Str("from", f.mailFrom).Msg("mail is on")
	}
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()

	server, err := gatehttp.NewServer(gatehttp.Deps{
		App: app, Users: users, Access: access, Log: log, Metrics: reg,
		Ready: func(ctx context.Context) error { return ready(ctx, pool, f.maxLag, groups) },
	}, gatehttp.Config{PublicURL: f.publicURL, ExposeInviteLinks: f.exposeInviteLinks, MailEnabled: f.smtpURL != "", CSRFKey: f.csrfKey})
	if err != nil {
		return err
	}
	if f.exposeInviteLinks {
		log.Warn().Msg("--expose-invite-links is on: invitation answers carry their links (development only)")
	}

	httpServer := &http.Server{
		Addr:              f.addr,
		Handler:           server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	log.Info().Str("addr", ln.Addr().String()).Str("public_url", f.publicURL).Msg("serving")
	if f.debugAddr != "" {
		debug := http.NewServeMux()
		debug.HandleFunc("/debug/pprof/", pprof.Index)
		debug.HandleFunc("/debug/pprof/profile", pprof.Profile)
		debug.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			debugServer := &http.Server{Addr: f.debugAddr, Handler: debug, ReadHeaderTimeout: 10 * time.Second}
			if err := debugServer.ListenAndServe(); err != nil {
				log.Warn().Err(err).Str("addr", f.debugAddr).Msg("pprof listener stopped")
			}
		}()
		log.Info().Str("addr", f.debugAddr).Msg("pprof profiles on /debug/pprof/")
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case err := <-runnerDone:
		return fmt.Errorf("projections stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: draining requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Error().Err(err).Msg("http shutdown")
	}
	if err := runner.Close(); err != nil {
		log.Error().Err(err).Msg("projection shutdown")
	}
	cancelRun()
	log.Info().Msg("stopped")
	return nil
}
