// Package logpage keeps the provisioning log in a bbolt bucket: entries keyed by time then id, so a
// query for a time range is a cursor seek and a walk back, and pruning takes the oldest keys first.
package logpage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// Query selects log entries; zero fields do not filter.
type Query struct {
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

// Prepare fills the ID and Time that Append fills, for every backend.
func Prepare(entries []codec.LogEntry, now time.Time) {
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
func (q *Query) Match(e *codec.LogEntry) bool { return q.matches(e, strings.ToLower(q.Object)) }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func (q *Query) matches(e *codec.LogEntry, obj string) bool {
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

// Append puts entries, already Prepared, into b as compact records; an entry with the same time and id
// replaces the earlier one.
func Append(b *bolt.Bucket, entries []codec.LogEntry) error {
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
}

// Read returns the entries of b that q selects, newest first, reading only q's time range. Its only
// error is a record that does not decode.
func Read(b *bolt.Bucket, q Query) ([]codec.LogEntry, error) {
	var out []codec.LogEntry
	obj := strings.ToLower(q.Object)
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
		var e codec.LogEntry
		if err := codec.DecodeLog(k, v, &e); err != nil {
			return nil, fmt.Errorf("log entry %x: %w", k, err)
		}
		if !q.matches(&e, obj) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

// Prune deletes up to limit entries of b logged before the given time, oldest first, and returns how
// many it deleted; fewer than limit means none of them is left.
func Prune(b *bolt.Bucket, before time.Time, limit int) (int, error) {
	cutoff := string(codec.TimePrefix(before))
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n < limit; k, _ = c.First() {
		if string(k[:min(8, len(k))]) >= cutoff {
			break
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
