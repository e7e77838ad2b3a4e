package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The bench's keep-alive client sends what http.Client would (method,
// path, token, a JSON body or none), reads every answer whole, whether sized or
// chunked, keeps one connection for many requests, and dials again when
// the server closes it.
func TestKeepAliveConnReusesItsConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ N int }
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodGet && r.Header.Get("Authorization") == "Bearer tok" && len(b) == 0 && r.Header.Get("Content-Type") == "" {
			fmt.Fprintf(w, "q=%s", r.URL.Query().Get("q"))
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/orgs/o/users" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil {
			http.Error(w, fmt.Sprintf("unexpected %s %s %q %s", r.Method, r.URL.Path, r.Header.Get("Authorization"), b), http.StatusBadRequest)
			return
		}
		switch {
		case body.N%3 == 1: // no Content-Length: chunked
			w.WriteHeader(http.StatusCreated)
			for range 3 {
				fmt.Fprintf(w, "chunk %d;", body.N)
				w.(http.Flusher).Flush()
			}
		case body.N == 5:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "bye %d", body.N)
		default:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "user %d", body.N)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := newKeepAliveConn(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for n := range 10 {
		status, body, err := c.request(http.MethodPost, "/v1/orgs/o/users", "tok", map[string]int{"n": n})
		want := fmt.Sprintf("user %d", n)
		if n%3 == 1 {
			want = fmt.Sprintf("chunk %d;chunk %d;chunk %d;", n, n, n)
		} else if n == 5 {
			want = "bye 5"
		}
		if err != nil || status != http.StatusCreated || string(body) != want {
			t.Fatalf("request %d: %d %q (%v), want 201 %q", n, status, body, err, want)
		}
	}
	status, body, err := c.request(http.MethodGet, "/v1/orgs/o/users?q=a%40b.test", "tok", nil)
	if err != nil || status != http.StatusOK || string(body) != "q=a@b.test" {
		t.Fatalf("GET without a body: %d %q (%v), want 200 %q", status, body, err, "q=a@b.test")
	}
	if got := conns.Load(); got != 2 {
		t.Fatalf("%d connections for 11 requests, one closed by the server after the 6th; want 2", got)
	}
	if _, err := newKeepAliveConn("https://example.test"); err == nil {
		t.Fatal("accepted an https address it would speak plain HTTP to")
	}
}
