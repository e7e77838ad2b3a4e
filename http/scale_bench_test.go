package http_test

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"gatehouse/commands"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// BenchmarkReadModelsAtScale generates one organization with 100,000 users
// (about 900,000 events; GATEHOUSE_BENCH_USERS changes the number),
// rebuilds the read models, then measures GET /users?q= latency at one
// client and GET /access/{id} latency at 16 concurrent clients, over real
// HTTP. Run it once:
//
//	go test -run '^$' -bench ReadModelsAtScale -benchtime 1x -timeout 30m ./http
func BenchmarkReadModelsAtScale(b *testing.B) {
	users := 100000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_USERS")); err == nil && v > 0 {
		users = v
	}
	ctx := context.Background()
	pool, _ := dbtest.NewPool(b)
	store := eventstore.New(pool)
	app := commands.New(commands.Deps{Store: store})
	orgs, events, err := app.GenerateHistory(ctx, commands.GenerateSpec{Orgs: 1, UsersPerOrg: users, CompaniesPerOrg: 500, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	var rebuildRate float64
	for _, p := range projections.All(store) {
		res, err := projections.Rebuild(ctx, store, p, nil)
		if err != nil {
			b.Fatal(err)
		}
		if p.Name() == "users" {
			rebuildRate = float64(events) / res.Duration.Seconds()
		}
	}
	h := newHarnessOn(b, pool, false)
	o := &org{h: h, id: string(orgs[0].OrgID), slug: orgs[0].Slug, token: orgs[0].AdminToken}
	rows, err := pool.Query(ctx, `SELECT user_id::text FROM users_view ORDER BY random() LIMIT 2000`)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	client := benchClient()
	get := func(path string) time.Duration {
		req, _ := http.NewRequest("GET", h.url+"/v1/orgs/"+o.id+path, nil)
		req.Header.Set("Authorization", "Bearer "+o.token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 32<<10)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return time.Since(start)
	}
	// Settle the database first, so autovacuum of the fresh log does not
	// run during the measurement, and warm the connections and caches.
	for _, table := range []string{"events", "users_view"} {
		if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) `+table); err != nil {
			b.Fatal(err)
		}
	}
	terms := []string{"lovelace", "user0.4", "zo%C3%AB", "company12.test", "hopper-3", "nobody-matches"}
	for i := 0; i < 30; i++ {
		get("/users?limit=50&q=" + terms[i%len(terms)])
		get("/access/" + ids[i])
	}
	b.ResetTimer()
	var search []time.Duration
	for i := 0; i < 300; i++ {
		search = append(search, get("/users?limit=50&q="+terms[i%len(terms)]))
	}
	var mu sync.Mutex
	var access []time.Duration
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 500)
			for i := 0; i < 500; i++ {
				local = append(local, get("/access/"+ids[(c*500+i)%len(ids)]))
			}
			mu.Lock()
			access = append(access, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Point-in-time access: one person at a random instant of the history,
	// and the whole organization at the end of it.
	var first, last time.Time
	if err := pool.QueryRow(ctx, `SELECT min(recorded_at), max(recorded_at) FROM events`).Scan(&first, &last); err != nil {
		b.Fatal(err)
	}
	var auditOne, auditAll []time.Duration
	for i := 0; i < 200; i++ {
		at := first.Add(time.Duration(rand.Int63n(int64(last.Sub(first)))))
		auditOne = append(auditOne, get("/audit/access?user_id="+ids[i]+"&at="+at.UTC().Format(time.RFC3339Nano)))
	}
	for i := 0; i < 10; i++ {
		auditAll = append(auditAll, get("/audit/access?at="+last.UTC().Format(time.RFC3339Nano)))
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report("search", search)
	report("access16", access)
	report("audit-one", auditOne)
	report("audit-all", auditAll)
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(rebuildRate, "rebuild-events/s")
	fmt.Fprintf(os.Stderr, "users=%d events=%d\n", users, events)
}
