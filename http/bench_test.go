package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/migrations/dbtest"
)

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
}

func createUserRequest(b testing.TB, url, token, company string, n int64) *http.Request {
	body := fmt.Sprintf(`{"first_name":"Ada","last_name":"Lovelace %d","email":"user%d@globex.test","company_id":%q,"portal_access":true}`, n, n, company)
	req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// BenchmarkCreateUserHTTP measures POST /users commands per second over
// real HTTP against the real router, command handlers and PostgreSQL, with
// the projections running, at 1, 4 and 16 concurrent clients.
//
//	go test -run '^$' -bench CreateUserHTTP -benchtime 5s ./http
func BenchmarkCreateUserHTTP(b *testing.B) {
	for _, clients := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			pool, _ := dbtest.NewPool(b)
			h := newHarnessOn(b, pool, false)
			o := h.newOrg("bench")
			company := o.setup()
			client := benchClient()
			url := h.url + "/v1/orgs/" + o.id + "/users"
			var next, done atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						resp, err := client.Do(createUserRequest(b, url, o.token, company, n))
						if err != nil {
							b.Error(err)
							return
						}
						// Read to the end, or the connection is not reused and
						// every request would pay for a new one.
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 201 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
						done.Add(1)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "commands/s")
		})
	}
}

// BenchmarkProjectionLag sends POST /users at a steady 200 commands/s for
// 10 s and measures, for each user, the time from the command's 2xx answer
// to its row being visible in the users read model (polled every 1 ms).
// It runs the same fixed load whatever b.N is; run it with -benchtime 1x.
//
//	go test -run '^$' -bench ProjectionLag -benchtime 1x ./http
func BenchmarkProjectionLag(b *testing.B) {
	const rate, duration = 200, 10 * time.Second
	pool, _ := dbtest.NewPool(b)
	h := newHarnessOn(b, pool, false)
	o := h.newOrg("lag")
	company := o.setup()
	client := benchClient()
	url := h.url + "/v1/orgs/" + o.id + "/users"

	type pending struct {
		id       string
		answered time.Time
	}
	var mu sync.Mutex
	waiting := map[string]time.Time{}
	var lags []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	pollerDone := make(chan struct{})
	go func() { // one poller for all outstanding users
		defer close(pollerDone)
		for ctx.Err() == nil || len(waiting) > 0 {
			mu.Lock()
			ids := make([]string, 0, len(waiting))
			for id := range waiting {
				ids = append(ids, id)
			}
			mu.Unlock()
			if len(ids) > 0 {
				rows, err := h.pool.Query(context.Background(), `SELECT user_id::text FROM users_view WHERE user_id = ANY($1::uuid[])`, ids)
				if err != nil {
					b.Error(err)
					return
				}
				seen := time.Now()
				for rows.Next() {
					var id string
					_ = rows.Scan(&id)
					mu.Lock()
					lags = append(lags, seen.Sub(waiting[id]))
					delete(waiting, id)
					mu.Unlock()
				}
				rows.Close()
			} else if ctx.Err() != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	b.ResetTimer()
	ticker := time.NewTicker(time.Second / rate)
	defer ticker.Stop()
	var wg sync.WaitGroup
	var n int64
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		<-ticker.C
		n++
		wg.Add(1)
		go func(n int64) {
			defer wg.Done()
			resp, err := client.Do(createUserRequest(b, url, o.token, company, n))
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			answered := time.Now()
			if resp.StatusCode != 201 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			var created struct {
				ID string `json:"id"`
			}
			if err := jsonDecode(resp, &created); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			waiting[created.ID] = answered
			mu.Unlock()
		}(n)
	}
	wg.Wait()
	cancel()
	<-pollerDone
	b.StopTimer()
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) == 0 {
		b.Fatal("no lag measured")
	}
	q := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lags)), "commands")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
