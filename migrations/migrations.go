// Package migrations owns the database schema: the SQL files embedded in the
// binary and the goose provider that applies them. It also creates the
// database named by a URL when it does not exist yet.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var files embed.FS

// FS holds the migration files (exported for tests that hash them).
func FS() fs.FS {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		panic(err) // the embedded directory exists at compile time
	}
	return sub
}

func provider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS(), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration and returns the versions it applied.
func Up(ctx context.Context, databaseURL string) ([]int64, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Versions reports the schema version of the database and the newest version
// this binary knows.
func Versions(ctx context.Context, databaseURL string) (current, latest int64, err error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return 0, 0, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return 0, 0, err
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read migration versions: %w", err)
	}
	return current, latest, nil
}

// CreateOptions makes every database UTF-8 with Unicode-aware case
// folding, whatever locale the server was installed with.
const CreateOptions = "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"

// DatabaseURL is serverURL with its database replaced by name, every other
// setting (host or socket, port, user, password, TLS, parameters) kept, in
// either form pgx reads: a URL or keyword=value pairs. Rebuilding a URL from
// the parsed parts lost a Unix socket host (the database became
// "var/run/postgresql:5432/..."), unescaped passwords and parameters.
func DatabaseURL(serverURL, name string) (string, error) {
	if _, err := pgx.ParseConfig(serverURL); err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	if !strings.HasPrefix(serverURL, "postgres://") && !strings.HasPrefix(serverURL, "postgresql://") {
		// Keyword=value: the last value of a keyword wins.
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name)
		return serverURL + " dbname='" + quoted + "'", nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	u.Path, u.RawPath = "/"+name, ""
	q := u.Query()
	if q.Has("dbname") || q.Has("database") {
		q.Del("dbname")
		q.Del("database")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// EnsureDatabase creates the database named in databaseURL if it is missing,
// connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("database url names no database")
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" "+CreateOptions)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created concurrently by another process
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Latest is the newest schema version this binary carries.
func Latest() (int64, error) {
	names, err := fs.Glob(FS(), "*.sql")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, n := range names {
		var v int64
		if _, err := fmt.Sscanf(n, "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// Querier is what CheckCurrent needs of a connection or pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CheckCurrent returns an error unless the database is reachable and at
// the schema version this binary expects; readiness checks use it.
func CheckCurrent(ctx context.Context, db Querier) error {
	latest, err := Latest()
	if err != nil {
		return err
	}
	var current int64
	if err := db.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current != latest {
		return fmt.Errorf("schema version %d, want %d", current, latest)
	}
	return nil
}
