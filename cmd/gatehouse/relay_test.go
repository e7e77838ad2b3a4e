package main_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"gatehouse/migrations/dbtest"
)

// TestRelayKilledDuringABurst: the relay process is killed with SIGKILL
// while a burst of events is being written, and started again. Every
// event reaches the bus exactly once: JetStream drops the copies a
// restarted relay publishes again (same event id as message id).
func TestRelayKilledDuringABurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	dbURL := dbtest.NewDatabase(t)
	url, stream, subject, js := testStream(t, "relay")

	env := append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_LOG_LEVEL=warn")
	startRelay := func() *exec.Cmd {
		cmd := exec.Command(bin, "relay", "--nats-url", url, "--nats-stream", stream, "--nats-subject", subject, "--partitions", "4")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	relay := startRelay()
	defer func() { _ = relay.Process.Kill(); _, _ = relay.Process.Wait() }()

	// The burst: a generated history written straight into the log.
	gen := exec.Command(bin, "generate", "--orgs", "4", "--users", "400", "--companies", "10")
	gen.Env = env
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Kill the relay once it has relayed part of the burst.
	deadline := time.Now().Add(time.Minute)
	for {
		var relayed int64
		_ = conn.QueryRow(ctx, `SELECT coalesce((SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = 'nats-relay'), 0)`).Scan(&relayed)
		if relayed > 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay relayed nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := relay.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = relay.Process.Wait()
	if err := gen.Wait(); err != nil {
		t.Fatalf("generate: %v", err)
	}
	relay = startRelay()

	var events int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		var head, relayed int64
		// The last event in commit order, where offsets end (the highest
		// position may have committed first).
		_ = conn.QueryRow(ctx, `SELECT (SELECT position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1),
			coalesce((SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = 'nats-relay'), 0)`).Scan(&head, &relayed)
		if head == relayed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay at %d of %d after the restart", relayed, head)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != events {
		t.Fatalf("%d events stored, %d messages on the bus", events, info.State.Msgs)
	}
	// Each event once, by id.
	sub, err := js.SubscribeSync(subject+".>", nats.OrderedConsumer(), nats.BindStream(stream))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range events {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("read the bus: %v", err)
		}
		id := m.Header.Get(wnats.WatermillUUIDHdr)
		if seen[id] {
			t.Fatalf("event %s twice on the bus", id)
		}
		seen[id] = true
	}
	rows, err := conn.Query(ctx, `SELECT event_id::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("event %s missing from the bus", id)
		}
	}
	t.Logf("%d events, each once on the bus after a SIGKILL of the relay mid-burst", events)
}

// testStream names a JetStream stream and subject prefix of the test's
// own on the NATS server of NATS_URL (default 127.0.0.1:4222), deleted (with
// its lease bucket) at the end.
func testStream(t *testing.T, kind string) (url, stream, subject string, js nats.JetStreamContext) {
	url = os.Getenv("NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	stream, subject = "GH"+strings.ToUpper(kind)+"_"+id, "gh"+kind+id+".events"
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = nc.JetStream(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(stream); _ = js.DeleteKeyValue(stream + "_LEASES") })
	return url, stream, subject, js
}
