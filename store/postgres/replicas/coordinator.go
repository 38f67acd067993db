// Package replicas lets several scimsync daemons (replicas) pointed at the same PostgreSQL database
// share its jobs: each replica heartbeats, holds the leases of its share of the jobs for as long as it
// lives (store/postgres leases, with fencing tokens) and hands them on when replicas come and go. See
// docs/operations.md, "Replicas".
package replicas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
)

// DefaultTTL is how long a replica owns a job without renewing it, and how long it counts as live
// without a heartbeat: with a claim every TTL/3, a replica that died loses its jobs within TTL plus
// one claim interval.
const DefaultTTL = 30 * time.Second

// Options tunes New.
type Options struct {
	// ID names the replica in the lease rows and in `status`; empty means host/pid/random, unique per
	// process, so a restarted replica never mistakes its predecessor's leases for its own.
	ID string
	// TTL is the lease ttl and the liveness window of heartbeats; 0 means DefaultTTL.
	TTL time.Duration
}

// Coordinator is one replica's share of the jobs. Claim is called on every claim tick (every
// Interval); between ticks Hold gives the running cycles the leases to work under.
type Coordinator struct {
	db   *postgres.DB
	id   string
	host string
	ttl  time.Duration

	mu    sync.Mutex
	holds map[string]*postgres.Hold
}

// New returns a coordinator for this process; it does nothing until the first Claim.
func New(db *postgres.DB, o Options) (*Coordinator, error) {
	host, _ := os.Hostname()
	c := &Coordinator{db: db, id: o.ID, host: host, ttl: o.TTL, holds: map[string]*postgres.Hold{}}
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	if c.ttl < 0 {
		return nil, fmt.Errorf("replica lease ttl must be positive, got %s", c.ttl)
	}
	if c.id == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.id = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return c, nil
}

// ID names this replica.
func (c *Coordinator) ID() string { return c.id }

// TTL is the lease ttl.
func (c *Coordinator) TTL() time.Duration { return c.ttl }

// Interval is how often Claim should run: a third of the ttl, so that two renewals can fail before
// the lease's local deadline passes.
func (c *Coordinator) Interval() time.Duration { return c.ttl / 3 }

// Claim heartbeats, renews the leases this replica holds, lets go of the jobs no longer listed, of
// its surplus and of the jobs a command asked for (postgres.DB.AskYield), takes free jobs up to its share (see Share) and returns the jobs it owns now, sorted.
// A lease that another replica took over is dropped, and its Hold's Lost is closed, which stops a
// cycle running under it. On a database error the jobs still safely owned are returned with the
// error: their leases stay good until their deadline, and the next Claim retries.
func (c *Coordinator) Claim(ctx context.Context, jobs []string) (mine []string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if err := c.db.Heartbeat(ctx, c.id, c.host); err != nil {
		return c.owned(), err
	}
	listed := map[string]bool{}
	for _, j := range jobs {
		listed[j] = true
	}
	for job, h := range c.holds {
		if !listed[job] {
			errs = append(errs, h.Release(ctx))
			delete(c.holds, job)
			continue
		}
		if err := h.Renew(ctx); err != nil {
			if errors.Is(err, store.ErrLeaseLost) {
				delete(c.holds, job)
				continue
			}
			errs = append(errs, err)
		}
	}
	live, err := c.db.LiveReplicas(ctx, c.ttl)
	if err != nil {
		return c.owned(), errors.Join(append(errs, err)...)
	}
	holders, err := c.db.Holders(ctx, jobs)
	if err != nil {
		return c.owned(), errors.Join(append(errs, err)...)
	}
	yielding, err := c.db.Yielding(ctx, jobs)
	if err != nil {
		return c.owned(), errors.Join(append(errs, err)...)
	}
	ids := make([]string, len(live))
	for i, r := range live {
		ids[i] = r.ID
	}
	p := Share(c.id, ids, jobs, holders)
	released := map[string]bool{}
	for _, job := range c.surplus(p) {
		errs = append(errs, c.holds[job].Release(ctx))
		delete(c.holds, job)
		released[job] = true
	}
	// A job an operator's command waits for: given up once its cycle ended, and taken by nobody.
	for job := range yielding {
		if h := c.holds[job]; h != nil && !h.Busy() {
			errs = append(errs, h.Release(ctx))
			delete(c.holds, job)
		}
		released[job] = true
	}
	// A job the database shows as ours without a hold here is one whose renewal came back too late:
	// acquiring it again gives a new token, so nothing of the stopped cycle can write any more.
	for _, job := range append(p.Take, p.Keep...) {
		if c.holds[job] != nil || released[job] {
			continue
		}
		h, err := c.db.AcquireHold(ctx, job, c.id, c.ttl)
		if err != nil {
			if !errors.Is(err, postgres.ErrLeaseHeld) { // lost a race for it: another replica runs it
				errs = append(errs, err)
			}
			continue
		}
		c.holds[job] = h
	}
	return c.owned(), errors.Join(errs...)
}

// surplus is what to give back of p.Release: as many jobs, idle ones first, so that rebalancing stops
// no cycle while an idle job can go instead; a surplus whose jobs are all busy waits for a later claim,
// when their cycles have ended. c.mu is held.
func (c *Coordinator) surplus(p Plan) []string {
	var idle []string
	for _, job := range append(slices.Clone(p.Release), p.Keep...) {
		if h := c.holds[job]; h != nil && !h.Busy() {
			idle = append(idle, job)
		}
	}
	return idle[:min(len(p.Release), len(idle))]
}

// owned lists the jobs whose hold is still good; c.mu is held.
func (c *Coordinator) owned() []string {
	var out []string
	for _, job := range slices.Sorted(maps.Keys(c.holds)) {
		if c.holds[job].Check() == nil {
			out = append(out, job)
		}
	}
	return out
}

// Hold returns the lease this replica holds on job, nil when it does not own the job (or lost it).
// A cycle opens the job's state with it (postgres.DB.OpenHeld) and stops when its Lost closes.
func (c *Coordinator) Hold(job string) *postgres.Hold {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.holds[job]
	if h == nil || h.Check() != nil {
		return nil
	}
	return h
}

// Stop releases every lease and removes the heartbeat row, so the other replicas take the jobs at
// their next claim instead of after the ttl. Call it when the daemon stops, after its cycles ended.
func (c *Coordinator) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for job, h := range c.holds {
		errs = append(errs, h.Release(ctx))
		delete(c.holds, job)
	}
	errs = append(errs, c.db.Deregister(ctx, c.id))
	return errors.Join(errs...)
}

// Owned lists the jobs this replica owns now, sorted, for metrics and status.
func (c *Coordinator) Owned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned()
}
