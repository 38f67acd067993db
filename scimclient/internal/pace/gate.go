// Package pace is scimclient's adaptive concurrency: a pure AIMD controller that reads the target's
// latency and its 429s and 503s (aimd), and the Gate that enforces its window, pause and pace on the
// client's requests.
package pace

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Gate enforces the aimd controller's decisions on the client's requests: a semaphore whose size the
// controller changes (golang.org/x/sync/semaphore cannot shrink), a shared pause after Retry-After, and
// the pace as a golang.org/x/time/rate limiter.
type Gate struct {
	mu       sync.Mutex
	ctl      *aimd
	inflight int
	changed  chan struct{} // closed and replaced when a slot frees or the limit or pause changes
	pace     *rate.Limiter
	now      func() time.Time
	log      *zap.Logger
}

// NewGate returns a Gate allowing start requests in flight at first and never more than ceiling.
func NewGate(start, ceiling int, log *zap.Logger) *Gate {
	return &Gate{ctl: newAIMD(start, ceiling), changed: make(chan struct{}), pace: rate.NewLimiter(rate.Inf, 1),
		now: time.Now, log: log}
}

// Ticket is one admitted attempt; pass it to Release.
type Ticket struct {
	seq      uint64
	inflight int
	start    time.Time
}

// Acquire waits for the pace, the end of any pause and a free slot, in that order, so a request waiting
// for its turn holds no slot.
func (g *Gate) Acquire(ctx context.Context) (Ticket, error) {
	// Reserve rather than Wait: Wait fails at once, with its own error, when the pace would outlast the
	// context's deadline, and callers check errors.Is(err, context.DeadlineExceeded).
	if r := g.pace.Reserve(); r.Delay() > 0 {
		t := time.NewTimer(r.Delay())
		select {
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return Ticket{}, ctx.Err()
		case <-t.C:
		}
	}
	for {
		g.mu.Lock()
		now := g.now()
		wait := g.ctl.pauseUntil.Sub(now)
		if wait <= 0 && g.inflight < g.ctl.limit {
			g.inflight++
			t := Ticket{seq: g.ctl.sent(now), inflight: g.inflight, start: now}
			g.syncPace(now)
			g.mu.Unlock()
			return t, nil
		}
		ch := g.changed
		g.mu.Unlock()
		var tm *time.Timer
		var timer <-chan time.Time
		if wait > 0 {
			tm = time.NewTimer(wait)
			timer = tm.C
		}
		select {
		case <-ctx.Done():
		case <-ch:
		case <-timer:
		}
		if tm != nil {
			tm.Stop()
		}
		if err := ctx.Err(); err != nil {
			return Ticket{}, err
		}
	}
}

// Release returns the slot and reports how the attempt ended: status is the HTTP status, 0 for a
// transport error.
func (g *Gate) Release(t Ticket, status int, retryAfter time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.inflight--
	o := observation{seq: t.seq, inflight: t.inflight, latency: now.Sub(t.start), retryAfter: retryAfter}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		o.outcome = outcomeCongested
	case status == 0 || status >= 500:
		o.outcome = outcomeOther
	}
	before := g.ctl.limit
	if g.ctl.observe(now, o) {
		g.log.Warn("target asked to slow down; halving concurrency",
			zap.Int("status", status), zap.Int("from", before), zap.Int("to", g.ctl.limit),
			zap.Duration("retryAfter", retryAfter), zap.Float64("pacePerSecond", g.ctl.rate))
	}
	g.syncPace(now)
	close(g.changed)
	g.changed = make(chan struct{})
}

// syncPace copies the controller's pace into the limiter. Called with mu held.
func (g *Gate) syncPace(now time.Time) {
	lim := rate.Inf
	if g.ctl.rate > 0 {
		lim = rate.Limit(g.ctl.rate)
	}
	if g.pace.Limit() != lim {
		g.pace.SetLimitAt(now, lim)
	}
}

// Limit is the current window, for the gauge.
func (g *Gate) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctl.limit
}
