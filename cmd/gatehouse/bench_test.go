package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/migrations/dbtest"
)

// The bench, shortened, runs (1)-(3) against the real server on a
// database of its own, writes its table with a measured figure in every
// cell that has one, and drops its database.
func TestBenchQuickWritesItsTable(t *testing.T) {
	bin := build(t)
	started := time.Now().UnixNano()
	table := runShortBench(t, bin, "--quick")
	positive := func(cell string) bool {
		v, err := strconv.ParseFloat(strings.Fields(cell)[0], 64)
		return err == nil && v > 0
	}
	for _, n := range []string{"1", "4", "16", "64"} {
		row := regexp.MustCompile(`(?m)^\| ` + n + ` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$`).FindStringSubmatch(table)
		if row == nil {
			t.Fatalf("no row for %s clients in\n%s", n, table)
		}
		raw, cmds, ratio, p50 := row[1], row[2], row[3], row[4]
		if !positive(cmds) || !positive(p50) {
			t.Errorf("%s clients: commands %q, p50 %q", n, cmds, p50)
		}
		if n != "64" && (!positive(raw) || !positive(ratio)) {
			t.Errorf("%s clients: raw %q, ratio %q", n, raw, ratio)
		}
	}
	lag := regexp.MustCompile(`(?m)^\| ([0-9.]+) \([^)]*\) \| ([0-9.]+) `).FindStringSubmatch(table[strings.Index(table, "(3) Projection lag"):])
	if lag == nil || !positive(lag[1]) || !positive(lag[2]) {
		t.Errorf("no projection lag measured in\n%s", table)
	}
	if !strings.Contains(table, "CPU per operation") {
		t.Errorf("no CPU table in\n%s", table)
	}
	// Its database is gone.
	assertNoBenchDatabaseSince(t, started)
}

// The whole bench, shortened, measures (4)-(6) on a database that holds
// the generated log and nothing else: not the users (2) and (3) created.
// Both its databases are dropped.
func TestBenchMeasuresAtScaleOnTheGeneratedLogAlone(t *testing.T) {
	bin := build(t)
	started := time.Now().UnixNano()
	table := runShortBench(t, bin, "--users", "200")
	if !strings.Contains(table, "## Commands against the machine's limit") || !strings.Contains(table, "(3) Projection lag") {
		t.Errorf("no commands or lag measured in\n%s", table)
	}
	m := regexp.MustCompile(`generated log of (\d+) events`).FindStringSubmatch(table)
	if m == nil {
		t.Fatalf("no at-scale section in\n%s", table)
	}
	benchEvents, _ := strconv.ParseInt(m[1], 10, 64)

	// The same generation alone in a database of its own.
	alone := dbtest.NewDatabase(t)
	for _, spec := range [][]string{{"--users", "200", "--companies", "500", "--seed", "1"}, {"--users", "20", "--companies", "50", "--seed", "2"}} {
		gen := exec.Command(bin, append([]string{"generate", "--orgs", "1"}, spec...)...)
		gen.Env = append(os.Environ(), "DATABASE_URL="+alone, "GATEHOUSE_LOG_LEVEL=warn")
		if log, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("generate: %v\n%s", err, log)
		}
	}
	conn, err := pgx.Connect(context.Background(), alone)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var generated int64
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&generated); err != nil {
		t.Fatal(err)
	}
	if benchEvents != generated {
		t.Errorf("(4) measured a log of %d events; the generator alone writes %d", benchEvents, generated)
	}
	for _, row := range []string{"(4) rebuild users", "(4) rebuild every read model", "(5) export", "(6) GET /access/{id} at 16 clients, p99 ms"} {
		cell := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(row) + `[^|]*\| ([0-9.]+) `).FindStringSubmatch(table)
		if cell == nil {
			t.Errorf("no figure for %q in\n%s", row, table)
			continue
		}
		if v, err := strconv.ParseFloat(cell[1], 64); err != nil || v <= 0 {
			t.Errorf("%s: %q", row, cell[1])
		}
	}
	assertNoBenchDatabaseSince(t, started)
}

// runShortBench runs the bench with one short repetition of everything,
// and args, and returns its table.
func runShortBench(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.md")
	cmd := exec.Command(bin, append([]string{"bench", "--reps", "1", "--duration", "300ms", "--warmup", "100ms",
		"--lag-duration", "1s", "--lag-rate", "50", "--out", out, "--profile", ""}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbtest.NewDatabase(t))
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, log)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoBenchDatabaseSince fails if a bench started after started left
// its database behind.
func assertNoBenchDatabaseSince(t *testing.T, started int64) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT datname FROM pg_database WHERE datname LIKE 'gatehouse_bench_%'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if ts, err := strconv.ParseInt(strings.TrimPrefix(name, "gatehouse_bench_"), 10, 64); err == nil && ts >= started {
			t.Errorf("the bench left its database %s", name)
		}
	}
}
