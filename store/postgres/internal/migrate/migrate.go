// Package migrate creates and upgrades the "scimsync" PostgreSQL schema from the embedded
// migrations/*.sql files, applied in order under an advisory lock so replicas starting together
// migrate once.
package migrate

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scimsync/scimsync/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises migrations across replicas ("scimsync"
// in ASCII).
const migrationLock = 0x7363696d73796e63

// Latest is the newest migration this build carries.
func Latest() int {
	v := 0
	for _, m := range mustLoad() {
		v = max(v, m.Version)
	}
	return v
}

// Migration is one embedded migration file, named <version>_<what>.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

func mustLoad() []Migration {
	ms, err := Load()
	if err != nil {
		panic(err) // the embedded files are part of the build; a bad name is caught by the tests
	}
	return ms
}

// Load returns the embedded migrations in version order, refusing a bad name or a repeated version.
func Load() ([]Migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
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
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(raw)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// Apply applies the missing migrations in one transaction under an advisory lock: a second replica
// starting at the same time waits, then finds nothing to do. A database migrated by a newer scimsync is
// refused (store.ErrSchemaTooNew) rather than misread.
func Apply(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := Load()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
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
		if latest := ms[len(ms)-1].Version; current > latest {
			return fmt.Errorf("schema version %d but this scimsync supports up to %d; upgrade scimsync: %w",
				current, latest, store.ErrSchemaTooNew)
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scimsync.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
