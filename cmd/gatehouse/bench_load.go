package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// benchSite is an organization with an enabled portal and one active
// company on the server under test, driven over HTTP.
type benchSite struct {
	base, org, token, company string
	client                    *http.Client
}

func newBenchSite(ctx context.Context, self, dbURL, base, name string) (*benchSite, error) {
	outb, err := runSelf(ctx, self, dbURL, "org", "create", "--name", name, "--admin-email", "bench@example.com")
	if err != nil {
		return nil, err
	}
	var o generatedOrg
	if err := json.Unmarshal(outb, &o); err != nil {
		return nil, fmt.Errorf("org create printed %q: %w", outb, err)
	}
	s := &benchSite{base: base, org: o.OrgID, token: o.AdminToken, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 30 * time.Second}}
	if _, err := s.call(ctx, http.MethodPost, "/portal/enable", nil, http.StatusOK); err != nil {
		return nil, err
	}
	body, err := s.call(ctx, http.MethodPost, "/companies", map[string]any{"name": "Globex"}, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var c struct{ ID string }
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	s.company = c.ID
	if _, err := s.call(ctx, http.MethodPost, "/companies/"+c.ID+"/portal/activate", nil, http.StatusOK); err != nil {
		return nil, err
	}
	return s, nil
}

// call makes one staff API request and checks its status.
func (s *benchSite) call(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+"/v1/orgs/"+s.org+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

// newUser is the body of POST /users in (2) and (3).
func (s *benchSite) newUser(email string) map[string]any {
	return map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": email,
		"company_id": s.company, "portal_access": true, "send_invite": true}
}

// createUsers runs n clients creating and inviting users back to back for
// d, each over a keep-alive connection of its own (keepAliveConn).
func (s *benchSite) createUsers(ctx context.Context, n int, d time.Duration, tag string) (float64, *latencies, error) {
	path := "/v1/orgs/" + s.org + "/users"
	lat, rate, err := connLoop(s.base, n, d, func(c *keepAliveConn, client, i int) error {
		return c.expect(ctx, http.MethodPost, path, s.token, s.newUser(fmt.Sprintf("%s-%d-%d@bench.example.com", tag, client, i)), http.StatusCreated)
	})
	return rate, lat, err
}

// connLoop is closedLoop with each of the n clients asking over a
// keep-alive connection of its own (keepAliveConn).
func connLoop(base string, n int, d time.Duration, ask func(c *keepAliveConn, client, i int) error) (*latencies, float64, error) {
	conns := make([]*keepAliveConn, n)
	for i := range conns {
		c, err := newKeepAliveConn(base)
		if err != nil {
			return nil, 0, err
		}
		conns[i] = c
		defer c.close()
	}
	return closedLoop(n, d, func(client, i int) error { return ask(conns[client], client, i) })
}

// lagSampleEvery is how many commands the lag measurement sends per
// command it watches. Each check is a substring search over the
// organization's users; watching every command at 500/s would make the
// checks, not the commands, the load on a small machine.
const lagSampleEvery = 10

// lagFineChecks is how long after its 2xx a watched user is checked every
// millisecond, before every 5 ms: well beyond the 20 ms the target
// names, so that the steps do not round a lag near it up by up to 5 ms.
const lagFineChecks = 50 * time.Millisecond

// lagChecksInFlight bounds the checks of the lag measurement.
const lagChecksInFlight = 4

