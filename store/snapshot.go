package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// Snapshot reads the whole file in one read transaction, so the copy is consistent even beside writers.
func (s *Store) Snapshot() (*Snapshot, error) {
	snap := &Snapshot{Format: SnapshotFormat, Watermarks: map[string]string{}, Meta: map[string][]byte{},
		Sets: map[string]map[string][]string{}}
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(layout.Meta); b != nil {
			snap.Fingerprint = string(b.Get(layout.KeyFingerprint))
			if raw := b.Get(layout.KeyGrant); raw != nil {
				snap.Grant = bytes.Clone(raw)
			}
		}
		var q Quarantine
		if ok, err := layout.GetJSON(s.path, tx, layout.Meta, layout.KeyQuarantine, &q); err != nil {
			return err
		} else if ok {
			snap.Quarantine = &q
		}
		var a AbortStreak
		if ok, err := layout.GetJSON(s.path, tx, layout.Meta, layout.KeyAborts, &a); err != nil {
			return err
		} else if ok {
			snap.AbortStreak = &a
		}
		var d TargetDialect
		if ok, err := layout.GetJSON(s.path, tx, layout.Meta, layout.KeyDialect, &d); err != nil {
			return err
		} else if ok {
			snap.Dialect = &d
		}
		if err := layout.ForEach(tx, layout.Watermarks, func(k, v []byte) error {
			snap.Watermarks[string(k)] = string(v)
			return nil
		}); err != nil {
			return err
		}
		if err := layout.ForEach(tx, layout.KV, func(k, v []byte) error {
			snap.Meta[string(k)] = bytes.Clone(v)
			return nil
		}); err != nil {
			return err
		}
		// Every kind bucket, in byte order, so both backends list anchors alike.
		if top := tx.Bucket(layout.Anchors); top != nil {
			if err := top.ForEachBucket(func(name []byte) error {
				kind := Kind(name)
				return top.Bucket(name).ForEach(func(k, v []byte) error {
					var a Anchor
					if err := layout.DecodeAnchor(s.path, kind, k, v, &a); err != nil {
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
		if err := layout.ForEachJSON(s.path, tx, layout.Escrows, func() any { snap.Escrows = append(snap.Escrows, Escrow{}); return &snap.Escrows[len(snap.Escrows)-1] }); err != nil {
			return err
		}
		if err := layout.ForEachJSON(s.path, tx, layout.Staged, func() any { snap.Staged = append(snap.Staged, StagedOp{}); return &snap.Staged[len(snap.Staged)-1] }); err != nil {
			return err
		}
		if err := layout.ForEachJSON(s.path, tx, layout.Cycles, func() any { snap.Cycles = append(snap.Cycles, Cycle{}); return &snap.Cycles[len(snap.Cycles)-1] }); err != nil {
			return err
		}
		if err := layout.ForEach(tx, layout.Log, func(k, v []byte) error {
			snap.Log = append(snap.Log, LogEntry{})
			if err := codec.DecodeLog(k, v, &snap.Log[len(snap.Log)-1]); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("log entry %x: %w", k, err)}
			}
			return nil
		}); err != nil {
			return err
		}
		if top := tx.Bucket(layout.Sets); top != nil {
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

// Restore replaces everything in the file by snap in one transaction: after a failure the file is as it
// was.
func (s *Store) Restore(snap *Snapshot) error {
	if err := CheckSnapshot(snap); err != nil {
		return err
	}
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range layout.All {
			if string(name) == string(layout.Meta) {
				continue
			}
			if err := layout.ResetBucket(tx, name); err != nil {
				return err
			}
		}
		meta, err := layout.BucketOrErr(tx, layout.Meta)
		if err != nil {
			return err
		}
		for _, k := range [][]byte{layout.KeyFingerprint, layout.KeyQuarantine, layout.KeyAborts, layout.KeyDialect, layout.KeyGrant} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		if snap.Fingerprint != "" {
			if err := meta.Put(layout.KeyFingerprint, []byte(snap.Fingerprint)); err != nil {
				return err
			}
		}
		if len(snap.Grant) > 0 {
			if err := meta.Put(layout.KeyGrant, bytes.Clone(snap.Grant)); err != nil {
				return err
			}
		}
		for key, v := range map[string]any{string(layout.KeyQuarantine): snap.Quarantine, string(layout.KeyAborts): snap.AbortStreak, string(layout.KeyDialect): snap.Dialect} {
			if isNilPtr(v) {
				continue
			}
			if err := layout.PutJSON(tx, layout.Meta, []byte(key), v); err != nil {
				return err
			}
		}
		wm := tx.Bucket(layout.Watermarks)
		for k, v := range snap.Watermarks {
			if err := wm.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		kv := tx.Bucket(layout.KV)
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
			if err := layout.PutAnchor(tx, &a, a.UpdatedAt); err != nil {
				return err
			}
		}
		for _, e := range snap.Escrows {
			key, err := layout.ObjectKey(e.Kind, e.SourceID)
			if err != nil {
				return err
			}
			if err := layout.PutJSON(tx, layout.Escrows, key, e); err != nil {
				return err
			}
		}
		for _, op := range snap.Staged {
			key, err := layout.ObjectKey(op.Kind, op.SourceID)
			if err != nil {
				return err
			}
			if err := layout.PutJSON(tx, layout.Staged, key, op); err != nil {
				return err
			}
		}
		cycles, ids := tx.Bucket(layout.Cycles), tx.Bucket(layout.CycleIDs)
		for _, c := range snap.Cycles {
			seq, err := cycles.NextSequence()
			if err != nil {
				return err
			}
			key := binary.BigEndian.AppendUint64(nil, seq)
			if err := ids.Put([]byte(c.ID), key); err != nil {
				return err
			}
			if err := layout.PutJSON(tx, layout.Cycles, key, c); err != nil {
				return err
			}
		}
		logs := tx.Bucket(layout.Log)
		for i := range snap.Log {
			e := &snap.Log[i]
			if err := logs.Put(codec.LogKey(e.Time, e.ID), codec.AppendLog(nil, e)); err != nil {
				return err
			}
		}
		sets := tx.Bucket(layout.Sets)
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
