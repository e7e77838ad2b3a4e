package main_test

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/migrations/dbtest"
)

// TestWorkerKilledWithSIGKILL: two worker processes share the bus; one is
// killed with SIGKILL mid-stream, so its partition leases are not handed
// over but expire. The survivor takes its partitions over, and in the end
// every event was applied exactly once (the per-partition counters kept in
// the read models' transactions add up to the log) and the users read
// model equals a rebuild from scratch.
func TestWorkerKilledWithSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	dbURL := dbtest.NewDatabase(t)
	url, stream, subject, _ := testStream(t, "work")
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_LOG_LEVEL=warn")
	bus := []string{"--nats-url", url, "--nats-stream", stream, "--nats-subject", subject, "--partitions", "6"}
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append(args, bus...)...)
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		return cmd
	}
	gen := exec.Command(bin, "generate", "--orgs", "6", "--users", "250", "--companies", "10")
	gen.Env = env
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate: %v %s", err, out)
	}
	start("relay")
	a := start("worker", "--lease-ttl", "2s")
	start("worker", "--lease-ttl", "2s")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var events int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	applied := func() int64 {
		var n int64
		_ = conn.QueryRow(ctx, `SELECT coalesce(sum(applied), 0) FROM bus_positions WHERE consumer_group = 'read-models'`).Scan(&n)
		return n
	}
	deadline := time.Now().Add(2 * time.Minute)
	for applied() < events/4 {
		if time.Now().After(deadline) {
			t.Fatalf("workers applied only %d of %d events", applied(), events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = a.Process.Wait()
	deadline = time.Now().Add(5 * time.Minute)
	for applied() < events {
		if time.Now().After(deadline) {
			t.Fatalf("after the kill, %d of %d events applied", applied(), events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // anything applied twice would show now
	if n := applied(); n != events {
		t.Fatalf("%d events, %d applications", events, n)
	}
	if !usersEqualRebuild(t, conn, bin, env) {
		t.Fatal("the users read model fed by the workers differs from a rebuild")
	}
	t.Logf("%d events applied exactly once by two workers, one of them SIGKILLed halfway", events)
}