// projectionLag sends commands at rate for d and, for every
// lagSampleEvery-th, measures from its 2xx until GET /users?q=<email>
// lists the user. Checks are every millisecond for the first 50 ms, then
// every 5 ms, then every 50 ms after a second, at most lagChecksInFlight at
// a time. At most 64 commands are in
// flight, so beyond the service's capacity the rate achieved falls short
// of the rate asked for (and says so). It returns the rate achieved and
// how many watched users were not visible within a minute (their lag is
// not in the figures).
func (s *benchSite) projectionLag(ctx context.Context, rate int, d time.Duration, tag string) (lagRun, error) {
	before, err := s.readModelLag(ctx)
	if err != nil {
		return lagRun{}, err
	}
	lag, check := &latencies{}, &latencies{}
	var sent, invisible atomic.Int64
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err }) }
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	// At most 64 commands in flight, each on a kept-alive connection of
	// its own (see keepAliveConn), and at most lagChecksInFlight checks,
	// whatever the lag: a check is a search, and once read models fall
	// behind, unbounded checks would become the load that keeps them
	// behind.
	commandConns, err := keepAliveConns(s.base, 64)
	if err != nil {
		return lagRun{}, err
	}
	checkConns, err := keepAliveConns(s.base, lagChecksInFlight)
	if err != nil {
		return lagRun{}, err
	}
	defer func() { closeAll(commandConns); closeAll(checkConns) }()
	prefix := "/v1/orgs/" + s.org
	start := time.Now()
	for i := 0; time.Since(start) < d && firstErr == nil; i++ {
		// The i-th command is due at start + i×interval; one that is late
		// (the client was not scheduled in time) goes at once. A ticker
		// would drop the ticks it missed, and the rate achieved would fall
		// short on a busy machine even when the server keeps up.
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		var conn *keepAliveConn
		select {
		case conn = <-commandConns:
		default:
			continue
		}
		wg.Go(func() {
			email := fmt.Sprintf("%s-%d@bench.example.com", tag, i)
			status, body, err := conn.request(http.MethodPost, prefix+"/users", s.token, s.newUser(email))
			commandConns <- conn
			if err == nil && status != http.StatusCreated {
				err = fmt.Errorf("POST /users: %d %s", status, body)
			}
			if err != nil {
				fail(err)
				return
			}
			acked := time.Now()
			sent.Add(1)
			if i%lagSampleEvery != 0 {
				return
			}
			q := prefix + "/users?q=" + url.QueryEscape(email)
			for waited := time.Duration(0); waited < time.Minute; waited = time.Since(acked) {
				c := <-checkConns
				sent := time.Now()
				status, body, err := c.request(http.MethodGet, q, s.token, nil)
				checkConns <- c
				check.add(time.Since(sent))
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("GET /users?q=: %d %s", status, body)
				}
				if err != nil {
					fail(err)
					return
				}
				if bytes.Contains(body, []byte(email)) {
					lag.add(time.Since(acked))
					return
				}
				switch {
				case waited < lagFineChecks:
					time.Sleep(time.Millisecond)
				case waited < time.Second:
					time.Sleep(5 * time.Millisecond)
				default:
					time.Sleep(50 * time.Millisecond)
				}
			}
			invisible.Add(1)
		})
	}
	achieved := float64(sent.Load()) / time.Since(start).Seconds()
	wg.Wait() // every connection is back in its pool
	if firstErr != nil {
		return lagRun{}, firstErr
	}
	after, err := s.readModelLag(ctx)
	if err != nil {
		return lagRun{}, err
	}
	return lagRun{achieved: achieved, lag: lag, check: check, invisible: invisible.Load(),
		readModelP50: after.quantileSince(before, 0.5), readModelP99: after.quantileSince(before, 0.99)}, nil
}

// keepAliveConns is a pool of n connections to base, dialled on first use.
func keepAliveConns(base string, n int) (chan *keepAliveConn, error) {
	pool := make(chan *keepAliveConn, n)
	for range n {
		c, err := newKeepAliveConn(base)
		if err != nil {
			return nil, err
		}
		pool <- c
	}
	return pool, nil
}

// closeAll closes the connections of a pool they have all come back to.
func closeAll(pool chan *keepAliveConn) {
	for range len(pool) {
		(<-pool).close()
	}
}

