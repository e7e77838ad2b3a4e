package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	correlationIDKey
	staffKey
	routeKey
)

// routeInfo is filled in by the router once it has matched, so that the
// outer access log can name the route template.
type routeInfo struct{ template string }

// recordRoute is a mux middleware: it runs after matching.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(routeKey).(*routeInfo); ok {
			if m := mux.CurrentRoute(r); m != nil {
				if t, err := m.GetPathTemplate(); err == nil {
					info.template = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func correlationIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(correlationIDKey).(string)
	return id
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusRecorder remembers what a handler answered, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe gives every request a request id and a correlation id (taken
// from X-Request-ID / X-Correlation-ID when they are well-formed), a logger
// carrying both, a body size limit, panic recovery, and one access log
// line. The line names the route template, never the raw path: portal paths
// carry invitation tokens.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := r.Header.Get("X-Request-ID")
		if !clientIDPattern.MatchString(reqID) {
			reqID = newRequestID()
		}
		corrID := r.Header.Get("X-Correlation-ID")
		if !clientIDPattern.MatchString(corrID) {
			corrID = reqID
		}
		log := s.log.With().Str("request_id", reqID).Str("correlation_id", corrID).Logger()
		ctx := context.WithValue(r.Context(), requestIDKey, reqID)
		ctx = context.WithValue(ctx, correlationIDKey, corrID)
		ctx = log.WithContext(ctx)
		route := &routeInfo{template: "unmatched"}
		ctx = context.WithValue(ctx, routeKey, route)
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		w.Header().Set("X-Request-ID", reqID)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error().Str("panic", fmt.Sprint(p)).Msg("handler panicked")
				if rec.status == 0 {
					writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			var ev *zerolog.Event
			switch {
			case rec.status >= 500:
				ev = log.Error()
			case rec.status >= 400:
				ev = log.Info()
			default:
				ev = log.Debug()
			}
			elapsed := time.Since(start)
			ev.Str("method", r.Method).Str("route", route.template).Int("status", rec.status).Int("bytes", rec.bytes).
				Dur("duration", elapsed).Msg("request")
			s.metrics.observe(r.Method, route.template, rec.status, elapsed)
		}()
		next.ServeHTTP(rec, r)
	})
}
