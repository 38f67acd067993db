// Package fanout runs a step's independent target requests with bounded concurrency. Every step of
// the cycle that talks to the target (matching lookups, object writes, member changes, manager links)
// fans out through Each, so the bound, the cancellation and the wait are written once.
package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// Each calls fn for every index 0..n-1 with at most limit calls in flight (at least one), and waits
// for all of them. The first error a call returns cancels the context every call gets, and is
// returned. Calls not started by then still run, with the cancelled context: each reports its own
// outcome (a cancelled request), so the caller counts every item once.
//
// limit workers take the indexes in turn rather than a goroutine per index: an initial cycle of
// 100,000 users started as many goroutines, and each grew its stack anew through the SCIM client's
// and the recording's calls (about 3 % of scimsync's CPU; docs/performance.md#cpu).
func Each(ctx context.Context, limit, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(max(limit, 1), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel(err) })
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Parts cuts items into at most n parts of nearly equal size, in order (one part per call of a
// batching target, n of them in flight).
func Parts[T any](items []T, n int) [][]T {
	n = min(max(n, 1), len(items))
	out := make([][]T, 0, n)
	for i := range n {
		out = append(out, items[i*len(items)/n:(i+1)*len(items)/n])
	}
	return out
}

// Chunks calls fn with consecutive parts of items of at most size each, until ctx is done, and
// clears each part once fn returns: a caller that holds many items (a wave of writes with their
// bodies) lets go of each part as soon as it is done with it.
func Chunks[T any](ctx context.Context, items []T, size int, fn func(part []T)) {
	size = max(size, 1)
	for start := 0; start < len(items) && ctx.Err() == nil; start += size {
		part := items[start:min(start+size, len(items))]
		fn(part)
		clear(part)
	}
}
