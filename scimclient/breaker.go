package scimclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// DefaultBreakerThreshold is how many consecutive requests must fail as unreachable before the client
// stops sending. Three, because with the engine's 4 parallel workers three failures in a row with no
// answer in between mean the target is down, while a single slow or dropped request does not.
const DefaultBreakerThreshold = 3

// ErrTargetUnreachable marks a request that failed because the target stopped answering: the one whose
// failure opened the circuit breaker and every request refused, unsent, while it is open. The engine
// aborts the cycle on it (sync/quarantine.IsAbort) instead of failing every remaining object the slow
// way, one timeout and four retries each. Errors that match it also match ErrTransient.
var ErrTargetUnreachable = errors.New("scim: target unreachable")

// UnreachableError is the error of a request stopped by the circuit breaker. It unwraps to the *Error
// (kind ErrTransient) of the request that opened the breaker, so KindOf still reports ErrTransient.
type UnreachableError struct {
	Method, Path string // the request this error belongs to
	Sent         bool   // true for the request whose own failure opened the breaker
	Failures     int    // consecutive failed requests that opened it
	Last         *Error // the failure that opened it
}

func (e *UnreachableError) Error() string {
	if e.Sent {
		return fmt.Sprintf("%s; target unreachable: %d consecutive requests failed", e.Last, e.Failures)
	}
	return fmt.Sprintf("%s %s: stopped: target unreachable since %d consecutive requests failed (last: %s)",
		e.Method, e.Path, e.Failures, e.Last)
}

// Is makes errors.Is(err, ErrTargetUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrTargetUnreachable }

// Unwrap returns the failure that opened the breaker.
func (e *UnreachableError) Unwrap() error { return e.Last }

// breaker counts consecutive requests that failed as unreachable (see unreachable). At the threshold it
// opens: its generation context is cancelled, which ends attempts and retry waits in flight, and
// every later request fails at once without touching the network until Reset.
type breaker struct {
	threshold int // 0: disabled
	mu        sync.Mutex
	fails     int
	last      *Error
	gen       context.Context // cancelled when the breaker opens
	trip      context.CancelFunc
}

func newBreaker(threshold int) *breaker {
	b := &breaker{threshold: threshold}
	b.reset()
	return b
}

func (b *breaker) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The old generation is left as it is: a request still in flight from before keeps its own fate
	// and, being of another generation, no longer counts.
	b.fails, b.last = 0, nil
	b.gen, b.trip = context.WithCancel(context.Background())
}

// generation is the context requests watch: done once the breaker is open.
func (b *breaker) generation() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}

// refused returns the error for a request not sent because gen's breaker is open, or nil.
func (b *breaker) refused(gen context.Context, rq *request) error {
	if gen.Err() == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return &UnreachableError{Method: rq.method, Path: rq.display(), Failures: b.fails, Last: b.last}
}

// done records the end of a request sent in generation gen: err is nil for success, else its final
// failure. It returns the error to give the caller: err itself, or an *UnreachableError when this
// failure opened the breaker.
func (b *breaker) done(gen context.Context, err *Error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen || gen.Err() != nil {
		// An older generation, or the breaker opened meanwhile: this request no longer counts.
		if err == nil {
			return nil
		}
		return err
	}
	if err == nil || !unreachable(err) {
		b.fails = 0
		if err == nil {
			return nil
		}
		return err
	}
	b.fails++
	b.last = err
	if b.threshold <= 0 || b.fails < b.threshold {
		return err
	}
	b.trip()
	return &UnreachableError{Method: err.Method, Path: err.Path, Sent: true, Failures: b.fails, Last: err}
}

// unreachable reports whether a request's final failure says the target is not there: a transport
// error (refused, reset, no answer within the timeout, TLS or DNS failure), a lost answer, or a 5xx
// other than 500 — 502, 503, 504 and the like are what a proxy or load balancer answers when the
// application behind it is down. A 500 or 408 is the application answering, usually about that one
// request, so it counts as an answer: it resets the count like a success, a 4xx or a 429.
func unreachable(e *Error) bool {
	if !errors.Is(e.Kind, ErrTransient) {
		return false
	}
	return e.Status != http.StatusInternalServerError && e.Status != http.StatusRequestTimeout
}
