package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/eventstore"
	"gatehouse/migrations"
)

// benchConfig is what `gatehouse bench` measures and how long.
type benchConfig struct {
	reps           int
	duration       time.Duration
	warmup         time.Duration
	lagDuration    time.Duration
	lagRate        int
	users          int
	out            string
	keep           bool
	quick          bool
	atScale        bool // only (4)-(6)
	profile        string
	profileClients int
}

func benchCommand(g *globalFlags) *cobra.Command {
	var c benchConfig
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the service against this machine's own limits and write a markdown table",
		Long: "Runs on fresh databases (created, then dropped: one for (1)-(3), one holding only the generated\n" +
			"log for (4)-(6)) and measures, each figure the median of\n" +
			"--reps repetitions with min and max: (1) raw one-row INSERT commits/s at 1/4/16/64 writers, the\n" +
			"machine's limit; (2) POST /users over HTTP to `gatehouse serve` at 1/4/16/64 clients and the\n" +
			"ratio to (1); (3) projection lag at a steady rate; (4) rebuild events/s over a generated log of\n" +
			"about a million events; (5) CSV export rows/s and peak RSS for 100,000 users; (6) the access\n" +
			"decision at 16 clients. --quick measures (1)-(3) only, --at-scale-only (4)-(6) only. The table\n" +
			"goes to stdout and to --out.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.reps < 1 || c.duration <= 0 || c.lagDuration <= 0 || c.lagRate < 1 || c.users < 1 {
				return usageError{errors.New("--reps, --duration, --lag-duration, --lag-rate and --users must be positive")}
			}
			if c.quick && c.atScale {
				return usageError{errors.New("--quick and --at-scale-only exclude each other")}
			}
			return runBench(cmd.Context(), g, c, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.reps, "reps", 3, "repetitions of each measurement")
	f.DurationVar(&c.duration, "duration", 5*time.Second, "length of one repetition of the throughput and access measurements")
	f.DurationVar(&c.warmup, "warmup", time.Second, "untimed run at the same concurrency before the repetitions of (2) and (6), so that the server's connections are open and its statements prepared, as the raw inserts' pool is")
	f.DurationVar(&c.lagDuration, "lag-duration", 20*time.Second, "length of one projection-lag repetition")
	f.IntVar(&c.lagRate, "lag-rate", 500, "commands per second during the projection-lag measurement")
	f.IntVar(&c.users, "users", 100000, "users of the generated organization (another tenth is generated in a second one)")
	f.StringVar(&c.out, "out", "bench/results.md", "where to write the table")
	f.BoolVar(&c.keep, "keep-database", false, "keep the benchmark databases (their names are logged)")
	f.BoolVar(&c.quick, "quick", false, "measure only (1)-(3): no generated log")
	f.BoolVar(&c.atScale, "at-scale-only", false, "measure only (4)-(6), on the generated log")
	f.StringVar(&c.profile, "profile", "bench/cpu-16-clients.pprof", "write the server's CPU profile during the first repetition of (2) at --profile-clients here (empty: none)")
	f.IntVar(&c.profileClients, "profile-clients", 16, "the concurrency of (2) whose first repetition --profile covers")
	return cmd
}

// stat is a figure measured several times.
type stat []float64

func (s stat) median() float64 {
	c := slices.Clone(s)
	sort.Float64s(c)
	if len(c) == 0 {
		return 0
	}
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s stat) String() string {
	if len(s) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.median()), num(slices.Min(s)), num(slices.Max(s)))
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

// quantile in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := int(q * float64(len(l.d)-1))
	return float64(l.d[i]) / float64(time.Millisecond)
}

func (l *latencies) max() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	return float64(slices.Max(l.d)) / float64(time.Millisecond)
}

var benchConcurrency = []int{1, 4, 16, 64}

