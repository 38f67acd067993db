// Package postgres keeps scimsync state in a PostgreSQL database, so that several daemons (replicas) can
// share the jobs: the same store.State as the bbolt file, plus job leases with fencing tokens that keep
// a replica which lost its lease from writing.
//
// The schema lives in its own PostgreSQL schema, "scimsync", and is created and migrated by Connect
// (internal/migrate/migrations/*.sql, applied in order under an advisory lock, so replicas starting together migrate
// once). Every row carries the job name.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scimsync/scimsync/store/postgres/internal/migrate"
)

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
	if err := migrate.Apply(ctx, db.pool); err != nil {
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
func SchemaVersion() int { return migrate.Latest() }
