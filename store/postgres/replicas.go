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

// AskYield asks the replicas to give up job for ttl (by the database clock), for a command that needs
// the job's lease: the owner releases it when its cycle ends, and no replica takes it meanwhile.
func (db *DB) AskYield(ctx context.Context, job, requester string, ttl time.Duration) error {
	_, err := db.pool.Exec(ctx, `
INSERT INTO scimsync.job_yields (job, requester, until) VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
ON CONFLICT (job) DO UPDATE SET requester = EXCLUDED.requester, until = EXCLUDED.until`, job, requester, ttl.Microseconds())
	if err != nil {
		return fmt.Errorf("ask the replicas to yield job %s: %w", job, err)
	}
	return nil
}

// EndYield withdraws requester's request, so the replicas take the job again at their next claim.
func (db *DB) EndYield(ctx context.Context, job, requester string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM scimsync.job_yields WHERE job = $1 AND requester = $2`, job, requester); err != nil {
		return fmt.Errorf("withdraw the yield request of job %s: %w", job, err)
	}
	return nil
}

// Yielding returns those of jobs with a yield request in force.
func (db *DB) Yielding(ctx context.Context, jobs []string) (map[string]bool, error) {
	rows, err := db.pool.Query(ctx, `SELECT job FROM scimsync.job_yields WHERE job = ANY($1) AND until > now()`, jobs)
	if err != nil {
		return nil, fmt.Errorf("list yield requests: %w", err)
	}
	out := map[string]bool{}
	var job string
	_, err = pgx.ForEachRow(rows, []any{&job}, func() error {
		out[job] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list yield requests: %w", err)
	}
	return out, nil
}

// IsLiveReplica tells whether holder is a replica that heartbeated within ttl: a lease it holds stays
// held between cycles, so a command waits for it to yield instead of giving up.
func (db *DB) IsLiveReplica(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	var live bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM scimsync.replicas
WHERE id = $1 AND last_seen > now() - $2::bigint * interval '1 microsecond')`, holder, ttl.Microseconds()).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("look up replica %s: %w", holder, err)
	}
	return live, nil
}
