package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/scimsync/scimsync/store/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// Snapshot reads the whole file in one read transaction, so the copy is consistent even beside writers.
func (s *Store) Snapshot() (*Snapshot, error) {
	snap := &Snapshot{Format: SnapshotFormat, Watermarks: map[string]string{}, Meta: map[string][]byte{},
		Sets: map[string]map[string][]string{}}
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktMeta); b != nil {
			snap.Fingerprint = string(b.Get(keyFingerprint))
			if raw := b.Get(keyGrant); raw != nil {
				snap.Grant = bytes.Clone(raw)
			}
		}
		var q Quarantine
		if ok, err := getJSON(s.path, tx, bktMeta, keyQuarantine, &q); err != nil {
			return err
		} else if ok {
			snap.Quarantine = &q
		}
		var a AbortStreak
		if ok, err := getJSON(s.path, tx, bktMeta, keyAborts, &a); err != nil {
			return err
		} else if ok {
			snap.AbortStreak = &a
		}
		var d TargetDialect
		if ok, err := getJSON(s.path, tx, bktMeta, keyDialect, &d); err != nil {
			return err
		} else if ok {
			snap.Dialect = &d
		}
		if err := forEach(tx, bktWatermarks, func(k, v []byte) error {
			snap.Watermarks[string(k)] = string(v)
			return nil
		}); err != nil {
			return err
		}
		if err := forEach(tx, bktKV, func(k, v []byte) error {
			snap.Meta[string(k)] = bytes.Clone(v)
			return nil
		}); err != nil {
			return err
		}
		// Every kind bucket, in byte order, so both backends list anchors alike.
		if top := tx.Bucket(bktAnchors); top != nil {
			if err := top.ForEachBucket(func(name []byte) error {
				kind := Kind(name)
				return top.Bucket(name).ForEach(func(k, v []byte) error {
					var a Anchor
					if err := s.decode(kind, k, v, &a); err != nil {
						return err
					}
					// The portable version 1 record, as the PostgreSQL backend keeps it, so a snapshot
					// reads the same from either backend and in older builds.
					snap.Anchors = append(snap.Anchors, AnchorRecord{Kind: kind, SourceID: string(k), Record: EncodeAnchor(&a)})
					return nil
				})
			}); err != nil {
				return err
			}
		}
		if err := forEachJSON(s.path, tx, bktEscrows, func() any { snap.Escrows = append(snap.Escrows, Escrow{}); return &snap.Escrows[len(snap.Escrows)-1] }); err != nil {
			return err
		}
		if err := forEachJSON(s.path, tx, bktStaged, func() any { snap.Staged = append(snap.Staged, StagedOp{}); return &snap.Staged[len(snap.Staged)-1] }); err != nil {
			return err
		}
		if err := forEachJSON(s.path, tx, bktCycles, func() any { snap.Cycles = append(snap.Cycles, Cycle{}); return &snap.Cycles[len(snap.Cycles)-1] }); err != nil {
			return err
		}
		if err := forEach(tx, bktLog, func(k, v []byte) error {
			snap.Log = append(snap.Log, LogEntry{})
			if err := codec.DecodeLog(k, v, &snap.Log[len(snap.Log)-1]); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("log entry %x: %w", k, err)}
			}
			return nil
		}); err != nil {
			return err
		}
		if top := tx.Bucket(bktSets); top != nil {
			if err := top.ForEachBucket(func(name []byte) error {
				m := map[string][]string{}
				if err := top.Bucket(name).ForEach(func(k, v []byte) error {
					var list []string
					if err := json.Unmarshal(v, &list); err != nil {
						return &CorruptError{Path: s.path, Err: fmt.Errorf("set %s/%s: %w", name, k, err)}
					}
					m[string(k)] = list
					return nil
				}); err != nil {
					return err
				}
				snap.Sets[string(name)] = m
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.path, err)
	}
	return snap, nil
}

