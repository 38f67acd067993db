// Package batch groups anchor writes into few transactions, whatever backend commits them: the queueing,
// ordering and error reporting every backend shares.
package batch

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
)

// ErrClosed matches the error recorded when Put or Delete is called after Close: those writes are
// dropped, which the engine must treat like a crash (it re-matches next cycle).
var ErrClosed = errors.New("batcher closed")

// Default batcher limits, used when New gets zero or negative values.
const (
	DefaultItems = 1000
	DefaultDelay = time.Second
)

// Batcher groups the per-object results of the apply phase into few transactions. Each bbolt transaction
// costs an fsync, which would dominate a 10,000-object initial cycle if every object committed alone.
//
// Writes are applied in the order Put and Delete were called. A batch is committed in the background
// when it reaches maxItems or maxDelay after its first write, so a crash loses at most maxDelay of
// results (and what a commit in flight holds); that is safe because the engine finds lost creates
// again by matching. The commit is a group commit: what arrives while one is in flight (its fsync
// above all) waits and goes into the next, so batches grow with the disk's latency instead of
// every maxItems-th caller waiting for its own fsync. Only a caller that finds backPressure batches
// queued commits itself and waits.
//
// A failed commit keeps its writes queued for the next attempt and the error is returned by the next
// Flush or Close (for a commit of full batches, only when Flush's own attempt fails too, since the
// writes were committed otherwise). Methods are safe for concurrent use.
type Batcher struct {
	w     Writer
	max   int
	delay time.Duration

	mu      sync.Mutex // guards the fields below
	pending []LinkOp
	// spare is the array of the last batch committed, cleared, for the next one: growing a fresh
	// slice to a batch of 1,024 writes (more while a commit runs) was a large part of what the apply
	// step allocated per link.
	spare  []LinkOp
	armed  bool // a delay timer is running
	timer  *time.Timer
	err    error // first unreported error
	closed bool
	// committing: a background commit runs; it keeps committing while a full batch is queued.
	committing bool
	background sync.WaitGroup

	flushMu sync.Mutex // serialises commits so batches land in order
}

// LinkOp is one queued write of a Batcher.
type LinkOp struct {
	Put bool
	// Link is the anchor to put; for a delete only Kind and SourceID are set.
	Link codec.Link
}

// Writer commits a batch of anchor writes in one transaction, in the order given, or none of them;
// each backend has one, and the Batcher's queueing and ordering are shared. ops is the Batcher's until
// WriteLinks returns: it is reused for a later batch.
type Writer interface {
	WriteLinks(ops []LinkOp) error
}

// New returns a Batcher committing through w; zero or negative limits take the defaults.
func New(w Writer, maxItems int, maxDelay time.Duration) *Batcher {
	if maxItems <= 0 {
		maxItems = DefaultItems
	}
	if maxDelay <= 0 {
		maxDelay = DefaultDelay
	}
	return &Batcher{w: w, max: maxItems, delay: maxDelay}
}

// Put queues an anchor write; the anchor is stored as given at the time of the call (Values and
// Members are not copied, so do not mutate them afterwards).
func (b *Batcher) Put(a codec.Link) { b.add(LinkOp{Put: true, Link: a}) }

// Delete queues the removal of an anchor.
func (b *Batcher) Delete(kind codec.Kind, sourceID string) {
	b.add(LinkOp{Link: codec.Link{Kind: kind, SourceID: sourceID}})
}

func (b *Batcher) add(op LinkOp) {
	b.mu.Lock()
	var reject error
	switch {
	case b.closed:
		reject = ErrClosed
	case op.Link.Kind == "" || op.Link.SourceID == "":
		// Rejected here rather than at commit, where a permanent error would fail every later batch.
		reject = errors.New("kind and source id are required")
	}
	if reject != nil {
		if b.err == nil {
			b.err = fmt.Errorf("%s %s: %w", OpName(op), op.Link, reject)
		}
		b.mu.Unlock()
		return
	}
	b.pending = append(b.pending, op)
	n := len(b.pending)
	start := n >= b.max && !b.committing
	if start {
		b.committing = true
		b.background.Add(1)
	}
	if n < b.max && !b.armed {
		b.armed = true
		b.timer = time.AfterFunc(b.delay, b.onTimer)
	}
	b.mu.Unlock()
	if start {
		go b.commitFull()
	}
	if n >= backPressure*b.max {
		// The disk falls behind: this caller waits for a commit of everything queued.
		b.record(b.flush())
	}
}

// backPressure is how many batches may be queued before callers wait.
const backPressure = 8

// commitFull commits in the background while a full batch is queued; a failed commit stops it (the
// writes stay queued, the next full batch or Flush tries again).
func (b *Batcher) commitFull() {
	defer b.background.Done()
	for {
		// Its error is not recorded: the writes stay queued, and the next Flush commits them or
		// reports its own failure.
		err := b.flush()
		b.mu.Lock()
		if err != nil || len(b.pending) < b.max {
			b.committing = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}

// OpName names op in error messages.
func OpName(op LinkOp) string {
	if op.Put {
		return "put anchor"
	}
	return "delete anchor"
}

func (b *Batcher) onTimer() {
	b.mu.Lock()
	b.armed = false
	b.mu.Unlock()
	b.record(b.flush())
}

// record keeps the first error of a background or size-triggered commit for Flush or Close to return.
func (b *Batcher) record(err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// takeErr returns and forgets the recorded error, so each failure is reported once.
func (b *Batcher) takeErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.err
	b.err = nil
	return err
}

// flush commits everything queued so far. The queue is taken while holding flushMu, so a later batch can
// never commit before an earlier one.
func (b *Batcher) flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	batch := b.pending
	b.pending, b.spare = b.spare[:0], nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := b.w.WriteLinks(batch)
	if err == nil {
		clear(batch) // the links' values go now, not when the array is next filled
		b.mu.Lock()
		if cap(batch) <= backPressure*b.max {
			b.spare = batch[:0]
		}
		b.mu.Unlock()
	}
	if err != nil {
		// Requeue in front of anything added meanwhile, so order is kept and nothing is lost.
		b.mu.Lock()
		b.pending = append(batch, b.pending...)
		b.mu.Unlock()
		return fmt.Errorf("batch of %d anchor writes: %w", len(batch), err)
	}
	return nil
}

// Flush commits everything queued so far and returns it or any earlier unreported commit error; the
// engine calls it before storing the watermark, so the watermark never gets ahead of the anchors.
func (b *Batcher) Flush() error {
	err := b.flush()
	if prev := b.takeErr(); prev != nil {
		if err == nil {
			return prev
		}
		return errors.Join(prev, err)
	}
	return err
}

// Close flushes and stops the Batcher; later Puts are dropped with ErrClosed. It is idempotent.
// It returns once no background commit runs.
func (b *Batcher) Close() error {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.armed = false
	}
	b.mu.Unlock()
	err := b.Flush()
	b.background.Wait()
	if late := b.takeErr(); late != nil {
		err = errors.Join(err, late)
	}
	return err
}

// Pending returns how many writes are queued, for metrics and tests.
func (b *Batcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