// lagRun is one repetition of the projection-lag measurement. check is
// the duration of each GET /users?q= the measurement sent: the lag
// includes the check that found the user, and the checks are load too.
type lagRun struct {
	achieved   float64
	lag, check *latencies
	invisible  int64
	// readModelP50 and readModelP99 are the read models' own lag over the
	// run, in ms, from the server's histogram (bucket upper bounds).
	readModelP50, readModelP99 float64
}

// accessDecisions asks GET /access/{id} from n clients for d, each over a
// keep-alive connection of its own (keepAliveConn), as (2) does.
func accessDecisions(ctx context.Context, base string, o generatedOrg, ids []string, n int, d time.Duration) (*latencies, float64, error) {
	prefix := "/v1/orgs/" + o.OrgID + "/access/"
	return connLoop(base, n, d, func(c *keepAliveConn, _, _ int) error {
		return c.expect(ctx, http.MethodGet, prefix+ids[rand.IntN(len(ids))], o.AdminToken, nil, http.StatusOK)
	})
}

// httpFloor asks GET /healthz, which answers without reading anything,
// from n clients for d, with the same client as accessDecisions: what
// HTTP alone costs on this machine, client and server sharing its cores.
func httpFloor(ctx context.Context, base string, n int, d time.Duration) (*latencies, float64, error) {
	return connLoop(base, n, d, func(c *keepAliveConn, _, _ int) error {
		return c.expect(ctx, http.MethodGet, "/healthz", "", nil, http.StatusOK)
	})
}

// closedLoop runs n clients for d, each asking again as soon as it is
// answered (ask gets the client's number and its count of questions so
// far), and returns the latencies and answers per second.
func closedLoop(n int, d time.Duration, ask func(client, i int) error) (*latencies, float64, error) {
	lat := &latencies{}
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for c := range n {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				start := time.Now()
				if err := ask(c, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat.add(time.Since(start))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return lat, float64(done.Load()) / d.Seconds(), nil
}

// lagBuckets are the cumulative counts of the server's read-model lag
// histogram (gatehouse_read_model_lag_seconds) by upper bound in seconds,
// +Inf holding every event observed.
type lagBuckets map[float64]uint64

// readModelLag reads the server's read-model lag histogram: how long each
// event took from its recording to the commit of the read models, which
// the lag measured by searching includes, without the search.
func (s *benchSite) readModelLag(ctx context.Context) (lagBuckets, error) {
	families, err := serverMetrics(ctx, s.client, s.base)
	if err != nil {
		return nil, err
	}
	f := families["gatehouse_read_model_lag_seconds"]
	if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
		return nil, errors.New("read metrics: the server publishes no gatehouse_read_model_lag_seconds histogram")
	}
	h := f.GetMetric()[0].GetHistogram()
	out := lagBuckets{math.Inf(1): h.GetSampleCount()}
	for _, b := range h.GetBucket() {
		out[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return out, nil
}

// accessLookups reads how many access decisions the server's cache has
// answered (hits) out of all it was asked.
func accessLookups(ctx context.Context, base string) (hits, all float64, err error) {
	families, err := serverMetrics(ctx, http.DefaultClient, base)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range families["gatehouse_access_cache_lookups_total"].GetMetric() {
		v := m.GetCounter().GetValue()
		all += v
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" && l.GetValue() == "hit" {
				hits += v
			}
		}
	}
	return hits, all, nil
}

// serverMetrics reads the server's /metrics page.
func serverMetrics(ctx context.Context, client *http.Client, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return families, nil
}

// quantileSince is the q-quantile, in milliseconds, of the events observed
// between before and after: the upper bound of the bucket it falls in (a
// histogram tells no more); 0 when nothing was observed.
func (after lagBuckets) quantileSince(before lagBuckets, q float64) float64 {
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	rank := uint64(math.Ceil(q * float64(total)))
	for _, b := range bounds {
		if after[b]-before[b] >= rank {
			return b * 1000
		}
	}
	return math.Inf(1)
}
