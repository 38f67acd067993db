package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
)

// defaultLeaseTTL is how long a process may hold a job's lease without renewing it (renewals run every
// third of it): the longest a crashed or partitioned holder keeps a job from the other replicas.
const defaultLeaseTTL = 30 * time.Second

// LeaseTTLEnv overrides defaultLeaseTTL (a Go duration), for tests and for operators who trade
// failover time against renewal traffic; see docs/operations.md.
const LeaseTTLEnv = "SCIMSYNC_LEASE_TTL"

// LeaseTTL is the lease ttl of this process: SCIMSYNC_LEASE_TTL, else defaultLeaseTTL.
func LeaseTTL() (time.Duration, error) {
	raw := os.Getenv(LeaseTTLEnv)
	if raw == "" {
		return defaultLeaseTTL, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 300*time.Millisecond {
		return 0, configError(fmt.Errorf("%s=%q: want a duration of at least 300ms, like 30s", LeaseTTLEnv, raw))
	}
	return d, nil
}

// databases are the PostgreSQL pools of this process, one per URL, shared by every job and cycle: a
// daemon opens its state at each cycle, and a pool per cycle would reconnect (and re-check the schema)
// every time.
var (
	databasesMu sync.Mutex
	databases   = map[string]*postgres.DB{}
)

// Database is the pool of cfg's database, opened on first use.
func Database(cfg *config.Config) (*postgres.DB, error) {
	databasesMu.Lock()
	defer databasesMu.Unlock()
	sd := cfg.StateDatabase
	if db := databases[sd.URL]; db != nil {
		return db, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Connect(ctx, postgres.Config{URL: sd.URL, Password: sd.Password.Reveal()})
	if err != nil {
		return nil, err
	}
	databases[sd.URL] = db
	return db, nil
}

// HolderID names this process in the lease rows (and in `status`): host and pid say where to look, the
// random part keeps two processes that reuse a pid apart.
func HolderID() string { return holderID() }

var holderID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
})

// openDatabaseState opens the job's rows. In a daemon whose replica coordinator owns the job, the
// state is fenced by the coordinator's lease (which outlives the cycle). Otherwise a writer takes the
// job's lease for as long as it keeps the state open (one cycle, one admin command), the database's
// counterpart of the bbolt file lock: a second writer gets an error matching store.ErrLocked that
// names the holder. Either way the job's requests to its target pass the lease's Check (leaseGate).
func openDatabaseState(cfg *config.Config, readOnly bool) (store.State, error) {
	db, err := Database(cfg)
	if err != nil {
		return nil, err
	}
	if readOnly {
		return db.Open(cfg.Name, postgres.Options{ReadOnly: true})
	}
	if co := CoordinatorOf(cfg); co != nil {
		h := co.Hold(cfg.Name)
		if h == nil {
			return nil, fmt.Errorf("job %s: replica %s does not own it: %w", cfg.Name, co.ID(), store.ErrLocked)
		}
		st, err := db.OpenHeld(h)
		if err != nil {
			return nil, err
		}
		return newLeasedState(cfg.Name, st, h), nil
	}
	ttl, err := LeaseTTL()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, keeper, err := db.OpenLeased(ctx, cfg.Name, HolderID(), ttl)
	var held *postgres.LeaseHeldError
	if errors.As(err, &held) {
		return openYielded(db, cfg, ttl, held)
	}
	if err != nil {
		return nil, err
	}
	return newLeasedState(cfg.Name, st, keeper.Hold), nil
}

// leasedState is a job's rows held under its lease; Lost closes when another replica took the job over,
// so the cycle stops sending to the target at once instead of at its next (refused) state write.
type leasedState struct {
	store.State
	lost <-chan struct{}
	gate *leaseGate
	// yielded, when set, withdraws the request that made a replica give the job up (openYielded).
	yielded func()
}

func newLeasedState(job string, st store.State, h *postgres.Hold) leasedState {
	g := gateOf(job)
	g.set(h.Check)
	return leasedState{State: st, lost: h.Lost(), gate: g}
}

// Close closes the state and opens the job's gate again: without a cycle, nothing is fenced.
func (l leasedState) Close() error {
	l.gate.set(nil)
	err := l.State.Close()
	if l.yielded != nil {
		l.yielded()
	}
	return err
}

// LeaseLost is closed when the lease was taken over.
func (l leasedState) LeaseLost() <-chan struct{} { return l.lost }

// errLeaseLost explains a cycle stopped because another replica took the job over.
var errLeaseLost = fmt.Errorf("the cycle stopped: %w", store.ErrLeaseLost)

// StateExists tells whether a cycle could have left state behind: false only for a bbolt file that does
// not exist yet. A database is always there once configured.
func StateExists(cfg *config.Config) bool {
	if cfg.StateDatabase != nil {
		return true
	}
	_, err := os.Stat(cfg.StatePath)
	return !errors.Is(err, fs.ErrNotExist)
}
