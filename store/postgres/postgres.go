// Package postgres keeps scimsync state in a PostgreSQL database, so that several daemons (replicas) can
// share the jobs: the same store.State as the bbolt file, plus job leases with fencing tokens that keep
// a replica which lost its lease from writing.
//
// The schema lives in its own PostgreSQL schema, "scimsync", and is created and migrated by Connect
// (migrations/*.sql, applied in order under an advisory lock, so replicas starting together migrate
// once). Every row carries the job name.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimsync/scimsync/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises migrations across replicas ("scimsync"
// in ASCII).
const migrationLock = 0x7363696d73796e63

// DefaultOpTimeout bounds one state operation, so a database that stopped answering fails the cycle
// instead of hanging it.
const DefaultOpTimeout = 30 * time.Second

// Config says how to reach the database. The password is kept apart from the URL, as every secret of a
// scimsync configuration, and never appears in an error or a log line.
type Config struct {
	// URL is a postgres:// URL without a password; TLS is set with its sslmode, sslrootcert, sslcert
	// and sslkey parameters (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS).
	URL      string
	Password string
	// OpTimeout bounds each state operation; 0 means DefaultOpTimeout.
	OpTimeout time.Duration
	// MaxConns caps the pool; 0 leaves pgxpool's default.
	MaxConns int32
	// IdleInTransactionTimeout ends a session that left a transaction open without a statement for
	// this long; 0 means DefaultIdleInTransactionTimeout.
	IdleInTransactionTimeout time.Duration
}

// DefaultIdleInTransactionTimeout bounds how long a process paused in the middle of a state write
// (SIGSTOP, a long GC, a frozen VM) can delay a takeover. Its open transaction holds the share lock on
// the job's lease row that makes a takeover wait for the write to commit; the server ends such a
// session after this long (https://www.postgresql.org/docs/current/runtime-config-client.html), the
// write rolls back, and the takeover goes on. Without it the takeover would wait for as long as the
// process stays paused.
const DefaultIdleInTransactionTimeout = 10 * time.Second

// ErrPasswordInURL matches a URL that carries a password, which would put a secret in the configuration
// file and in every message that names the database.
var ErrPasswordInURL = errors.New("the state database URL must not contain a password; use statePasswordEnv or statePasswordFile")

// DB is one database shared by every job of a process. It is safe for concurrent use.
type DB struct {
	pool    *pgxpool.Pool
	name    string
	timeout time.Duration
}

// Redact returns the URL without user information or parameters, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "postgres database"
	}
	return "postgres://" + u.Host + u.Path
}

// Connect opens a pool, checks the server answers and brings the schema up to date.
func Connect(ctx context.Context, c Config) (*DB, error) {
	name := Redact(c.URL)
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("state database %s: not a postgres:// URL", name)
	}
	if _, has := u.User.Password(); has {
		return nil, fmt.Errorf("state database %s: %w", name, ErrPasswordInURL)
	}
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// pgx's message quotes the connection string; it has no password, but stays out regardless.
		return nil, fmt.Errorf("state database %s: the URL is not valid", name)
	}
	pc.ConnConfig.Password = c.Password
	idle := c.IdleInTransactionTimeout
	if idle <= 0 {
		idle = DefaultIdleInTransactionTimeout
	}
	pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(idle.Milliseconds(), 10)
	if c.MaxConns > 0 {
		pc.MaxConns = c.MaxConns
	}
	db := &DB{name: name, timeout: c.OpTimeout}
	if db.timeout <= 0 {
		db.timeout = DefaultOpTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", name, scrub(err, c.Password))
	}
	db.pool = pool
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state database %s: %w", name, scrub(err, c.Password))
	}
	return db, nil
}

// scrubbedError hides a secret that a driver message could echo; it keeps the chain for errors.Is.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}

// Close closes the pool; close every State first.
func (db *DB) Close() { db.pool.Close() }

// Name is the database's redacted URL.
func (db *DB) Name() string { return db.name }

func (db *DB) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), db.timeout)
}

// SchemaVersion is the newest migration this build carries.
func SchemaVersion() int {
	v := 0
	for _, m := range mustMigrations() {
		v = max(v, m.version)
	}
	return v
}

type migration struct {
	version int
	name    string
	sql     string
}

func mustMigrations() []migration {
	ms, err := loadMigrations()
	if err != nil {
		panic(err) // the embedded files are part of the build; a bad name is caught by the tests
	}
	return ms
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and _", e.Name())
		}
		raw, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(raw)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the missing migrations in one transaction under an advisory lock: a second replica
// starting at the same time waits, then finds nothing to do. A database migrated by a newer scimsync is
// refused (store.ErrSchemaTooNew) rather than misread.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("lock for migration: %w", err)
		}
		// CREATE SCHEMA IF NOT EXISTS checks the right to create schemas even when the schema exists,
		// so it runs only when needed: a DBA may create the schema for a role that cannot.
		var hasSchema, hasTable bool
		if err := tx.QueryRow(ctx, `SELECT to_regnamespace('scimsync') IS NOT NULL, to_regclass('scimsync.schema_migrations') IS NOT NULL`).
			Scan(&hasSchema, &hasTable); err != nil {
			return fmt.Errorf("look for the scimsync schema: %w", err)
		}
		if !hasSchema {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA scimsync`); err != nil {
				return fmt.Errorf("create schema scimsync (or have a database owner run CREATE SCHEMA scimsync AUTHORIZATION <this user>): %w", err)
			}
		}
		if !hasTable {
			if _, err := tx.Exec(ctx, `CREATE TABLE scimsync.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM scimsync.schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if latest := ms[len(ms)-1].version; current > latest {
			return fmt.Errorf("schema version %d but this scimsync supports up to %d; upgrade scimsync: %w",
				current, latest, store.ErrSchemaTooNew)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scimsync.schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