type benchResults struct {
	raw, cmds, cmdP50, cmdP99    map[int]stat
	rawCPU, cmdCPU               map[int]*cpuPerOp
	lagP50, lagP99, lagMax       stat
	lagAchieved, lagInvisible    stat
	checkP50, checkP99           stat
	readModelP50, readModelP99   stat
	rebuildUsers, rebuildAll     stat
	rebuildUserEvents, allEvents int64
	exportRows, exportRSS        stat
	exportCount                  int64
	access, floor                loopStats
	accessHits                   stat // % of (6) answered from the server's cache
	vacuumed                     bool // VACUUM ANALYZE before (3): autovacuum is off
	vacuumedLog                  bool // VACUUM ANALYZE before (4), after generating the log
	pgVersion                    string
}

func runBench(ctx context.Context, g *globalFlags, c benchConfig, out io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	res := benchResults{raw: map[int]stat{}, cmds: map[int]stat{}, cmdP50: map[int]stat{}, cmdP99: map[int]stat{},
		rawCPU: map[int]*cpuPerOp{}, cmdCPU: map[int]*cpuPerOp{}}

	// (1)-(3) and (4)-(6) each get a fresh database: (4) rebuilds exactly
	// the generated log, not that log plus the users (2) and (3) created,
	// and (5) and (6) read the read models it rebuilt from it.
	if !c.atScale {
		err := withBenchDatabase(ctx, g.databaseURL, c.keep, logf, func(dbURL string, admin *pgx.Conn) error {
			if err := admin.QueryRow(ctx, `SHOW server_version`).Scan(&res.pgVersion); err != nil {
				return err
			}
			return benchCommands(ctx, self, dbURL, admin, c, &res, logf)
		})
		if err != nil {
			return err
		}
	}
	if !c.quick {
		err := withBenchDatabase(ctx, g.databaseURL, c.keep, logf, func(dbURL string, admin *pgx.Conn) error {
			if err := admin.QueryRow(ctx, `SHOW server_version`).Scan(&res.pgVersion); err != nil {
				return err
			}
			return benchAtScale(ctx, self, dbURL, admin, c, &res, logf)
		})
		if err != nil {
			return err
		}
	}

	table := res.markdown(c)
	fmt.Fprint(out, table)
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", c.out, err)
		}
		logf("written to %s", c.out)
	}
	return nil
}

// withBenchDatabase runs measure on a fresh, migrated database of the
// server of serverURL, dropped afterwards unless keep.
func withBenchDatabase(ctx context.Context, serverURL string, keep bool, logf func(string, ...any), measure func(dbURL string, admin *pgx.Conn) error) error {
	dbURL, dbName, err := benchDatabaseURL(serverURL)
	if err != nil {
		return usageError{err}
	}
	if err := migrations.EnsureDatabase(ctx, dbURL); err != nil {
		return err
	}
	if keep {
		logf("keeping database %s", dbName)
	} else {
		defer func() {
			if err := dropDatabase(context.WithoutCancel(ctx), serverURL, dbName); err != nil {
				logf("drop %s: %v", dbName, err)
			}
		}()
	}
	if _, err := migrations.Up(ctx, dbURL); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", dbName, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	return measure(dbURL, admin)
}

