package migrations_test

import (
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/migrations"
)

// A database of its own on the same server, reached the same way: only the
// database differs from what the server's URL says.
func TestDatabaseURLChangesOnlyTheDatabase(t *testing.T) {
	for _, server := range []string{
		"postgres://postgres@127.0.0.1:5432/gatehouse?sslmode=disable",
		"postgres://postgres@/gatehouse?host=/var/run/postgresql",
		"postgresql://owner:p%40ss%3Aw%2Fr'd@db.example:6543/x?sslmode=disable&application_name=gatehouse",
		"postgres://postgres@127.0.0.1/x?dbname=other&sslmode=disable",
		"host=/var/run/postgresql user=postgres dbname=gatehouse",
		"host=127.0.0.1 port=6543 user=owner password='it\\'s' sslmode=disable",
	} {
		t.Run(server, func(t *testing.T) {
			const name = "gatehouse_t_1a"
			got, err := migrations.DatabaseURL(server, name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.ParseConfig(server)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if cfg.Database != name {
				t.Errorf("%s names database %q, want %q", got, cfg.Database, name)
			}
			if cfg.Host != want.Host || cfg.Port != want.Port || cfg.User != want.User || cfg.Password != want.Password ||
				(cfg.TLSConfig == nil) != (want.TLSConfig == nil) || !maps.Equal(cfg.RuntimeParams, want.RuntimeParams) {
				t.Errorf("%s reaches %s:%d as %s (password %q, TLS %v, %v); the server's URL %s:%d as %s (password %q, TLS %v, %v)", got,
					cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.TLSConfig != nil, cfg.RuntimeParams,
					want.Host, want.Port, want.User, want.Password, want.TLSConfig != nil, want.RuntimeParams)
			}
		})
	}
	if _, err := migrations.DatabaseURL("postgres://[::1", "x"); err == nil {
		t.Error("a URL pgx cannot read was accepted")
	}
}
