package pace

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"
)

func TestGateHoldsTheLimit(t *testing.T) {
	g := NewGate(2, 4, zap.NewNop())
	a, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.inflight != 1 || b.inflight != 2 || b.seq != a.seq+1 {
		t.Fatalf("tickets %+v %+v, want in flight 1 and 2 with consecutive sequence numbers", a, b)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Acquire(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("third acquire on a full gate: %v, want context.Canceled", err)
	}
	// A waiter is let in by a release.
	got := make(chan Ticket)
	go func() {
		tk, err := g.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- tk
	}()
	g.Release(a, http.StatusCreated, 0)
	if tk := <-got; tk.inflight != 2 {
		t.Fatalf("waiter admitted with %d in flight, want 2", tk.inflight)
	}
}

func TestGatePausesForRetryAfter(t *testing.T) {
	now := t0
	g := NewGate(4, 4, zap.NewNop())
	g.now = func() time.Time { return now }
	tk, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.Release(tk, http.StatusTooManyRequests, time.Hour)
	// Slots are free, but the target asked for an hour.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire during the pause: %v, want context.DeadlineExceeded", err)
	}
	now = now.Add(time.Hour)
	if _, err := g.Acquire(context.Background()); err != nil {
		t.Fatalf("acquire after the pause: %v", err)
	}
}

func TestGatePaceEndsWithTheContextError(t *testing.T) {
	g := NewGate(4, 4, zap.NewNop())
	g.ctl.rate = 0.001                 // as after a 429: the pace the controller chose
	g.pace = rate.NewLimiter(0.001, 1) // one token, the next in 1,000 s
	if _, err := g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	// rate.Limiter.Wait would answer "would exceed context deadline", which is not the context error.
	if _, err := g.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire beyond the pace: %v, want context.DeadlineExceeded", err)
	}
}

func TestGateLogsAHalving(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	g := NewGate(8, 8, zap.New(core))
	var tks []Ticket
	for range 3 {
		tk, err := g.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tks = append(tks, tk)
	}
	g.Release(tks[0], http.StatusServiceUnavailable, 0)
	g.Release(tks[1], http.StatusTooManyRequests, 0) // same event
	g.Release(tks[2], http.StatusInternalServerError, 0)
	if g.Limit() != 4 {
		t.Fatalf("limit %d, want 4", g.Limit())
	}
	entries := logs.FilterMessageSnippet("halving").AllUntimed()
	if len(entries) != 1 {
		t.Fatalf("%d halving log lines, want 1: %v", len(entries), logs.AllUntimed())
	}
	f := entries[0].ContextMap()
	if f["from"] != int64(8) || f["to"] != int64(4) || f["status"] != int64(503) {
		t.Fatalf("log fields %v, want from 8 to 4 status 503", f)
	}
}