// benchCommands measures (1)-(3).
func benchCommands(ctx context.Context, self, dbURL string, admin *pgx.Conn, c benchConfig, res *benchResults, logf func(string, ...any)) error {
	// (1) The limit: raw one-row INSERT commits into an events-shaped table.
	if _, err := admin.Exec(ctx, `CREATE TABLE bench_raw (LIKE events INCLUDING ALL)`); err != nil {
		return fmt.Errorf("create raw insert table: %w", err)
	}
	// (2) against the real server. Each repetition of (2) follows one of
	// (1) at the same concurrency, so that a ratio compares figures taken
	// seconds apart: on a shared machine the limit itself drifts (fsync
	// most of all), and a ratio of figures taken a minute apart measured
	// the drift as much as the commands.
	srv, err := startServe(ctx, self, dbURL)
	if err != nil {
		return err
	}
	defer srv.stop()
	site, err := newBenchSite(ctx, self, dbURL, srv.base, "Bench Support")
	if err != nil {
		return err
	}
	for _, n := range benchConcurrency {
		if c.warmup > 0 {
			if _, _, err := site.createUsers(ctx, n, c.warmup, fmt.Sprintf("c%d-warmup", n)); err != nil {
				return err
			}
		}
		res.rawCPU[n], res.cmdCPU[n] = &cpuPerOp{}, &cpuPerOp{}
		for rep := range c.reps {
			// The raw inserts run on a quiet machine, as they would without
			// the server: its read models first finish what the commands
			// before left them.
			if err := waitCaughtUp(ctx, admin, logf); err != nil {
				return err
			}
			if n <= rawMaxWriters {
				if err := rawRepetition(ctx, admin, dbURL, n, c.duration, res, logf); err != nil {
					return err
				}
			}
			if n == c.profileClients && rep == 0 && c.profile != "" {
				go srv.profile(c.profile, c.duration, logf)
			}
			before := readCPU(ctx, admin, srv.cmd.Process.Pid)
			rate, lat, err := site.createUsers(ctx, n, c.duration, fmt.Sprintf("c%d-r%d", n, rep))
			if err != nil {
				return err
			}
			res.cmdCPU[n].add(readCPU(ctx, admin, srv.cmd.Process.Pid).sub(before), rate*c.duration.Seconds())
			res.cmds[n] = append(res.cmds[n], rate)
			res.cmdP50[n] = append(res.cmdP50[n], lat.quantile(0.5))
			res.cmdP99[n] = append(res.cmdP99[n], lat.quantile(0.99))
			logf("POST /users, %d clients: %.0f commands/s, p50 %.1f ms, p99 %.1f ms", n, rate, lat.quantile(0.5), lat.quantile(0.99))
		}
	}
	if res.vacuumed, err = vacuumWithoutAutovacuum(ctx, admin, "the commands", logf); err != nil {
		return err
	}
	for rep := range c.reps {
		if err := waitCaughtUp(ctx, admin, logf); err != nil {
			return err
		}
		// A fresh organization per repetition: the check searches the
		// organization's users, and should not search the earlier phases'.
		lagSite, err := newBenchSite(ctx, self, dbURL, srv.base, fmt.Sprintf("Bench Lag %d", rep+1))
		if err != nil {
			return err
		}
		run, err := lagSite.projectionLag(ctx, c.lagRate, c.lagDuration, fmt.Sprintf("lag-r%d", rep))
		if err != nil {
			return err
		}
		res.readModelP50 = append(res.readModelP50, run.readModelP50)
		res.readModelP99 = append(res.readModelP99, run.readModelP99)
		res.lagP50 = append(res.lagP50, run.lag.quantile(0.5))
		res.lagP99 = append(res.lagP99, run.lag.quantile(0.99))
		res.lagMax = append(res.lagMax, run.lag.max())
		res.lagAchieved = append(res.lagAchieved, run.achieved)
		res.lagInvisible = append(res.lagInvisible, float64(run.invisible))
		res.checkP50 = append(res.checkP50, run.check.quantile(0.5))
		res.checkP99 = append(res.checkP99, run.check.quantile(0.99))
		logf("projection lag at %.0f commands/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d not visible within a minute; %d checks, p50 %.1f ms, p99 %.1f ms; read models' own lag p50 ≤ %g ms, p99 ≤ %g ms",
			run.achieved, run.lag.quantile(0.5), run.lag.quantile(0.99), run.lag.max(), run.invisible, len(run.check.d), run.check.quantile(0.5), run.check.quantile(0.99),
			run.readModelP50, run.readModelP99)
	}
	return nil
}

