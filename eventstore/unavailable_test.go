package eventstore_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/eventstore"
)

func TestUnavailable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"terminated backend", fmt.Errorf("append: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many clients", &pgconn.PgError{Code: "53300"}, true},
		{"unique violation is the caller's", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error is ours", &pgconn.PgError{Code: "42601"}, false},
		{"connection dropped mid-read", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"anything else", errors.New("boom"), false},
	}
	for _, c := range cases {
		if got := eventstore.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable = %t, want %t", c.name, got, c.want)
		}
	}
}
