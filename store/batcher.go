package store

import (
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/batch"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// ErrBatcherClosed matches the error recorded when Put or Delete is called after Close: those writes are
// dropped, which the engine must treat like a crash (it re-matches next cycle).
var ErrBatcherClosed = batch.ErrClosed

// Batcher groups the per-object results of the apply phase into few transactions, since each bbolt
// transaction costs an fsync (its queueing and ordering are documented in store/internal/batch).
type Batcher = batch.Batcher

// LinkOp is one queued write of a Batcher.
type LinkOp = batch.LinkOp

// BatchWriter commits a batch of anchor writes in one transaction, in the order given, or none of them;
// each backend has one, and the Batcher's queueing and ordering are shared.
type BatchWriter = batch.Writer

// NewBatcher returns a Batcher on s; Close it before closing s.
func (s *Store) NewBatcher(maxItems int, maxDelay time.Duration) *Batcher {
	return NewBatcherOn(boltBatchWriter{s}, maxItems, maxDelay)
}

type boltBatchWriter struct{ s *Store }

func (w boltBatchWriter) WriteLinks(ops []LinkOp) error {
	if !w.s.readOnly { // a writable store journals its batches (journal.go)
		return w.s.journalLinks(ops)
	}
	now := time.Now().UTC()
	return w.s.update(func(tx *bolt.Tx) error {
		for i := range ops {
			op := &ops[i]
			var err error
			if op.Put {
				err = layout.PutLink(tx, &op.Link, now)
			} else {
				err = layout.DeleteLink(tx, op.Link.Kind, op.Link.SourceID)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", batch.OpName(*op), op.Link, err)
			}
		}
		return nil
	})
}

// NewBatcherOn returns a Batcher committing through w; zero or negative limits take the defaults.
func NewBatcherOn(w BatchWriter, maxItems int, maxDelay time.Duration) *Batcher {
	return batch.New(w, maxItems, maxDelay)
}
