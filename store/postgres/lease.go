package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimsync/scimsync/store"
)

// Lease is the right to run one job and write its state until Expires. Token grows with every change of
// holder; a State opened under the lease writes only while the lease row still carries it.
//
// Expiry is decided by the database clock (now()), never the replicas' clocks, so replicas whose clocks
// disagree still agree on who holds a job.
type Lease struct {
	Job     string
	Holder  string
	Token   int64
	Expires time.Time
}

// ErrLeaseHeld matches the refusal to take a lease that another holder holds and that has not expired;
// it also matches store.ErrLocked, the bbolt backend's "another process runs this job", so callers treat
// both alike. errors.As with *LeaseHeldError gives the holder.
var ErrLeaseHeld = errors.New("the job's lease is held by another holder")

// LeaseHeldError names who holds the job and until when, for `status` and for an operator who started
// a command beside a running replica.
type LeaseHeldError struct {
	Job, Holder string
	Expires     time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("job %s is held by %s until %s", e.Job, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Is matches ErrLeaseHeld and store.ErrLocked.
func (e *LeaseHeldError) Is(target error) bool {
	return target == ErrLeaseHeld || target == store.ErrLocked
}

// Acquire takes the job's lease for holder for ttl: it succeeds when nobody holds it, when the lease
// expired, or when holder holds it already, and every success hands out a new, higher token, so a
// holder that restarts under the same name fences its own earlier incarnation too. One statement does
// it, so two replicas racing for a job cannot both win.
func (db *DB) Acquire(ctx context.Context, job, holder string, ttl time.Duration) (*Lease, error) {
	if job == "" || holder == "" {
		return nil, errors.New("acquire lease: job and holder are required")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("acquire lease %s: ttl must be positive, got %s", job, ttl)
	}
	l := &Lease{Job: job, Holder: holder}
	err := db.pool.QueryRow(ctx, `
INSERT INTO scimsync.job_leases AS l (job, holder, token, acquired_at, expires_at)
VALUES ($1, $2, 1, now(), now() + $3::bigint * interval '1 microsecond')
ON CONFLICT (job) DO UPDATE
	SET holder = EXCLUDED.holder, token = l.token + 1, acquired_at = now(), expires_at = EXCLUDED.expires_at
	WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
RETURNING token, expires_at`, job, holder, ttl.Microseconds()).Scan(&l.Token, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		held := &LeaseHeldError{Job: job}
		if err := db.pool.QueryRow(ctx, `SELECT holder, expires_at FROM scimsync.job_leases WHERE job = $1`, job).
			Scan(&held.Holder, &held.Expires); err != nil {
			return nil, fmt.Errorf("acquire lease %s: %w", job, err)
		}
		return nil, held
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", job, err)
	}
	return l, nil
}

// Renew extends l by ttl from now, keeping its token. It fails with store.ErrLeaseLost when another
// holder took the job over; a lease that expired but was not taken over is renewed, since nobody else
// wrote in between.
func (db *DB) Renew(ctx context.Context, l *Lease, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("renew lease %s: ttl must be positive, got %s", l.Job, ttl)
	}
	err := db.pool.QueryRow(ctx, `
UPDATE scimsync.job_leases SET expires_at = now() + $4::bigint * interval '1 microsecond'
WHERE job = $1 AND holder = $2 AND token = $3
RETURNING expires_at`, l.Job, l.Holder, l.Token, ttl.Microseconds()).Scan(&l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("renew lease %s (token %d): %w", l.Job, l.Token, store.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", l.Job, err)
	}
	return nil
}

// Release lets another holder take the job at once instead of after the expiry. The row stays, with its
// token, so the next holder's token is higher still. Releasing a lease already taken over is no error.
func (db *DB) Release(ctx context.Context, l *Lease) error {
	_, err := db.pool.Exec(ctx, `
UPDATE scimsync.job_leases SET expires_at = now()
WHERE job = $1 AND holder = $2 AND token = $3 AND expires_at > now()`, l.Job, l.Holder, l.Token)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Job, err)
	}
	return nil
}

// Leases returns every job's lease row, expired ones included (Expires tells), for `status`.
func (db *DB) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := db.pool.Query(ctx, `SELECT job, holder, token, expires_at FROM scimsync.job_leases ORDER BY job`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		var l Lease
		err := r.Scan(&l.Job, &l.Holder, &l.Token, &l.Expires)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// fence checks, inside a write transaction, that the lease row still carries token. FOR SHARE lets the
// holder's own writes run side by side, while a takeover (an UPDATE of the row) waits for them to commit
// and every write after the takeover sees the new token: no write of the old holder lands after it.
func fence(ctx context.Context, tx pgx.Tx, job string, token int64) error {
	var cur int64
	err := tx.QueryRow(ctx, `SELECT token FROM scimsync.job_leases WHERE job = $1 FOR SHARE`, job).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("job %s has no lease row: %w", job, store.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("check lease of job %s: %w", job, err)
	}
	if cur != token {
		return fmt.Errorf("job %s: this writer's token is %d, the lease's is %d: %w", job, token, cur, store.ErrLeaseLost)
	}
	return nil
}

func errorsIsLost(err error) bool { return errors.Is(err, store.ErrLeaseLost) }
