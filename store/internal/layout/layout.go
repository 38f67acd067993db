// Package layout is the bbolt state file's layout: which bucket holds what in which form, and the
// writes that keep two buckets in step (an anchor and the target index, a cycle and its id). The
// store's methods wrap these in transactions; Dump and Load carry the whole file to and from a
// Snapshot.
package layout

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Links, targets, escrows and staged operations nest one bucket per Kind so that a kind
// can be listed or cleared without scanning the others.
var (
	Meta       = []byte("meta")       // schema version, fingerprint, quarantine, target dialect
	KV         = []byte("kv")         // GetMeta/SetMeta, kept apart so callers cannot clobber internal keys
	Watermarks = []byte("watermarks") // delta links by name
	Links      = []byte("anchors")    // kind -> source id -> encoded Link
	Targets    = []byte("targets")    // kind -> target id -> source id
	Escrows    = []byte("escrows")    // kind\x00source id -> JSON Escrow
	Staged     = []byte("staged")     // kind\x00source id -> JSON StagedOp
	Cycles     = []byte("cycles")     // big-endian sequence -> JSON Cycle
	CycleIDs   = []byte("cycleids")   // cycle id -> sequence, so re-adding a cycle replaces it
	Log        = []byte("log")        // big-endian time + id -> compact LogEntry (JSON before schema 2)
	Sets       = []byte("sets")       // set name -> key -> JSON []string (group members, assignments)

	KeySchema      = []byte("schema")
	KeyFingerprint = []byte("fingerprint")
	KeyQuarantine  = []byte("quarantine")
	KeyAborts      = []byte("aborts")
	KeyDialect     = []byte("dialect")
	KeyGrant       = []byte("oauthgrant")

	All = [][]byte{Meta, KV, Watermarks, Links, Targets, Escrows, Staged,
		Cycles, CycleIDs, Log, Sets}
)

// ErrCorrupt matches errors caused by a damaged file (a file cut short, garbage meta pages, a stored value
// that does not decode), so the CLI can advise a rebuild instead of retrying, which can never help.
// errors.As with *CorruptError gives the path and the detail.
var ErrCorrupt = errors.New("state file is damaged")

// CorruptError names the damaged file and what is damaged (a page, or a bucket and key).
type CorruptError struct {
	Path string
	Err  error
}

// Error names the file and the damage; the way out depends on the caller (the CLI names its rebuild
// command), so it is not part of the message.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is damaged: %v", e.Path, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) work without string matching.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap exposes bbolt's own error (ErrInvalid, ErrChecksum, ...).
func (e *CorruptError) Unwrap() error { return e.Err }

func BucketOrErr(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", name)
	}
	return b, nil
}

func ResetBucket(tx *bolt.Tx, name []byte) error {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return err
	}
	_, err := tx.CreateBucket(name)
	return err
}

// GetJSON decodes a JSON value stored under key in bucket name; ok is false when absent.
func GetJSON(path string, tx *bolt.Tx, name, key []byte, v any) (bool, error) {
	b := tx.Bucket(name)
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, &CorruptError{Path: path, Err: fmt.Errorf("value %s/%s: %w", name, key, err)}
	}
	return true, nil
}

