package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimsync/scimsync/store"
)

// Hold is a lease this process keeps renewed (by a Keeper or a replica coordinator), with what a cycle
// running under it needs: the lease to fence its state writes, Lost to stop early, and Check before
// every request it sends to the target.
//
// The database only fences state writes; the target knows nothing of tokens. So the holder also keeps a
// local deadline: the moment a renewal was sent plus nine tenths of the ttl, on this process's monotonic
// clock. The database's expiry is later than that (it counts from when the renewal arrived), so a holder
// that obeys Check stops sending before any other replica can take the job over — also after a pause
// (SIGSTOP, a long GC), since the monotonic clock runs on while a process is stopped. A whole machine
// suspended may not advance its monotonic clock, so the wall clock is checked too (it is usually set
// right on resume); whichever says the deadline passed wins.
type Hold struct {
	db  *DB
	ttl time.Duration

	mu         sync.Mutex
	lease      Lease
	validUntil time.Time // local deadline, with its monotonic reading
	wallUntil  time.Time // the same deadline on the wall clock alone
	timer      *time.Timer
	lost       chan struct{}
	lostOnce   sync.Once
	// busy counts the states open under the hold (cycles running), so that a replica giving back its
	// surplus gives idle jobs rather than stop a cycle.
	busy atomic.Int32
}

// validFraction is the part of the ttl a holder trusts its lease for after sending a renewal: the rest
// covers clock rate differences between this host and the database.
const validFraction = 0.9

func newHold(db *DB, l *Lease, ttl time.Duration, sent time.Time) *Hold {
	h := &Hold{db: db, ttl: ttl, lease: *l, lost: make(chan struct{})}
	h.setDeadline(sent)
	h.mu.Lock()
	h.timer = time.AfterFunc(time.Until(h.validUntil), h.expire)
	h.mu.Unlock()
	return h
}

// AcquireHold takes the job's lease (Acquire) and returns it as a Hold the caller renews with Renew.
func (db *DB) AcquireHold(ctx context.Context, job, holder string, ttl time.Duration) (*Hold, error) {
	sent := time.Now()
	l, err := db.Acquire(ctx, job, holder, ttl)
	if err != nil {
		return nil, err
	}
	return newHold(db, l, ttl, sent), nil
}

// Lease returns a copy of the lease (its token fences the state).
func (h *Hold) Lease() Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lease
}

// Lost is closed when the lease was taken over, released, or not renewed before the local deadline.
func (h *Hold) Lost() <-chan struct{} { return h.lost }

// Check returns nil while the lease is held and its local deadline has not passed, else an error
// matching store.ErrLeaseLost. It reads the clock itself, so it is right even in the instant after a
// pause, before any timer fired.
func (h *Hold) Check() error {
	select {
	case <-h.lost:
		return fmt.Errorf("job %s: %w", h.lease.Job, store.ErrLeaseLost)
	default:
	}
	h.mu.Lock()
	until, wall := h.validUntil, h.wallUntil
	h.mu.Unlock()
	now := time.Now()
	if !now.Before(until) || !now.Round(0).Before(wall) {
		h.expire()
		return fmt.Errorf("job %s: the lease was not renewed in time: %w", h.lease.Job, store.ErrLeaseLost)
	}
	return nil
}

// Renew extends the lease in the database and the local deadline. A lease found taken over, or whose
// local deadline passed before the renewal came back, is lost for good: Lost closes and the error
// matches store.ErrLeaseLost. Other errors (the database unreachable) leave the hold as it is.
func (h *Hold) Renew(ctx context.Context) error {
	if err := h.Check(); err != nil {
		return err
	}
	sent := time.Now()
	h.mu.Lock()
	l := h.lease
	h.mu.Unlock()
	err := h.db.Renew(ctx, &l, h.ttl)
	if err != nil {
		if errorsIsLost(err) {
			h.expire()
		}
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.lost:
		// The deadline passed while the renewal was under way: the cycle was already told to stop.
		return fmt.Errorf("job %s: the lease was not renewed in time: %w", l.Job, store.ErrLeaseLost)
	default:
	}
	h.lease = l
	h.setDeadline(sent)
	h.timer.Reset(time.Until(h.validUntil))
	return nil
}

// Busy tells whether a state opened under the hold (OpenHeld) is still open.
func (h *Hold) Busy() bool { return h.busy.Load() > 0 }

// Release lets another replica take the job at once; the hold is lost from then on.
func (h *Hold) Release(ctx context.Context) error {
	h.expire()
	l := h.Lease()
	return h.db.Release(ctx, &l)
}

// setDeadline sets the local deadline from the moment a renewal (or the acquisition) was sent.
func (h *Hold) setDeadline(sent time.Time) {
	valid := time.Duration(float64(h.ttl) * validFraction)
	h.validUntil = sent.Add(valid)
	h.wallUntil = sent.Round(0).Add(valid) // Round(0) drops the monotonic reading: a wall-clock time
}

// end releases the lease at the end of its use (a closed state): Lost stays open, since nothing was
// lost, but the timer stops.
func (h *Hold) end(ctx context.Context) error {
	h.mu.Lock()
	h.timer.Stop()
	h.validUntil, h.wallUntil = time.Time{}, time.Time{}
	l := h.lease
	h.mu.Unlock()
	return h.db.Release(ctx, &l)
}

// expire marks the hold lost.
func (h *Hold) expire() {
	h.lostOnce.Do(func() {
		h.mu.Lock()
		if h.timer != nil {
			h.timer.Stop()
		}
		h.mu.Unlock()
		close(h.lost)
	})
}