// benchAtScale measures (4)-(6) on a generated log.
func benchAtScale(ctx context.Context, self, dbURL string, admin *pgx.Conn, c benchConfig, res *benchResults, logf func(string, ...any)) error {
	logf("generating %d + %d users", c.users, c.users/10)
	var orgs []generatedOrg
	for i, spec := range [][]string{{"--users", fmt.Sprint(c.users), "--companies", "500", "--seed", "1"}, {"--users", fmt.Sprint(c.users / 10), "--companies", "50", "--seed", "2"}} {
		outb, err := runSelf(ctx, self, dbURL, append([]string{"generate", "--orgs", "1"}, spec...)...)
		if err != nil {
			return fmt.Errorf("generate (%d): %w", i, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
			var o generatedOrg
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				return fmt.Errorf("generate printed %q: %w", line, err)
			}
			orgs = append(orgs, o)
		}
	}
	// A generated history is not news: sagas and mail must not act on it
	// (nor hold the server's readiness back while they skip it).
	if _, err := admin.Exec(ctx, `UPDATE watermill_offsets_events o SET offset_acked = h.position, last_processed_transaction_id = h.transaction_id
		FROM (SELECT position, transaction_id FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1) h
		WHERE o.consumer_group LIKE 'saga-%' OR o.consumer_group = 'mail'`); err != nil {
		return fmt.Errorf("move reactions past the generated history: %w", err)
	}
	// A log an operator rebuilds from has long been vacuumed: its rows'
	// commit status is settled in their pages. Read for the first time
	// just after it was written, every page would be rewritten to settle
	// it, and the first rebuild would pay for that.
	var err error
	if res.vacuumedLog, err = vacuumWithoutAutovacuum(ctx, admin, "generating the log", logf); err != nil {
		return err
	}
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&res.allEvents); err != nil {
		return err
	}
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id LIKE 'user-%'`).Scan(&res.rebuildUserEvents); err != nil {
		return err
	}
	logf("log holds %d events (%d in user streams)", res.allEvents, res.rebuildUserEvents)
	for range c.reps {
		start := time.Now()
		if _, err := runSelf(ctx, self, dbURL, "projections", "rebuild", "users"); err != nil {
			return err
		}
		rate := float64(res.rebuildUserEvents) / time.Since(start).Seconds()
		res.rebuildUsers = append(res.rebuildUsers, rate)
		logf("rebuild users: %.0f events/s", rate)
	}
	for range c.reps {
		start := time.Now()
		if _, err := runSelf(ctx, self, dbURL, "projections", "rebuild"); err != nil {
			return err
		}
		rate := float64(res.allEvents) / time.Since(start).Seconds()
		res.rebuildAll = append(res.rebuildAll, rate)
		logf("rebuild every read model: %.0f events/s", rate)
	}

	big := orgs[0]
	for range c.reps {
		start := time.Now()
		cmd := exec.CommandContext(ctx, self, "export", "users", "--org", big.OrgID)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_LOG_LEVEL=warn")
		counter := &lineCounter{}
		cmd.Stdout = counter
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		wall := time.Since(start).Seconds()
		rows := counter.lines - 1 // header
		res.exportCount = rows
		res.exportRows = append(res.exportRows, float64(rows)/wall)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.exportRSS = append(res.exportRSS, float64(ru.Maxrss)/1024) // KiB → MiB
		}
		logf("export: %d rows in %.2f s", rows, wall)
	}

	srv, err := startServe(ctx, self, dbURL)
	if err != nil {
		return err
	}
	defer srv.stop()
	rows, err := admin.Query(ctx, `SELECT user_id::text FROM users_view WHERE org_id = $1 ORDER BY random() LIMIT 5000`, big.OrgID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for rep := -1; rep < c.reps; rep++ {
		d := c.duration
		if rep < 0 { // the warm-up
			if c.warmup <= 0 {
				continue
			}
			d = c.warmup
		}
		for _, m := range []struct {
			name string
			into *loopStats
			run  func() (*latencies, float64, error)
		}{
			{"access decision", &res.access, func() (*latencies, float64, error) { return accessDecisions(ctx, srv.base, big, ids, 16, d) }},
			{"GET /healthz", &res.floor, func() (*latencies, float64, error) { return httpFloor(ctx, srv.base, 16, d) }},
		} {
			cached := m.into == &res.access
			var hits, all float64
			if cached {
				if hits, all, err = accessLookups(ctx, srv.base); err != nil {
					return err
				}
			}
			lat, n, err := m.run()
			if err != nil {
				return err
			}
			if rep < 0 {
				continue
			}
			m.into.add(lat, n)
			logf("%s, 16 clients: %.0f/s, p50 %.2f ms, p99 %.2f ms", m.name, n, lat.quantile(0.5), lat.quantile(0.99))
			if cached {
				hitsAfter, allAfter, err := accessLookups(ctx, srv.base)
				if err != nil {
					return err
				}
				if allAfter > all {
					res.accessHits = append(res.accessHits, 100*(hitsAfter-hits)/(allAfter-all))
				}
			}
		}
	}
	return nil
}

// loopStats gathers the repetitions of a closed-loop measurement.
type loopStats struct{ p50, p99, n stat }

func (l *loopStats) add(lat *latencies, n float64) {
	l.p50 = append(l.p50, lat.quantile(0.5))
	l.p99 = append(l.p99, lat.quantile(0.99))
	l.n = append(l.n, n)
}

type generatedOrg struct {
	OrgID      string `json:"org_id"`
	Slug       string `json:"slug"`
	AdminToken string `json:"admin_token"`
}

type lineCounter struct{ lines int64 }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

func (r benchResults) markdown(c benchConfig) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Gatehouse benchmark\n\n%s on %s: %d CPUs, PostgreSQL %s, %s. Each figure: median (min–max) of %d repetitions; client, server and PostgreSQL share the machine.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), r.pgVersion, runtime.Version(), c.reps)
	if !c.atScale {
		r.commandsMarkdown(&b, c)
	}
	if !c.quick {
		r.atScaleMarkdown(&b, c)
	}
	b.WriteString("\nReproduce: `make bench` (or `bin/gatehouse bench`; `--quick` skips the generated log, `--at-scale-only` measures only on it).\n")
	return b.String()
}

func (r benchResults) commandsMarkdown(b *strings.Builder, c benchConfig) {
	fmt.Fprintf(b, "## Commands against the machine's limit (%s per repetition)\n\n", c.duration)
	b.WriteString("| concurrency | (1) raw INSERT commits/s | (2) POST /users commands/s | ratio (2)/(1) | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n")
	for _, n := range benchConcurrency {
		ratio := stat{}
		for i := range r.cmds[n] {
			if i < len(r.raw[n]) && r.raw[n][i] > 0 {
				ratio = append(ratio, r.cmds[n][i]/r.raw[n][i])
			}
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n", n, r.raw[n], r.cmds[n], ratio, r.cmdP50[n], r.cmdP99[n])
	}
	r.cpuMarkdown(b)
	if c.warmup > 0 {
		fmt.Fprintf(b, "\nBefore the repetitions at each concurrency, %s of the same commands run untimed, so that the server's connections are open and its statements prepared, as the raw inserts' pool has its connections open before it is timed.\n", c.warmup)
	}
	b.WriteString("\nEach client of (2) creates and invites users back to back (company, portal access, invitation) over a kept-alive HTTP/1.1 connection of its own, writing each request and reading its answer with net/http's parser in its own goroutine, as load generators such as wrk do; Go's http.Client would pass each request between three goroutines, CPU taken from the server on a small machine. (3) sends its commands and checks the same way, over a pool of such connections (one per command or check in flight).\n")
	b.WriteString("\nEach repetition of (2) runs right after one of (1) at the same concurrency, and each ratio divides the two: the limit drifts on a shared machine (fsync most of all), and figures taken a minute apart would measure the drift too. (1) runs once the server's read models have caught up with the commands before it.\n")
	fmt.Fprintf(b, "\n## (3) Projection lag: 2xx of POST /users → visible in GET /users?q=<email>, at %d commands/s for %s\n\n", c.lagRate, c.lagDuration)
	b.WriteString("| achieved commands/s | p50 ms | p99 ms | max ms | not visible within 60 s | one check p50 ms | one check p99 ms | read models' own p50 ms | read models' own p99 ms |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.lagAchieved, r.lagP50, r.lagP99, r.lagMax, r.lagInvisible, r.checkP50, r.checkP99, r.readModelP50, r.readModelP99)
	fmt.Fprintf(b, "\nEvery %dth command is watched (a fresh organization per repetition), checked every 1 ms for the first %d ms after its 2xx, every 5 ms up to 1 s, then every 50 ms, at most %d checks at a time; at most 64 commands in flight, so beyond capacity the achieved rate falls short of the rate asked for. A check is a search of the organization's users; its duration is part of the lag, and the checks are part of the load. The read models' own lag is the server's gatehouse_read_model_lag_seconds histogram over the run: every event, from its recording to the commit of the read models that applied it, without a search; a histogram gives the upper bound of the bucket a quantile falls in.", lagSampleEvery, lagFineChecks.Milliseconds(), lagChecksInFlight)
	if r.vacuumed {
		b.WriteString(" This server runs with autovacuum off, so before (3) the bench ran VACUUM ANALYZE, as autovacuum would have done after the commands' inserts: the statistics then describe a log without the organizations (3) creates, as a server's would for a new customer.")
	}
	b.WriteString("\n")
}

// cpuMarkdown says what one raw commit and one command cost in CPU, and
// who spent it.
func (r benchResults) cpuMarkdown(b *strings.Builder) {
	if r.rawCPU[1] == nil || len(r.rawCPU[1].total) == 0 || r.cmdCPU[1] == nil || len(r.cmdCPU[1].total) == 0 {
		b.WriteString("\nCPU per operation: not measured (needs /proc and PostgreSQL on this machine).\n")
		return
	}
	b.WriteString("\n### CPU per operation, ms (median of the repetitions)\n\n")
	b.WriteString("| concurrency | (1) client | (1) PostgreSQL | (1) total | (2) client | (2) server | (2) PostgreSQL: commands' backends | (2) PostgreSQL: read models and reactions | (2) PostgreSQL: rest | (2) total | (1)/(2) total |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	med := func(s stat) string {
		if len(s) == 0 {
			return "–"
		}
		return num(s.median())
	}
	for _, n := range benchConcurrency {
		rc, cc := r.rawCPU[n], r.cmdCPU[n]
		if cc == nil {
			continue
		}
		if rc == nil {
			rc = &cpuPerOp{}
		}
		ratio := "–"
		if len(rc.total) > 0 && len(cc.total) > 0 && cc.total.median() > 0 {
			ratio = num(rc.total.median() / cc.total.median())
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, med(rc.client), med(rc.postgres), med(rc.total),
			med(cc.client), med(cc.server), med(cc.pgCommands), med(cc.pgSubscribers), med(cc.pgOther), med(cc.total), ratio)
	}
	b.WriteString("\nCPU time (user and system) from /proc over each repetition, divided by the operations it completed: the client is the bench process, PostgreSQL's backends are told apart by pg_stat_activity (the server's read models and reactions connect as " + eventstore.SubscriberApplicationName + "), and the rest of PostgreSQL is its WAL writer, checkpointer and other background processes. On a machine whose cores are all busy, throughput follows the total, and the total drifts less than throughput does with the machine's neighbours.\n")
}

func (r benchResults) atScaleMarkdown(b *strings.Builder, c benchConfig) {
	fmt.Fprintf(b, "\n## At scale: a generated log of %d events, alone in a fresh database\n\n", r.allEvents)
	b.WriteString("| measurement | figure |\n|---|---|\n")
	fmt.Fprintf(b, "| (4) rebuild users (%d events in user streams), events/s | %s |\n", r.rebuildUserEvents, r.rebuildUsers)
	fmt.Fprintf(b, "| (4) rebuild every read model at once (whole log), events/s | %s |\n", r.rebuildAll)
	fmt.Fprintf(b, "| (5) export %d users, rows/s (whole process) | %s |\n", r.exportCount, r.exportRows)
	fmt.Fprintf(b, "| (5) export peak RSS, MiB | %s |\n", r.exportRSS)
	fmt.Fprintf(b, "| (6) GET /access/{id} at 16 clients, p50 ms | %s |\n", r.access.p50)
	fmt.Fprintf(b, "| (6) GET /access/{id} at 16 clients, p99 ms | %s |\n", r.access.p99)
	fmt.Fprintf(b, "| (6) GET /access/{id} at 16 clients, answers/s | %s |\n", r.access.n)
	fmt.Fprintf(b, "| (6) decisions answered from the server's cache, %% | %s |\n", r.accessHits)
	fmt.Fprintf(b, "| (6) floor: GET /healthz at 16 clients, p50 ms | %s |\n", r.floor.p50)
	fmt.Fprintf(b, "| (6) floor: GET /healthz at 16 clients, p99 ms | %s |\n", r.floor.p99)
	fmt.Fprintf(b, "| (6) floor: GET /healthz at 16 clients, answers/s | %s |\n", r.floor.n)
	if r.vacuumedLog {
		b.WriteString("\nThis server runs with autovacuum off, so after generating the log the bench ran VACUUM ANALYZE (untimed), as autovacuum would have: a rebuild reads a log whose rows' commit status is settled in their pages, not one written a moment before.\n")
	}
	b.WriteString("\n(6) asks for 5,000 users of the generated organization drawn at random, as a helpdesk asks again for the users active on its portal; the server keeps decisions in memory until a change to what they were read from is announced (projections.AccessCache), and the share answered from it is read from gatehouse_access_cache_lookups_total.")
	b.WriteString(" Each client asks over a kept-alive connection of its own, as in (2). The floor is the same 16-client loop, alternating with (6), against an endpoint that reads nothing: what HTTP alone costs when the clients and the server share the machine's cores.")
	if c.warmup > 0 {
		fmt.Fprintf(b, " Both run untimed for %s first.", c.warmup)
	}
	b.WriteString("\n")
}

// benchDatabaseURL names a fresh database on the server of base.
func benchDatabaseURL(base string) (string, string, error) {
	name := fmt.Sprintf("gatehouse_bench_%d", time.Now().UnixNano())
	u, err := migrations.DatabaseURL(base, name)
	if err != nil {
		return "", "", fmt.Errorf("--database-url: %w", err)
	}
	return u, name, nil
}

func dropDatabase(ctx context.Context, serverURL, name string) error {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return err
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// rawMaxWriters is the most writers (1) measures, as the issue asks: the
// server's connections are open beside them, and 64 more would pass a
// default max_connections of 100.
const rawMaxWriters = 16

// rawRepetition measures (1) once at n writers, with its CPU.
func rawRepetition(ctx context.Context, admin *pgx.Conn, dbURL string, n int, d time.Duration, res *benchResults, logf func(string, ...any)) error {
	var cpu cpuTimes
	rate, err := rawInsertRate(ctx, dbURL, n, d, func(measure func()) {
		before := readCPU(ctx, admin, 0)
		measure()
		cpu = readCPU(ctx, admin, 0).sub(before)
	})
	if err != nil {
		return err
	}
	res.rawCPU[n].add(cpu, rate*d.Seconds())
	res.raw[n] = append(res.raw[n], rate)
	logf("raw insert, %d writers: %.0f commits/s", n, rate)
	return nil
}

// rawInsertRate is the commits/s of n writers each inserting one row per
// transaction, with a pool of n connections. The writers run inside around,
// once the pool's connections are open (their backends' CPU can then be
// read before and after).
func rawInsertRate(ctx context.Context, dbURL string, n int, d time.Duration, around func(measure func())) (float64, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return 0, err
	}
	cfg.MaxConns, cfg.MinConns = int32(n), int32(n)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	conns := make([]*pgxpool.Conn, 0, n)
	for range n {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		conns = append(conns, conn)
	}
	for _, conn := range conns {
		conn.Release()
	}
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	around(func() {
		stop := time.Now().Add(d)
		for w := range n {
			wg.Go(func() {
				for i := 0; time.Now().Before(stop); i++ {
					_, err := pool.Exec(ctx, `INSERT INTO bench_raw (event_id, stream_id, stream_version, org_id, event_type, data, metadata)
					VALUES (gen_random_uuid(), $1, 1, gen_random_uuid(), 'UserCreated', $2, '{}')`,
						fmt.Sprintf("raw-%d-%d-%d", w, i, time.Now().UnixNano()), `{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`)
					if err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
	})
	if firstErr != nil {
		return 0, fmt.Errorf("raw insert: %w", firstErr)
	}
	return float64(done.Load()) / d.Seconds(), nil
}

// serveProcess is `gatehouse serve` started by the benchmark.
type serveProcess struct {
	cmd   *exec.Cmd
	base  string
	debug string
}

func startServe(ctx context.Context, self, dbURL string) (*serveProcess, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	debugAddr := dl.Addr().String()
	dl.Close()
	cmd := exec.CommandContext(ctx, self, "serve", "--addr", addr, "--debug-addr", debugAddr)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serveProcess{cmd: cmd, base: "http://" + addr, debug: "http://" + debugAddr}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("gatehouse serve did not become ready within 60 s")
}

// profile saves the server's CPU profile over d.
func (s *serveProcess) profile(path string, d time.Duration, logf func(string, ...any)) {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.debug, max(1, int(d.Seconds()))))
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		logf("profile: %v", err)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		logf("profile: %v", err)
		return
	}
	logf("server CPU profile written to %s (go tool pprof -top %s)", path, path)
}

func (s *serveProcess) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func runSelf(ctx context.Context, self, dbURL string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_LOG_LEVEL=warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gatehouse %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return outb, nil
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// vacuumWithoutAutovacuum does what autovacuum would have done by now, on
// a server where it is off: the commands phase left over a hundred
// thousand rows in tables that were empty when their statistics were
// last gathered (never), and the read models' and the checks' plans were
// chosen for empty tables.
func vacuumWithoutAutovacuum(ctx context.Context, admin *pgx.Conn, after string, logf func(string, ...any)) (bool, error) {
	var on string
	if err := admin.QueryRow(ctx, `SHOW autovacuum`).Scan(&on); err != nil {
		return false, fmt.Errorf("show autovacuum: %w", err)
	}
	if on == "on" {
		return false, nil
	}
	start := time.Now()
	if _, err := admin.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return false, fmt.Errorf("vacuum: %w", err)
	}
	logf("autovacuum is off on this server: VACUUM ANALYZE after %s took %s", after, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// waitCaughtUp waits until every consumer group has reached the head of
// the log, so that one measurement does not pay for the last one's backlog.
func waitCaughtUp(ctx context.Context, admin *pgx.Conn, logf func(string, ...any)) error {
	start := time.Now()
	first := int64(-1)
	for {
		var behind int64
		// Counted in commit order (see projections.Position.Lag); no JIT for
		// a count that is mostly zero.
		if _, err := admin.Exec(ctx, `SET jit = off; SET enable_seqscan = off`); err != nil {
			return fmt.Errorf("read projection positions: %w", err)
		}
		err := admin.QueryRow(ctx, `SELECT coalesce(max((SELECT count(*) FROM events e
			WHERE (e.transaction_id, e.position) > (o.last_processed_transaction_id, coalesce(o.offset_acked, 0)))), 0)
			FROM watermill_offsets_events o`).Scan(&behind)
		if err != nil {
			return fmt.Errorf("read projection positions: %w", err)
		}
		if first < 0 {
			first = behind
		}
		if behind == 0 {
			if d := time.Since(start); d > time.Second {
				logf("read models caught up in %s (%d events behind at first: %.0f events/s)", d.Round(time.Millisecond), first, float64(first)/d.Seconds())
			}
			return nil
		}
		if time.Since(start) > 10*time.Minute {
			return fmt.Errorf("read models still %d events behind after 10 minutes", behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
