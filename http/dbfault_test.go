package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/migrations/dbtest"
)

// TestDatabaseOutage takes the service's database away under load — every
// connection terminated and new ones refused, as during a PostgreSQL
// restart — and brings it back. Meanwhile the service must answer 503
// problems with Retry-After (never a 500), /readyz must say so, and
// afterwards it must recover by itself: every client retry with the same
// Idempotency-Key succeeds, each acknowledged command is stored exactly
// once, and the read model catches up.
func TestDatabaseOutage(t *testing.T) {
	h := newHarness(t)
	o := h.newOrg("outage")
	companyID := o.setup()
	dbName := h.pool.Config().ConnConfig.Database

	admin, err := pgx.Connect(context.Background(), dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	allowConnections := func(allow bool) {
		t.Helper()
		if _, err := admin.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t`, pgx.Identifier{dbName}.Sanitize(), allow)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { allowConnections(true) })

	const clients, perClient = 8, 40
	var (
		unavailable atomic.Int64
		acked       sync.Map // email → user id
		wg          sync.WaitGroup
		failures    = make(chan string, clients*perClient)
	)
	client := &http.Client{Timeout: 10 * time.Second}
	createUntilAcknowledged := func(c, i int) {
		email := fmt.Sprintf("outage-%d-%d@example.com", c, i)
		body, _ := json.Marshal(map[string]any{"first_name": "Out", "last_name": "Age", "email": email, "company_id": companyID, "portal_access": true})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/orgs/"+o.id+"/users", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+o.token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", email)
			resp, err := client.Do(req)
			if err != nil {
				failures <- fmt.Sprintf("%s: transport error %v", email, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated:
				var u struct{ ID string }
				_ = json.Unmarshal(b, &u)
				acked.Store(email, u.ID)
				return
			case http.StatusServiceUnavailable:
				unavailable.Add(1)
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
					failures <- fmt.Sprintf("%s: 503 without Retry-After or problem body: %v %s", email, resp.Header, b)
					return
				}
				time.Sleep(50 * time.Millisecond)
			default:
				failures <- fmt.Sprintf("%s: %d %s", email, resp.StatusCode, b)
				return
			}
		}
		failures <- email + ": not acknowledged within 30 s of retries"
	}
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				createUntilAcknowledged(c, i)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	time.Sleep(300 * time.Millisecond) // load is running
	allowConnections(false)
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
		t.Fatal(err)
	}
	readyDuringOutage := h.do("GET", "/readyz", "", nil)
	time.Sleep(time.Second)
	allowConnections(true)

	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if readyDuringOutage.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage answered %d %s, want 503", readyDuringOutage.status, readyDuringOutage.body)
	}
	if unavailable.Load() == 0 {
		t.Fatal("no request saw the outage; the test did not test anything")
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("/readyz after the outage: %d %s", r.status, r.body)
	}

	// Every acknowledged command is stored once.
	n := 0
	acked.Range(func(_, _ any) bool { n++; return true })
	if n != clients*perClient {
		t.Fatalf("%d of %d commands acknowledged", n, clients*perClient)
	}
	var stored, distinct int
	if err := h.pool.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT stream_id) FROM events WHERE org_id = $1 AND event_type = 'UserCreated'`, o.id).Scan(&stored, &distinct); err != nil {
		t.Fatal(err)
	}
	if stored != n || distinct != n {
		t.Fatalf("stored %d UserCreated events in %d streams for %d acknowledged commands", stored, distinct, n)
	}
	// The read model catches up by itself.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var visible int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM users_view WHERE org_id = $1`, o.id).Scan(&visible); err != nil {
			t.Fatal(err)
		}
		if visible == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("users read model holds %d of %d users 15 s after the outage", visible, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The hash chain, sealed by a projection through the outage, is whole.
	var orgEvents int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE org_id = $1`, o.id).Scan(&orgEvents); err != nil {
		t.Fatal(err)
	}
	for {
		v := o.staff("GET", "/audit/verify", nil).json(t)
		if v["ok"] != true {
			t.Fatalf("chain after the outage: %v", v)
		}
		if int(v["events"].(float64)) == orgEvents {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chain holds %v of %d events 15 s after the outage", v["events"], orgEvents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d commands acknowledged, %d answers were 503 during the outage", n, unavailable.Load())
}
