package engine

import (
	"context"
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/plan"
)

// Batcher is a target that takes many writes in one call (SCIM Bulk, RFC 7644 §3.7). Batching says
// whether it does (Bulk on and offered); Batch's ok false means this call could not be made: those
// writes go one by one.
type Batcher interface {
	Batching(ctx context.Context) bool
	Batch(ctx context.Context, ws []plan.Write) (results []plan.WriteResult, ok bool)
}

// batched sends a wave's writes through the target's Batcher, Concurrency calls at a time, and
// settles every result exactly as a single request's (settleWrite: the same plan.Recover, the same
// escrows). A target without Bulk gets perWrite.
type batched struct{ e *Engine }

// maxBulkPart is the most writes one Batch call carries: a common maxOperations (the target's own
// limit cuts further), and a bound on the request bodies held at once.
const maxBulkPart = 1000

func (b batched) execute(ctx context.Context, k *objectKind, wave []plan.Change, prepare func(plan.Change) write, done func(write, *store.Link, error, time.Duration)) {
	bt, ok := k.tgt.(Batcher)
	if !ok || len(wave) < 2 || !bt.Batching(ctx) {
		perWrite(b).execute(ctx, k, wave, prepare, done)
		return
	}
	// At least two writes a call: a Bulk request of one operation only adds the envelope. At most
	// maxBulkPart writes a call, so the bodies built at once are those of Concurrency calls, not of a
	// whole wave (at 100,000 users a wave of creates is most of them).
	n := max(min(b.e.o.Concurrency, len(wave)/2), (len(wave)+maxBulkPart-1)/maxBulkPart)
	parts := fanout.Parts(wave, n)
	_ = fanout.Each(ctx, b.e.o.Concurrency, len(parts), func(ctx context.Context, i int) error {
		part := make([]write, len(parts[i]))
		for j, c := range parts[i] {
			part[j] = prepare(c)
		}
		b.send(ctx, k, bt, part, done)
		return nil
	})
}

// send makes one Batch call for part; when the target declines, each write goes on its own.
func (b batched) send(ctx context.Context, k *objectKind, bt Batcher, part []write, done func(write, *store.Link, error, time.Duration)) {
	e := b.e
	start := e.o.Now()
	ws := make([]plan.Write, 0, len(part))
	idx := make([]int, len(part))
	for i, w := range part {
		idx[i] = -1
		if pw, send := plan.WriteOf(w.c); send && w.err == nil {
			idx[i] = len(ws)
			ws = append(ws, pw)
		}
	}
	var res []plan.WriteResult
	if len(ws) > 0 {
		var ok bool
		if res, ok = bt.Batch(ctx, ws); !ok {
			for _, w := range part {
				s := e.o.Now()
				a, err := e.applyOne(ctx, k, w)
				done(w, a, err, e.o.Now().Sub(s))
			}
			return
		}
	}
	// One call carried them all: each write is charged its share of the call's time.
	took := e.o.Now().Sub(start) / time.Duration(len(part))
	for i, w := range part {
		var a *store.Link
		var err error
		if idx[i] >= 0 {
			a, err = e.settleWrite(ctx, k, w, res[idx[i]])
		} else {
			a, err = e.applyOne(ctx, k, w) // nothing to send: applyOne settles it (or names the op)
		}
		done(w, a, err, took)
	}
}
