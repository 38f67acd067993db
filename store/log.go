package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// LogEntry is one line of the provisioning log (fields documented in store/internal/codec).
type LogEntry = codec.LogEntry

// Step is one provisioning step of a log entry, as in the portal's Steps tab.
type Step = codec.Step

// Property is one modified target attribute, as in the portal's Modified Properties tab.
type Property = codec.Property

// LogQuery selects log entries; zero fields do not filter.
type LogQuery struct {
	// Status and Action match case-insensitively ("failure" finds "Failure").
	Status, Action string
	// Object matches a case-insensitive substring of the source id, target id or identity.
	Object  string
	CycleID string
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	// Limit caps the result; 0 means no cap.
	Limit int
}

// AppendLog stores entries in one transaction, as compact records (compact.go); an entry with the same time and id replaces the earlier
// one, so re-logging after a retried write does not duplicate.
func (s *Store) AppendLog(entries ...LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error {
		b, err := bucketOrErr(tx, bktLog)
		if err != nil {
			return err
		}
		PrepareLog(entries, now)
		// Keys grow with time, so pages filled to the brim stay full: no room is kept for inserts
		// in the middle that (almost) never come.
		b.FillPercent = 0.95
		for i := range entries {
			e := &entries[i]
			// A fresh buffer each: bbolt keeps the value until the transaction commits.
			if err := b.Put(codec.LogKey(e.Time, e.ID), codec.AppendLog(make([]byte, 0, 320), e)); err != nil {
				return fmt.Errorf("entry %s: %w", e.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d log entries: %w", len(entries), err)
	}
	return nil
}

// PrepareLog fills the ID and Time that AppendLog fills, for every backend.
func PrepareLog(entries []LogEntry, now time.Time) {
	for i := range entries {
		e := &entries[i]
		if e.ID == "" {
			e.ID = newID()
		}
		if e.Time.IsZero() {
			e.Time = now
		}
	}
}

// Match reports whether e passes the filters of q other than the time range and the limit, which a
// backend applies while it reads.
func (q *LogQuery) Match(e *LogEntry) bool { return q.matches(e, strings.ToLower(q.Object)) }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// QueryLog returns matching entries newest first, scanning only the requested time range.
func (s *Store) QueryLog(q LogQuery) ([]LogEntry, error) {
	var out []LogEntry
	obj := strings.ToLower(q.Object)
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktLog)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if q.Until.IsZero() {
			k, v = c.Last()
		} else {
			// Seek lands on the first key >= Until; everything from there on is excluded.
			k, _ = c.Seek(codec.TimePrefix(q.Until))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		var since []byte
		if !q.Since.IsZero() {
			since = codec.TimePrefix(q.Since)
		}
		for ; k != nil; k, v = c.Prev() {
			if since != nil && string(k[:min(8, len(k))]) < string(since) {
				break
			}
			var e LogEntry
			if err := codec.DecodeLog(k, v, &e); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("log entry %x: %w", k, err)}
			}
			if !q.matches(&e, obj) {
				continue
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	return out, nil
}

func (q *LogQuery) matches(e *LogEntry, obj string) bool {
	if q.Status != "" && !strings.EqualFold(q.Status, e.Status) {
		return false
	}
	if q.Action != "" && !strings.EqualFold(q.Action, e.Action) {
		return false
	}
	if q.CycleID != "" && q.CycleID != e.CycleID {
		return false
	}
	if obj != "" && !strings.Contains(strings.ToLower(e.SourceID), obj) &&
		!strings.Contains(strings.ToLower(e.TargetID), obj) &&
		!strings.Contains(strings.ToLower(e.Identity), obj) {
		return false
	}
	return true
}

// pruneChunk bounds one pruning transaction, so pruning a month of a large tenant's log neither holds
// the writer lock for long nor builds a huge dirty-page set in memory.
const pruneChunk = 10000

// PruneLog deletes entries older than before (the retention: 30 days in Entra's premium tier) and
// returns how many it deleted. It commits in chunks; an error leaves earlier chunks deleted, which is
// harmless as a later prune finishes the job.
func (s *Store) PruneLog(before time.Time) (int, error) {
	cutoff := string(codec.TimePrefix(before))
	total := 0
	for {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			b, err := bucketOrErr(tx, bktLog)
			if err != nil {
				return err
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil && n < pruneChunk; k, _ = c.First() {
				if string(k[:min(8, len(k))]) >= cutoff {
					break
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
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
