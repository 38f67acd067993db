package store

import (
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	"github.com/scimsync/scimsync/store/internal/logpage"
	bolt "go.etcd.io/bbolt"
)

// LogEntry is one line of the provisioning log (fields documented in store/internal/codec).
type LogEntry = codec.LogEntry

// Step is one provisioning step of a log entry, as in the portal's Steps tab.
type Step = codec.Step

// Property is one modified target attribute, as in the portal's Modified Properties tab.
type Property = codec.Property

// LogQuery selects log entries; zero fields do not filter (documented in store/internal/logpage).
type LogQuery = logpage.Query

// AppendLog stores entries in one transaction, as compact records (store/internal/codec); an entry
// with the same time and id replaces the earlier one, so re-logging after a retried write does not
// duplicate.
func (s *Store) AppendLog(entries ...LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, layout.Log)
		if err != nil {
			return err
		}
		PrepareLog(entries, now)
		return logpage.Append(b, entries)
	})
	if err != nil {
		return fmt.Errorf("append %d log entries: %w", len(entries), err)
	}
	return nil
}

// PrepareLog fills the ID and Time that AppendLog fills, for every backend.
func PrepareLog(entries []LogEntry, now time.Time) { logpage.Prepare(entries, now) }

// QueryLog returns matching entries newest first, scanning only the requested time range.
func (s *Store) QueryLog(q LogQuery) ([]LogEntry, error) {
	var out []LogEntry
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(layout.Log)
		if b == nil {
			return nil
		}
		var err error
		if out, err = logpage.Read(b, q); err != nil {
			return &CorruptError{Path: s.path, Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	return out, nil
}

// pruneChunk bounds one pruning transaction, so pruning a month of a large tenant's log neither holds
// the writer lock for long nor builds a huge dirty-page set in memory.
const pruneChunk = 10000

// PruneLog deletes entries older than before (the retention: 30 days in Entra's premium tier) and
// returns how many it deleted. It commits in chunks; an error leaves earlier chunks deleted, which is
// harmless as a later prune finishes the job.
func (s *Store) PruneLog(before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			b, err := layout.BucketOrErr(tx, layout.Log)
			if err != nil {
				return err
			}
			n, err = logpage.Prune(b, before, pruneChunk)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune log before %s: %w", before.Format(time.RFC3339), err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
