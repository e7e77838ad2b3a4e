// Package dbtest gives each test its own fresh, migrated PostgreSQL database,
// copied from a template that is migrated once per schema version, and drops
// it when the test ends. It is imported only by tests.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/migrations"
)

// DefaultURL is the server the tests use when DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the URL of the server that hosts test databases.
func ServerURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// templateName is derived from the migration files, so a changed schema gets
// a new template and parallel test binaries agree on the name.
func templateName(t testing.TB) string {
	h := sha256.New()
	names, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatalf("list migrations: %v", err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS(), n)
		if err != nil {
			t.Fatalf("read migration %s: %v", n, err)
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	return "gatehouse_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(t testing.TB, server, name string) string {
	u, err := migrations.DatabaseURL(server, name)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	return u
}

// ensureTemplate creates and migrates the template database once; a session
// advisory lock makes concurrent test binaries wait for the first one.
func ensureTemplate(ctx context.Context, t testing.TB, admin *pgx.Conn, server string) string {
	name := templateName(t)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(726354)`); err != nil {
		t.Fatalf("lock template creation: %v", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(726354)`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look up template: %v", err)
	}
	if exists {
		return name
	}
	// Older templates belong to older schemas; nothing uses them any more.
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'gatehouse_tmpl_%'`)
	if err != nil {
		t.Fatalf("list old templates: %v", err)
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list old templates: %v", err)
	}
	for _, o := range old {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{o}.Sanitize()+" WITH (FORCE)")
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		t.Fatalf("drop half-built template: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building+" "+migrations.CreateOptions); err != nil {
		t.Fatalf("create template: %v", err)
	}
	if _, err := migrations.Up(ctx, withDatabase(t, server, building)); err != nil {
		t.Fatalf("migrate template: %v", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		t.Fatalf("publish template: %v", err)
	}
	return name
}

// NewDatabase creates a fresh migrated database for the test and returns its
// URL. The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server := ServerURL()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s (set DATABASE_URL, or run scripts/postgres.sh): %v", server, err)
	}
	defer admin.Close(context.Background())
	tmpl := ensureTemplate(ctx, t, admin, server)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "gatehouse_t_" + hex.EncodeToString(suffix)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return withDatabase(t, server, name)
}

// NewPool creates a fresh database and a pool on it, closed when the test ends.
func NewPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse test database url: %v", err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

// Listen opens a connection to url that listens on channel, closed when
// the test ends; WaitForNotification on it reads what arrives.
func Listen(t testing.TB, url, channel string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("listen on %s: %v", channel, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatalf("listen on %s: %v", channel, err)
	}
	return conn
}
