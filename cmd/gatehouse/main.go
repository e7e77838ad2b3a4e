// Command gatehouse runs the Gatehouse service and its operator tools:
// serve, migrate, org create. All wiring of the service happens here.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// defaultDatabaseURL is the service's database unless DATABASE_URL or
// --database-url says otherwise; it is created when missing.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/gatehouse?sslmode=disable"

// usageError is a bad flag or value: exit code 2.
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	err := rootCommand().ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "gatehouse:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

type globalFlags struct {
	databaseURL string
	logLevel    string
	cpuProfile  string
}

func rootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Access backend for helpdesk customer portals",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.databaseURL, "database-url", envOr("DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (env DATABASE_URL)")
	pf.StringVar(&g.logLevel, "log-level", envOr("GATEHOUSE_LOG_LEVEL", "info"), "trace, debug, info, warn or error (env GATEHOUSE_LOG_LEVEL)")
	pf.StringVar(&g.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole command to this file (go tool pprof)")
	var profile *os.File
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.cpuProfile == "" {
			return nil
		}
		f, err := os.Create(g.cpuProfile)
		if err != nil {
			return usageError{fmt.Errorf("--cpu-profile: %w", err)}
		}
		profile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if profile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		return profile.Close()
	}
	root.AddCommand(serveCommand(g), migrateCommand(g), orgCommand(g), tokensCommand(g), projectionsCommand(g), exportCommand(g), generateCommand(g), auditCommand(g), benchCommand(g), relayCommand(g), workerCommand(g))
	return root
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

// logger writes JSON lines, or readable lines when stderr is a terminal.
func (g *globalFlags) logger() (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(g.logLevel)
	if err != nil || g.logLevel == "" {
		return zerolog.Logger{}, usageError{fmt.Errorf("--log-level (or GATEHOUSE_LOG_LEVEL) %q: want trace, debug, info, warn or error", g.logLevel)}
	}
	var log zerolog.Logger
	if isatty.IsTerminal(os.Stderr.Fd()) {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr})
	} else {
		log = zerolog.New(os.Stderr)
	}
	return log.Level(level).With().Timestamp().Logger(), nil
}
