package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

// build compiles the binary once per test run.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The binary creates its database, migrates, serves, and stops cleanly on SIGTERM.
func TestBinaryServesAndStops(t *testing.T) {
	bin := build(t)
	// A database name that does not exist yet: serve must create it.
	dbURL := dbtest.NewDatabase(t)
	fresh := strings.Replace(dbURL, "gatehouse_t_", "gatehouse_fresh_", 1)
	t.Cleanup(func() { dropDatabase(t, fresh) })
	env := append(os.Environ(), "DATABASE_URL="+fresh)

	cmd := exec.Command(bin, "org", "create", "--name", "Acme Support", "--admin-email", "boss@acme.test")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("org create: %v", err)
	}
	var org struct {
		OrgID      string `json:"org_id"`
		Slug       string `json:"slug"`
		AdminToken string `json:"admin_token"`
	}
	if err := json.Unmarshal(out, &org); err != nil {
		t.Fatalf("org create printed %q", out)
	}
	if org.OrgID == "" || org.Slug != "acme-support" || len(org.AdminToken) < 40 {
		t.Fatalf("org create printed %s", out)
	}

	addr := freeAddr(t)
	var logs bytes.Buffer
	serve := exec.Command(bin, "serve", "--addr", addr)
	serve.Env = env
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill() //nolint:errcheck
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in time; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/orgs/%s/portal/enable", base, org.OrgID), nil)
	req.Header.Set("Authorization", "Bearer "+org.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("enable portal through the binary: %d", resp.StatusCode)
	}
	// Load is running when SIGTERM arrives: eight clients creating
	// companies back to back. Each answer must be a 2xx; once the server
	// stops accepting, requests fail at the transport, never with a 5xx.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	type outcome struct {
		acked     []string
		refused   int
		badAnswer string
	}
	outcomes := make(chan outcome, 8)
	for c := range 8 {
		go func() {
			var o outcome
			defer func() { outcomes <- o }()
			for i := 0; loadCtx.Err() == nil; i++ {
				name := fmt.Sprintf("Load %d-%d", c, i)
				req, _ := http.NewRequestWithContext(loadCtx, "POST", fmt.Sprintf("%s/v1/orgs/%s/companies", base, org.OrgID), strings.NewReader(`{"name":"`+name+`"}`))
				req.Header.Set("Authorization", "Bearer "+org.AdminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					o.refused++
					time.Sleep(20 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 201 {
					o.badAnswer = fmt.Sprintf("%s: %d", name, resp.StatusCode)
					return
				}
				o.acked = append(o.acked, name)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	// A slow request is in flight when SIGTERM arrives: its body trickles in.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"Slow Company"}`
	fmt.Fprintf(conn, "POST /v1/orgs/%s/companies HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		org.OrgID, addr, org.AdminToken, len(body), body[:5])
	time.Sleep(200 * time.Millisecond)
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	fmt.Fprint(conn, body[5:])
	slow, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v; logs:\n%s", err, logs.String())
	}
	slow.Body.Close()
	if slow.StatusCode != 201 {
		t.Fatalf("the in-flight request answered %d", slow.StatusCode)
	}
	// New connections are refused once draining.
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Log("note: a new request was still accepted during shutdown")
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	stopLoad()
	var acked []string
	for range 8 {
		o := <-outcomes
		if o.badAnswer != "" {
			t.Fatalf("a request under shutdown was answered %s", o.badAnswer)
		}
		acked = append(acked, o.acked...)
	}
	db, err := pgx.Connect(context.Background(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var stored int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = 'CompanyCreated' AND data->>'name' = ANY($1)`, acked).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(acked) < 10 || stored != len(acked) {
		t.Fatalf("%d companies acknowledged under load, %d stored", len(acked), stored)
	}
	t.Logf("%d commands acknowledged under load before and during shutdown, all stored", len(acked))
	if strings.Contains(logs.String(), org.AdminToken) {
		t.Fatal("the admin token appears in the logs")
	}
}

func TestBadFlagsExitWithCode2(t *testing.T) {
	bin := build(t)
	for _, args := range [][]string{
		{"serve", "--addr", "nonsense"},
		{"serve", "--public-url", "ftp://x"},
		{"serve", "--smtp-url", "http://mail"},
		{"serve", "--log-level", "loud"},
		{"serve", "--no-such-flag"},
		{"org", "create", "--name", "x"},
		{"serve", "--max-projection-lag", "0"},
		{"tokens", "create", "--org", "x"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable")
		out, err := cmd.CombinedOutput()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2; output %s", args, err, out)
		}
	}
	for _, env := range []string{
		"GATEHOUSE_ADDR=nonsense",
		"GATEHOUSE_PUBLIC_URL=ftp://x",
		"GATEHOUSE_SMTP_URL=http://mail",
		"GATEHOUSE_LOG_LEVEL=loud",
		"GATEHOUSE_EXPOSE_INVITE_LINKS=perhaps",
		"GATEHOUSE_MAX_PROJECTION_LAG=many",
	} {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable", env)
		out, err := cmd.CombinedOutput()
		exit, ok := err.(*exec.ExitError)
		name, value, _ := strings.Cut(env, "=")
		named := strings.Contains(string(out), name) && (name == "GATEHOUSE_SMTP_URL" || strings.Contains(string(out), value))
		if !ok || exit.ExitCode() != 2 || !named {
			t.Errorf("%s: exit %v, want 2 naming the value; output %s", env, err, out)
		}
	}
	help, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "GATEHOUSE_ADDR") || !strings.Contains(string(help), `default "127.0.0.1:8080"`) {
		t.Errorf("serve --help does not list flags with env and defaults: %v\n%s", err, help)
	}
	for _, args := range [][]string{{"--help"}, {"migrate", "--help"}, {"org", "create", "--help"}, {"tokens", "create", "--help"}, {"projections", "list", "--help"}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v %s", args, err, out)
		}
	}
}

func dropDatabase(t *testing.T, url string) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Error(err)
		return
	}
	name := cfg.Database
	cfg.Database = "postgres"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

// Given a server's subscribers listening, when the command line appends
// (org create), then the append is announced before the process ends (a
// lone append notifies in its transaction; one written beside others is
// announced by a goroutine after its commit, which the store's Close,
// called before the process ends, waits for).
func TestCommandLineAppendsAreAnnounced(t *testing.T) {
	bin := build(t)
	dbURL := dbtest.NewDatabase(t)
	ctx := context.Background()
	listener := dbtest.Listen(t, dbURL, eventstore.NotifyChannel)
	for i := range 3 {
		cmd := exec.Command(bin, "org", "create", "--name", fmt.Sprintf("Announced %d", i), "--admin-email", "boss@acme.test")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("org create: %v\n%s", err, out)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("org create %d ended without announcing its append: %v", i, err)
		}
	}
}
