package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replica is a daemon sharing the jobs of this database, as its heartbeat row shows it.
type Replica struct {
	ID, Host string
	Started  time.Time
	LastSeen time.Time
}

// Heartbeat records that replica id (on host) is alive now, by the database clock.
func (db *DB) Heartbeat(ctx context.Context, id, host string) error {
	if id == "" {
		return errors.New("heartbeat: empty replica id")
	}
	_, err := db.pool.Exec(ctx, `
INSERT INTO scimsync.replicas (id, host, started_at, last_seen) VALUES ($1, $2, now(), now())
ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, last_seen = now()`, id, host)
	if err != nil {
		return fmt.Errorf("heartbeat of replica %s: %w", id, err)
	}
	return nil
}

// LiveReplicas returns the replicas seen within ttl, by the database clock, ordered by id.
func (db *DB) LiveReplicas(ctx context.Context, ttl time.Duration) ([]Replica, error) {
	rows, err := db.pool.Query(ctx, `
SELECT id, host, started_at, last_seen FROM scimsync.replicas
WHERE last_seen > now() - $1::bigint * interval '1 microsecond' ORDER BY id`, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replica, error) {
		var x Replica
		err := r.Scan(&x.ID, &x.Host, &x.Started, &x.LastSeen)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// Deregister removes a stopping replica's row, so the others count it out at once.
func (db *DB) Deregister(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM scimsync.replicas WHERE id = $1`, id); err != nil {
		return fmt.Errorf("deregister replica %s: %w", id, err)
	}
	return nil
}

// Holders returns, for those of jobs whose lease has not expired by the database clock, who holds it.
func (db *DB) Holders(ctx context.Context, jobs []string) (map[string]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT job, holder FROM scimsync.job_leases WHERE job = ANY($1) AND expires_at > now()`, jobs)
	if err != nil {
		return nil, fmt.Errorf("list lease holders: %w", err)
	}
	out := map[string]string{}
	var job, holder string
	_, err = pgx.ForEachRow(rows, []any{&job, &holder}, func() error {
		out[job] = holder
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list lease holders: %w", err)
	}
	return out, nil
}
