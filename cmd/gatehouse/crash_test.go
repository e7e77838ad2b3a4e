package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/migrations/dbtest"
	"gatehouse/notify/smtptest"
)

// server runs the built binary and restarts it at will.
type server struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	logs bytes.Buffer
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "serve", "--addr", s.addr, "--public-url", "http://portal.test")
	s.cmd.Env = s.env
	s.cmd.Stderr = &s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("not ready; logs:\n%s", s.logs.String())
}

// TestCrashConsistency drives 16 clients through 5,000 commands, kills the
// server with SIGKILL in the middle and restarts it. Clients retry with the
// same Idempotency-Key until they get an answer. Then: every acknowledged
// command's events are stored, none twice; the read model caught up equals
// a rebuild from scratch; no invitation email was sent twice.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the binary through 5,000 commands")
	}
	bin := build(t)
	dbURL := dbtest.NewDatabase(t)
	box := smtptest.New(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "GATEHOUSE_SMTP_URL=smtp://"+box.Addr,
		"GATEHOUSE_SECRET_KEY="+base64.StdEncoding.EncodeToString(key), "GATEHOUSE_LOG_LEVEL=warn")
	create := exec.Command(bin, "org", "create", "--name", "Crash Co", "--admin-email", "boss@crash.test")
	create.Env = env
	out, err := create.Output()
	if err != nil {
		t.Fatal(err)
	}
	var org struct {
		OrgID      string `json:"org_id"`
		AdminToken string `json:"admin_token"`
	}
	_ = json.Unmarshal(out, &org)
	s := &server{t: t, bin: bin, env: env, addr: freeAddr(t)}
	s.start()
	defer func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() }()
	client := &http.Client{Timeout: 10 * time.Second}
	api := "http://" + s.addr + "/v1/orgs/" + org.OrgID
	call := func(method, path, key string, body any) (int, []byte, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, api+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+org.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data, nil
	}
	call("POST", "/portal/enable", "", nil)
	_, data, _ := call("POST", "/companies", "", map[string]any{"name": "Globex"})
	var company struct{ ID string }
	_ = json.Unmarshal(data, &company)
	call("POST", "/companies/"+company.ID+"/portal/activate", "", nil)

	const total, clients = 5000, 16
	var next, acked atomic.Int64
	var mu sync.Mutex
	ids := map[int]string{}
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				body := map[string]any{"first_name": "Load", "last_name": fmt.Sprint(i), "email": fmt.Sprintf("u%d@load.test", i),
					"company_id": company.ID, "send_invite": i%10 == 0}
				for attempt := 0; ; attempt++ {
					status, data, err := call("POST", "/users", fmt.Sprintf("load-%d", i), body)
					if err == nil && status == 201 {
						var u struct{ ID string }
						_ = json.Unmarshal(data, &u)
						mu.Lock()
						ids[i] = u.ID
						mu.Unlock()
						acked.Add(1)
						break
					}
					if err == nil && status < 500 && status != 503 {
						t.Errorf("command %d answered %d: %s", i, status, data)
						return
					}
					if attempt > 600 {
						t.Errorf("command %d never answered: %v %d", i, err, status)
						return
					}
					time.Sleep(50 * time.Millisecond) // the server is down or restarting
				}
			}
		}()
	}
	for acked.Load() < total/2 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
	killedAt := acked.Load()
	s.start()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Every acknowledged command is stored, none twice.
	var created, reserved int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_type = 'UserCreated'`).Scan(&created)
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM email_reservations`).Scan(&reserved)
	if len(ids) != total || created != total || reserved != total {
		t.Fatalf("%d acknowledged, %d UserCreated, %d reservations; want %d each", len(ids), created, reserved, total)
	}
	for i, id := range ids {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'UserCreated'`, "user-"+id).Scan(&n)
		if n != 1 {
			t.Fatalf("command %d (user %s) stored %d times", i, id, n)
		}
	}
	// Every read model catches up; users equals a rebuild from scratch.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var behind int
		// Caught up is at the last event in commit order, where offsets end
		// (the highest position may have committed first).
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM watermill_offsets_events o
			WHERE o.offset_acked <> (SELECT position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1)`).Scan(&behind)
		var sent int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM mail_deliveries`).Scan(&sent)
		if behind == 0 && sent == total/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %d groups behind, %d of %d emails dealt with", behind, sent, total/10)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !usersEqualRebuild(t, conn, bin, env) {
		t.Fatal("the read model differs from a rebuild after the crash")
	}
	// No invitation email twice. A crash between the SMTP server's
	// acceptance and the outcome's commit (the documented window) repeats
	// the same message, with the same Message-ID; a second, different
	// message would be a defect. Repeats are counted and reported.
	repeats := 0
	for i := 10; i <= total; i += 10 {
		msgs := box.To(fmt.Sprintf("u%d@load.test", i))
		ids := map[string]bool{}
		for _, m := range msgs {
			for _, line := range strings.Split(m.Data, "\r\n") {
				if strings.HasPrefix(line, "Message-ID: ") {
					ids[line] = true
				}
			}
		}
		if len(msgs) == 0 || len(ids) != 1 {
			t.Fatalf("u%d got %d emails with %d message ids", i, len(msgs), len(ids))
		}
		repeats += len(msgs) - 1
	}
	t.Logf("crash test: %d commands sent, %d acknowledged (%d before the kill), %d stored; %d emails for %d invitations, %d repeated by the crash window",
		total, len(ids), killedAt, created, box.Count(), total/10, repeats)
}

// usersEqualRebuild reports whether the users read model is not empty and
// equals what `gatehouse projections rebuild users` makes of the log.
func usersEqualRebuild(t *testing.T, conn *pgx.Conn, bin string, env []string) bool {
	t.Helper()
	snapshot := func() string {
		var s string
		if err := conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(to_jsonb(u)::text, E'\n' ORDER BY user_id), '') FROM users_view u`).Scan(&s); err != nil {
			t.Fatalf("snapshot users: %v", err)
		}
		return s
	}
	live := snapshot()
	rebuild := exec.Command(bin, "projections", "rebuild", "users")
	rebuild.Env = env
	if out, err := rebuild.CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v %s", err, out)
	}
	return live != "" && snapshot() == live
}