func forEach(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// forEachJSON decodes every value of a bucket, in key order, into the value next returns.
func forEachJSON(path string, tx *bolt.Tx, name []byte, next func() any) error {
	return forEach(tx, name, func(k, v []byte) error {
		if err := json.Unmarshal(v, next()); err != nil {
			return &CorruptError{Path: path, Err: fmt.Errorf("value %s/%x: %w", name, k, err)}
		}
		return nil
	})
}

// Restore replaces everything in the file by snap in one transaction: after a failure the file is as it
// was.
func (s *Store) Restore(snap *Snapshot) error {
	if err := CheckSnapshot(snap); err != nil {
		return err
	}
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if string(name) == string(bktMeta) {
				continue
			}
			if err := resetBucket(tx, name); err != nil {
				return err
			}
		}
		meta, err := bucketOrErr(tx, bktMeta)
		if err != nil {
			return err
		}
		for _, k := range [][]byte{keyFingerprint, keyQuarantine, keyAborts, keyDialect, keyGrant} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		if snap.Fingerprint != "" {
			if err := meta.Put(keyFingerprint, []byte(snap.Fingerprint)); err != nil {
				return err
			}
		}
		if len(snap.Grant) > 0 {
			if err := meta.Put(keyGrant, bytes.Clone(snap.Grant)); err != nil {
				return err
			}
		}
		for key, v := range map[string]any{string(keyQuarantine): snap.Quarantine, string(keyAborts): snap.AbortStreak, string(keyDialect): snap.Dialect} {
			if isNilPtr(v) {
				continue
			}
			if err := putJSON(tx, bktMeta, []byte(key), v); err != nil {
				return err
			}
		}
		wm := tx.Bucket(bktWatermarks)
		for k, v := range snap.Watermarks {
			if err := wm.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		kv := tx.Bucket(bktKV)
		for k, v := range snap.Meta {
			if err := kv.Put([]byte(k), bytes.Clone(v)); err != nil {
				return err
			}
		}
		for _, r := range snap.Anchors {
			var a Anchor
			if err := codec.DecodeAnchor(r.Record, &a); err != nil {
				return err
			}
			a.Kind, a.SourceID = r.Kind, r.SourceID
			if err := putAnchor(tx, &a, a.UpdatedAt); err != nil {
				return err
			}
		}
		for _, e := range snap.Escrows {
			key, err := objectKey(e.Kind, e.SourceID)
			if err != nil {
				return err
			}
			if err := putJSON(tx, bktEscrows, key, e); err != nil {
				return err
			}
		}
		for _, op := range snap.Staged {
			key, err := objectKey(op.Kind, op.SourceID)
			if err != nil {
				return err
			}
			if err := putJSON(tx, bktStaged, key, op); err != nil {
				return err
			}
		}
		cycles, ids := tx.Bucket(bktCycles), tx.Bucket(bktCycleIDs)
		for _, c := range snap.Cycles {
			seq, err := cycles.NextSequence()
			if err != nil {
				return err
			}
			key := binary.BigEndian.AppendUint64(nil, seq)
			if err := ids.Put([]byte(c.ID), key); err != nil {
				return err
			}
			if err := putJSON(tx, bktCycles, key, c); err != nil {
				return err
			}
		}
		logs := tx.Bucket(bktLog)
		for i := range snap.Log {
			e := &snap.Log[i]
			if err := logs.Put(codec.LogKey(e.Time, e.ID), codec.AppendLog(nil, e)); err != nil {
				return err
			}
		}
		sets := tx.Bucket(bktSets)
		for name, m := range snap.Sets {
			b, err := sets.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for k, list := range m {
				raw, err := json.Marshal(list)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(k), raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", s.path, err)
	}
	return nil
}

func isNilPtr(v any) bool {
	switch p := v.(type) {
	case *Quarantine:
		return p == nil
	case *AbortStreak:
		return p == nil
	case *TargetDialect:
		return p == nil
	}
	return v == nil
}
