package projections_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// BenchmarkBus measures the NATS path:
//
//   - throughput: a generated backlog of events through relay → JetStream →
//     one or two workers running every read model, events/s until caught up;
//
//   - lag: commands at a steady 500/s with two workers, from the command's
//     return to its UserCreated being committed in the read models.
//
//     go test -run '^$' -bench Bus -benchtime 1x ./projections
func BenchmarkBus(b *testing.B) {
	url := natsURL()
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("throughput/workers=%d", workers), func(b *testing.B) {
			for range b.N {
				s := newBusSite(b, testBus(b, url), 0)
				if _, _, err := s.app.GenerateHistory(context.Background(), commands.GenerateSpec{Orgs: 8, CompaniesPerOrg: 20, UsersPerOrg: 400, Seed: 1}); err != nil {
					b.Fatal(err)
				}
				var events int
				if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events); err != nil {
					b.Fatal(err)
				}
				log := newAppliedLog()
				start := time.Now()
				s.startRelay()
				for w := range workers {
					s.startWorker(fmt.Sprint(w), log)
				}
				s.caughtUp(url, 10*time.Minute)
				b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(events), "events")
			}
		})
	}
	b.Run("lag/500-per-second/workers=2", func(b *testing.B) {
		for range b.N {
			s := newBusSite(b, testBus(b, url), 20)
			var mu sync.Mutex
			returned := map[string]time.Time{} // user stream → when the command returned
			var lags []time.Duration
			log := newAppliedLog()
			hook := func(name string) func(int, eventstore.RecordedEvent) {
				inner := log.hook(name)
				return func(p int, e eventstore.RecordedEvent) {
					inner(p, e)
					if e.Type != "UserCreated" {
						return
					}
					at := time.Now()
					mu.Lock()
					defer mu.Unlock()
					if r, ok := returned[e.StreamID]; ok {
						lags = append(lags, at.Sub(r))
						delete(returned, e.StreamID)
					} else {
						returned[e.StreamID] = at // applied before the command returned
					}
				}
			}
			s.startRelay()
			s.startWorkerHook("a", hook("a"))
			s.startWorkerHook("b", hook("b"))
			const rate, seconds = 500, 10
			var returnedCount atomic.Int64
			ticker := time.NewTicker(time.Second / rate)
			var wg sync.WaitGroup
			start := time.Now()
			for i := 0; time.Since(start) < seconds*time.Second; i++ {
				<-ticker.C
				wg.Go(func() {
					o := s.orgs[i%len(s.orgs)]
					u, err := s.app.CreateUser(context.Background(), s.meta(o.id), commands.CreateUser{FirstName: "Ada", LastName: "Lovelace",
						Email: fmt.Sprintf("lag-%d@example.com", i), CompanyID: o.company, PortalAccess: true})
					if err != nil {
						b.Error(err)
						return
					}
					now := time.Now()
					returnedCount.Add(1)
					mu.Lock()
					defer mu.Unlock()
					stream := domain.UserID(u.ID).Stream()
					if _, ok := returned[stream]; ok {
						lags = append(lags, 0) // applied before the command returned
						delete(returned, stream)
					} else {
						returned[stream] = now
					}
				})
			}
			ticker.Stop()
			wg.Wait()
			achieved := float64(returnedCount.Load()) / time.Since(start).Seconds()
			s.caughtUp(url, 5*time.Minute)
			mu.Lock()
			slices.Sort(lags)
			q := func(f float64) float64 { return float64(lags[int(f*float64(len(lags)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(lags[len(lags)-1])/float64(time.Millisecond), "max-ms")
			b.ReportMetric(achieved, "commands/s")
			mu.Unlock()
		}
	})
}