// PutJSON stores v as JSON under key in bucket name.
func PutJSON(tx *bolt.Tx, name, key []byte, v any) error {
	b, err := BucketOrErr(tx, name)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func ForEach(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// ForEachJSON decodes every value of a bucket, in key order, into the value next returns.
func ForEachJSON(path string, tx *bolt.Tx, name []byte, next func() any) error {
	return ForEach(tx, name, func(k, v []byte) error {
		if err := json.Unmarshal(v, next()); err != nil {
			return &CorruptError{Path: path, Err: fmt.Errorf("value %s/%x: %w", name, k, err)}
		}
		return nil
	})
}

func KindBucket(tx *bolt.Tx, top []byte, kind codec.Kind) *bolt.Bucket {
	b := tx.Bucket(top)
	if b == nil || kind == "" {
		return nil
	}
	return b.Bucket([]byte(kind))
}

func CreateKindBucket(tx *bolt.Tx, top []byte, kind codec.Kind) (*bolt.Bucket, error) {
	b := tx.Bucket(top)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", top)
	}
	if kind == "" {
		return nil, errors.New("empty kind")
	}
	return b.CreateBucketIfNotExists([]byte(kind))
}

// ObjectKey is the key of an escrow or staged operation: kind\x00source id.
func ObjectKey(kind codec.Kind, sourceID string) ([]byte, error) {
	if kind == "" || sourceID == "" {
		return nil, errors.New("kind and source id are required")
	}
	return []byte(string(kind) + "\x00" + sourceID), nil
}

// PutLink writes one anchor and moves its target-index entry. Each record gets its own buffer: bbolt
// keeps a reference to the value until the transaction commits.
func PutLink(tx *bolt.Tx, a *codec.Link, now time.Time) error {
	if a.Kind == "" || a.SourceID == "" {
		return fmt.Errorf("anchor %s: kind and source id are required", a)
	}
	if a.Packed != "" {
		return fmt.Errorf("anchor %s: %w", a, codec.ErrPacked)
	}
	anchors, err := CreateKindBucket(tx, Links, a.Kind)
	if err != nil {
		return err
	}
	idx, err := CreateKindBucket(tx, Targets, a.Kind)
	if err != nil {
		return err
	}
	key := []byte(a.SourceID)
	rec := *a
	if old := anchors.Get(key); old != nil {
		// A damaged old record is replaced, not refused: the new one is complete, and a stale index entry
		// left behind is ignored by LinkByTarget.
		oldTarget, created, err := codec.DecodeLinkHead(old)
		if err != nil {
			oldTarget, created = "", time.Time{}
		}
		if rec.CreatedAt.IsZero() {
			rec.CreatedAt = created
		}
		if oldTarget != "" && oldTarget != a.TargetID {
			if err := deleteIndex(idx, oldTarget, key); err != nil {
				return err
			}
		}
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = now
	}
	if err := anchors.Put(key, codec.AppendLink(make([]byte, 0, 256), &rec, codec.LinkV2)); err != nil {
		return fmt.Errorf("anchor %s: %w", a, err)
	}
	if a.TargetID != "" {
		if err := idx.Put([]byte(a.TargetID), codec.IndexValue(key)); err != nil {
			return fmt.Errorf("anchor %s: index: %w", a, err)
		}
	}
	return nil
}

// deleteIndex removes target -> source only if it still points at source, so a target id taken over by
// another anchor keeps its entry.
func deleteIndex(idx *bolt.Bucket, targetID string, source []byte) error {
	if cur := codec.IndexSource(idx.Get([]byte(targetID))); cur != nil && string(cur) == string(source) {
		return idx.Delete([]byte(targetID))
	}
	return nil
}

func DeleteLink(tx *bolt.Tx, kind codec.Kind, sourceID string) error {
	anchors := KindBucket(tx, Links, kind)
	if anchors == nil || sourceID == "" {
		return nil
	}
	key := []byte(sourceID)
	old := anchors.Get(key)
	if old == nil {
		return nil
	}
	if target, _, err := codec.DecodeLinkHead(old); err == nil && target != "" {
		if idx := KindBucket(tx, Targets, kind); idx != nil {
			if err := deleteIndex(idx, target, key); err != nil {
				return err
			}
		}
	}
	return anchors.Delete(key)
}

// DecodeLink fills a from the record stored under key in kind's bucket; a record that does not
// decode is a CorruptError naming the file at path.
func DecodeLink(path string, kind codec.Kind, key, rec []byte, a *codec.Link) error {
	if err := codec.DecodeLink(rec, a); err != nil {
		return &CorruptError{Path: path, Err: fmt.Errorf("anchor %s/%s: %w", kind, key, err)}
	}
	a.Kind = kind
	a.SourceID = string(key)
	return nil
}

// LinkDecoder decodes the anchor record v of source id k into a.
type LinkDecoder func(k, v []byte, a *codec.Link) error

// DecodeLinkPacked decodes as codec.DecodeLinkPacked; a damaged record is a CorruptError naming the
// file and the anchor.
func DecodeLinkPacked(path string, kind codec.Kind) LinkDecoder {
	return func(k, v []byte, a *codec.Link) error {
		a.Kind, a.SourceID = kind, string(k)
		if err := codec.DecodeLinkPacked(v, a); err != nil {
			return &CorruptError{Path: path, Err: fmt.Errorf("anchor %s/%s: %w", kind, k, err)}
		}
		return nil
	}
}

// ReadLinks decodes every anchor of kind, keyed by source id.
func ReadLinks(tx *bolt.Tx, kind codec.Kind, decode LinkDecoder) (map[string]codec.Link, error) {
	b := KindBucket(tx, Links, kind)
	if b == nil {
		return map[string]codec.Link{}, nil
	}
	// Sizing the map up front (a page walk) is cheaper than letting it grow through 100,000 inserts.
	out := make(map[string]codec.Link, b.Stats().KeyN)
	mapped.Drop(tx) // the walk mapped every page (dropNow)
	c := b.Cursor()
	i := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		dropNow(tx, i)
		i++
		var a codec.Link
		if err := decode(k, v, &a); err != nil {
			return nil, err
		}
		out[a.SourceID] = a
	}
	return out, nil
}

