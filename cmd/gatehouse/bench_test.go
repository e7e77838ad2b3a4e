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
	out := filepath.Join(t.TempDir(), "results.md")
	cmd := exec.Command(bin, "bench", "--quick", "--reps", "1", "--duration", "300ms", "--warmup", "100ms",
		"--lag-duration", "1s", "--lag-rate", "50", "--out", out, "--profile", "")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbtest.NewDatabase(t))
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, log)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	table := string(b)
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
