package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

// BenchmarkAppend measures committed appends per second (one event each,
// with its NOTIFY) to one contended stream and to many streams, with group
// commit and, for comparison, with a transaction per append.
//
//	go test -run '^$' -bench Append -benchtime 5s ./eventstore
func BenchmarkAppend(b *testing.B) {
	for _, shape := range []string{"one-stream", "many-streams", "many-streams-no-group-commit"} {
		for _, writers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/writers=%d", shape, writers), func(b *testing.B) {
				url := dbtest.NewDatabase(b)
				cfg, err := pgxpool.ParseConfig(url)
				if err != nil {
					b.Fatal(err)
				}
				cfg.MaxConns = int32(writers)
				pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				store := eventstore.New(pool)
				if shape == "many-streams-no-group-commit" {
					store.WithoutGroupCommit()
				}
				defer store.Close()
				data := json.RawMessage(`{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`)
				var done, conflicts atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx := context.Background()
						stream := "one"
						version := 0
						if shape != "one-stream" {
							stream = uuid.NewString()
						}
						for done.Load() < int64(b.N) {
							_, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: version,
								Events: []eventstore.NewEvent{{ID: uuid.New(), Type: "UserCreated", Data: data}}})
							switch {
							case err == nil:
								version++
								done.Add(1)
							case errors.Is(err, eventstore.ErrConcurrencyConflict):
								conflicts.Add(1)
								if version, err = store.StreamVersion(ctx, stream); err != nil {
									b.Error(err)
									return
								}
							default:
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.ReportMetric(float64(done.Load())/elapsed.Seconds(), "appends/s")
				b.ReportMetric(float64(conflicts.Load())/float64(done.Load()), "conflicts/append")
			})
		}
	}
}
