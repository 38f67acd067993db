package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/batch"
	"github.com/scimsync/scimsync/store/internal/journal"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// The Batcher's anchor writes go to a journal beside the state file (store/internal/journal says why
// and how) and are folded into the file in key order: when the journal reaches these limits, before
// a read of many anchors, or of one by its target id, of a kind it holds writes of, before anything
// that reads or replaces the whole file, and on Close. Link reads one anchor through the journal. Each
// fold transaction writes at most foldChunk anchors, so its dirty pages stay a few MiB. The limits
// let an initial cycle of 100,000 users fold once, at its end, into empty buckets with full pages
// (layout.FoldLinks), where folding every 32,768 writes put the later folds between the keys of the
// first and left a file that needed compacting (docs/performance.md#the-anchor-journal); the journal's
// index holds about 120 bytes a write meanwhile. They are variables for the tests, which fold a few
// writes at a time.
var (
	foldOps   = 128 << 10
	foldBytes = int64(128 << 20)
	foldChunk = 4 << 10
	// foldCommitted, when set, runs after each transaction of a fold; an error stops the fold there
	// as a crash would.
	foldCommitted func() error
)

// journalPath is where the journal of the state file at abs lives.
func journalPath(abs string) string { return abs + ".journal" }

// openJournal opens the journal of a writable store and folds what a process that stopped without
// closing the store left in it.
func (s *Store) openJournal() error {
	j, err := journal.Open(journalPath(s.abs))
	if err != nil {
		return s.journalErr("open state file", err)
	}
	s.jr = j // no other goroutine has s yet
	if err := s.foldLocked(); err != nil {
		_ = j.Close()
		return err
	}
	return nil
}

// journalLinks appends a Batcher's writes to the journal (journal.Prepare completes their records).
func (s *Store) journalLinks(ops []batch.LinkOp) error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jr == nil {
		return fmt.Errorf("state file %s is closed", s.path)
	}
	var jops []journal.Op
	err := s.view(func(tx *bolt.Tx) (err error) {
		jops, err = s.jr.Prepare(tx, ops, time.Now().UTC())
		return err
	})
	if err == nil {
		err = s.jr.Append(jops)
	}
	if err == nil && (s.jr.Ops() >= foldOps || s.jr.Size() >= foldBytes) {
		// The writes are durable: a fold that fails here is tried again, and reported, by the
		// next read or Close that needs it, not by the batch.
		_ = s.foldLocked()
	}
	return err
}

// journaled returns the journal's last write of one anchor: ok is false when the journal holds none.
func (s *Store) journaled(kind Kind, sourceID string) (a Link, found, ok bool, err error) {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jr == nil {
		return Link{}, false, false, nil
	}
	return s.jr.Link(kind, sourceID, func(rec []byte, a *Link) error {
		return layout.DecodeLink(journalPath(s.path), kind, []byte(sourceID), rec, a)
	})
}

// settle folds the journal if it holds writes of kind ("" for any), so that a read of the file sees them.
func (s *Store) settle(kind Kind) error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jr == nil || kind == "" && s.jr.Ops() == 0 || kind != "" && s.jr.Pending(kind) == 0 {
		return nil
	}
	return s.foldLocked()
}

// foldLocked writes the journal's anchors into the file (journal.Fold) and empties the journal.
func (s *Store) foldLocked() error {
	if err := s.jr.Fold(s.update, foldChunk, foldCommitted); err != nil {
		return s.journalErr("fold anchor journal into", err)
	}
	return nil
}

// journalErr is err of doing something with the journal of the file: damage to the journal is the
// store's CorruptError (the CLI advises on it), saying what moving the journal aside costs.
func (s *Store) journalErr(doing string, err error) error {
	var ce *journal.CorruptError
	if errors.As(err, &ce) {
		return &CorruptError{Path: s.path, Err: fmt.Errorf("%w; moving the journal aside loses only anchor writes, "+
			"which the next cycle finds again by matching", err)}
	}
	return fmt.Errorf("%s %s: %w", doing, s.path, err)
}

// closeJournal folds what is left and closes the journal (removing it once empty).
func (s *Store) closeJournal() error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jr == nil {
		return nil
	}
	err := s.foldLocked()
	if cerr := s.jr.Close(); err == nil {
		err = cerr
	}
	s.jr = nil
	return err
}
