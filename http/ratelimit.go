package http

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter limits requests per client address with a token bucket each,
// for the public portal endpoints that guess or spend secrets (login,
// invitation accept, sign-up, resend). Buckets idle for a while are dropped.
type ipLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perMinute, burst int) *ipLimiter {
	return &ipLimiter{every: rate.Limit(float64(perMinute) / 60), burst: burst, buckets: map[string]*bucket{}, swept: time.Now()}
}

// allow reports whether the client may go on, or how long it should wait.
func (l *ipLimiter) allow(ip string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientIP is the peer address; forwarding headers are not trusted, since
// any client can set them.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited wraps a handler with the per-address limit: 429 with Retry-After.
func (s *Server) limited(next http.HandlerFunc) http.HandlerFunc {
	if s.limiter == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.limiter.allow(clientIP(r)); !ok {
			seconds := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			// A browser's form post gets a page, not a JSON problem; the
			// page reads nothing from the database.
			if form, err := isFormPost(r); err == nil && form {
				v := s.viewOf(r, false, "error.generic")
				v.Error = v.T("error.too_many", seconds)
				s.render(w, http.StatusTooManyRequests, "message", v)
				return
			}
			writeError(w, r, &requestError{status: http.StatusTooManyRequests, code: "rate_limited",
				detail: "too many requests from this address; wait before trying again"})
			return
		}
		next(w, r)
	}
}
