package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// keepAliveConn is one closed-loop client's HTTP/1.1 connection to the
// server: the request is written and the answer read (with net/http's own
// parser) in the client's goroutine, over one kept-alive connection, as
// load generators such as wrk do. Go's http.Client passes every request
// between goroutines (the caller's, the connection's writer and reader),
// and on a machine whose cores the client shares with the server and
// PostgreSQL, that CPU is taken from what is measured. The client's CPU is
// reported on its own in the results either way.
type keepAliveConn struct {
	host string
	conn net.Conn
	r    *bufio.Reader
	req  bytes.Buffer
}

func newKeepAliveConn(base string) (*keepAliveConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", base, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("server address %q: only http:// is measured this way", base)
	}
	return &keepAliveConn{host: u.Host}, nil
}

// request sends method path, with body as JSON unless it is nil and the
// bearer token unless it is empty, and returns the answer's status and
// body. A failed exchange closes the connection; the next one dials again.
func (c *keepAliveConn) request(method, path, token string, body any) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.host, 10*time.Second)
		if err != nil {
			return 0, nil, fmt.Errorf("dial %s: %w", c.host, err)
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	c.req.Reset()
	c.req.WriteString(method + " " + path + " HTTP/1.1\r\nHost: " + c.host + "\r\n")
	if token != "" {
		c.req.WriteString("Authorization: Bearer " + token + "\r\n")
	}
	if body != nil {
		c.req.WriteString("Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(payload)) + "\r\n")
	}
	c.req.WriteString("\r\n")
	c.req.Write(payload)
	status, answer, keep, err := c.exchange()
	if err != nil || !keep {
		c.close()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return status, answer, nil
}

// expect makes one request, unless ctx has ended, and fails unless the
// answer's status is want.
func (c *keepAliveConn) expect(ctx context.Context, method, path, token string, body any, want int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	status, answer, err := c.request(method, path, token, body)
	if err == nil && status != want {
		err = fmt.Errorf("%s %s: %d %s", method, path, status, answer)
	}
	return err
}

func (c *keepAliveConn) exchange() (status int, body []byte, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, nil, false, err
	}
	if _, err := c.conn.Write(c.req.Bytes()); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, false, err
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, body, !resp.Close, nil
}

func (c *keepAliveConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