// GetLinks decodes the anchors of ids that exist (ids may repeat), keyed by source id.
func GetLinks(tx *bolt.Tx, kind codec.Kind, ids []string, decode LinkDecoder) (map[string]codec.Link, error) {
	out := make(map[string]codec.Link, len(ids))
	b := KindBucket(tx, Links, kind)
	if b == nil {
		return out, nil
	}
	for i, id := range ids {
		dropNow(tx, i)
		if _, done := out[id]; done || id == "" {
			continue
		}
		if rec := b.Get([]byte(id)); rec != nil {
			var a codec.Link
			if err := decode([]byte(id), rec, &a); err != nil {
				return nil, err
			}
			out[id] = a
		}
	}
	return out, nil
}

// MaxCycles is how many cycles the history keeps: enough for a week of 20-minute cycles, small enough that
// `scimsync status` reads it instantly.
const MaxCycles = 500

// AddCycle records c, replacing the cycle of the same ID in place, and prunes the history to MaxCycles.
func AddCycle(tx *bolt.Tx, c codec.Cycle) error {
	if c.ID == "" {
		return errors.New("empty cycle id")
	}
	cycles, err := BucketOrErr(tx, Cycles)
	if err != nil {
		return err
	}
	ids, err := BucketOrErr(tx, CycleIDs)
	if err != nil {
		return err
	}
	key := ids.Get([]byte(c.ID))
	if key == nil {
		seq, err := cycles.NextSequence()
		if err != nil {
			return err
		}
		key = binary.BigEndian.AppendUint64(nil, seq)
		if err := ids.Put([]byte(c.ID), key); err != nil {
			return err
		}
	} else {
		key = append([]byte(nil), key...)
	}
	if err := PutJSON(tx, Cycles, key, c); err != nil {
		return err
	}
	return pruneCycles(cycles, ids)
}

// pruneCycles keeps the newest MaxCycles entries; sequence numbers are dense, so everything below
// last-MaxCycles+1 goes.
func pruneCycles(cycles, ids *bolt.Bucket) error {
	last := cycles.Sequence()
	if last <= MaxCycles {
		return nil
	}
	cutoff := binary.BigEndian.AppendUint64(nil, last-MaxCycles+1)
	c := cycles.Cursor()
	for k, v := c.First(); k != nil && string(k) < string(cutoff); k, v = c.First() {
		var old struct{ ID string }
		if err := json.Unmarshal(v, &old); err == nil && old.ID != "" {
			if err := ids.Delete([]byte(old.ID)); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
