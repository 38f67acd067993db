package layout

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/logpage"
	bolt "go.etcd.io/bbolt"
)

// Dump reads the whole file in tx into a Snapshot; path names the file in a CorruptError.
func Dump(path string, tx *bolt.Tx) (*codec.Snapshot, error) {
	snap := &codec.Snapshot{Format: codec.SnapshotFormat, Watermarks: map[string]string{}, Meta: map[string][]byte{},
		Sets: map[string]map[string][]string{}}
	for _, step := range []func(string, *bolt.Tx, *codec.Snapshot) error{dumpMeta, dumpLinks, dumpRecords, dumpLog, dumpSets} {
		if err := step(path, tx, snap); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// optional reads the JSON value under key in Meta, nil when there is none.
func optional[T any](path string, tx *bolt.Tx, key []byte) (*T, error) {
	var v T
	ok, err := GetJSON(path, tx, Meta, key, &v)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

func dumpMeta(path string, tx *bolt.Tx, snap *codec.Snapshot) (err error) {
	if b := tx.Bucket(Meta); b != nil {
		snap.Fingerprint = string(b.Get(KeyFingerprint))
		if raw := b.Get(KeyGrant); raw != nil {
			snap.Grant = bytes.Clone(raw)
		}
	}
	if snap.Quarantine, err = optional[codec.Quarantine](path, tx, KeyQuarantine); err != nil {
		return err
	}
	if snap.AbortStreak, err = optional[codec.AbortStreak](path, tx, KeyAborts); err != nil {
		return err
	}
	if snap.Dialect, err = optional[codec.TargetDialect](path, tx, KeyDialect); err != nil {
		return err
	}
	if err := ForEach(tx, Watermarks, func(k, v []byte) error {
		snap.Watermarks[string(k)] = string(v)
		return nil
	}); err != nil {
		return err
	}
	return ForEach(tx, KV, func(k, v []byte) error {
		snap.Meta[string(k)] = bytes.Clone(v)
		return nil
	})
}

// dumpLinks lists every kind bucket in byte order, so both backends list anchors alike. Each goes in
// the portable version 1 record, as the PostgreSQL backend keeps it, so a snapshot reads the same from
// either backend and in older builds.
func dumpLinks(path string, tx *bolt.Tx, snap *codec.Snapshot) error {
	top := tx.Bucket(Links)
	if top == nil {
		return nil
	}
	return top.ForEachBucket(func(name []byte) error {
		kind := codec.Kind(name)
		return top.Bucket(name).ForEach(func(k, v []byte) error {
			var a codec.Link
			if err := DecodeLink(path, kind, k, v, &a); err != nil {
				return err
			}
			rec := codec.AppendLink(make([]byte, 0, 256), &a, codec.LinkV1)
			snap.Links = append(snap.Links, codec.LinkRecord{Kind: kind, SourceID: string(k), Record: rec})
			return nil
		})
	})
}

// dumpRecords reads the escrows, staged operations and cycles, in key order.
func dumpRecords(path string, tx *bolt.Tx, snap *codec.Snapshot) error {
	if err := ForEachJSON(path, tx, Escrows, func() any {
		snap.Escrows = append(snap.Escrows, codec.Escrow{})
		return &snap.Escrows[len(snap.Escrows)-1]
	}); err != nil {
		return err
	}
	if err := ForEachJSON(path, tx, Staged, func() any {
		snap.Staged = append(snap.Staged, codec.StagedOp{})
		return &snap.Staged[len(snap.Staged)-1]
	}); err != nil {
		return err
	}
	return ForEachJSON(path, tx, Cycles, func() any { snap.Cycles = append(snap.Cycles, codec.Cycle{}); return &snap.Cycles[len(snap.Cycles)-1] })
}

func dumpLog(path string, tx *bolt.Tx, snap *codec.Snapshot) error {
	return ForEach(tx, Log, func(k, v []byte) error {
		snap.Log = append(snap.Log, codec.LogEntry{})
		if err := codec.DecodeLog(k, v, &snap.Log[len(snap.Log)-1]); err != nil {
			return &CorruptError{Path: path, Err: fmt.Errorf("log entry %x: %w", k, err)}
		}
		return nil
	})
}

func dumpSets(path string, tx *bolt.Tx, snap *codec.Snapshot) error {
	top := tx.Bucket(Sets)
	if top == nil {
		return nil
	}
	return top.ForEachBucket(func(name []byte) error {
		m := map[string][]string{}
		if err := top.Bucket(name).ForEach(func(k, v []byte) error {
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return &CorruptError{Path: path, Err: fmt.Errorf("set %s/%s: %w", name, k, err)}
			}
			m[string(k)] = list
			return nil
		}); err != nil {
			return err
		}
		snap.Sets[string(name)] = m
		return nil
	})
}

// Load replaces everything in the file by snap within tx, which the caller checked
// (store.CheckSnapshot).
func Load(tx *bolt.Tx, snap *codec.Snapshot) error {
	for _, name := range All {
		if string(name) == string(Meta) {
			continue
		}
		if err := ResetBucket(tx, name); err != nil {
			return err
		}
	}
	for _, step := range []func(*bolt.Tx, *codec.Snapshot) error{loadMeta, loadLinks, loadRecords, loadLog, loadSets} {
		if err := step(tx, snap); err != nil {
			return err
		}
	}
	return nil
}

func loadMeta(tx *bolt.Tx, snap *codec.Snapshot) error {
	meta, err := BucketOrErr(tx, Meta)
	if err != nil {
		return err
	}
	for _, k := range [][]byte{KeyFingerprint, KeyQuarantine, KeyAborts, KeyDialect, KeyGrant} {
		if err := meta.Delete(k); err != nil {
			return err
		}
	}
	if snap.Fingerprint != "" {
		if err := meta.Put(KeyFingerprint, []byte(snap.Fingerprint)); err != nil {
			return err
		}
	}
	if len(snap.Grant) > 0 {
		if err := meta.Put(KeyGrant, bytes.Clone(snap.Grant)); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		key   []byte
		value any
		isNil bool
	}{{KeyQuarantine, snap.Quarantine, snap.Quarantine == nil}, {KeyAborts, snap.AbortStreak, snap.AbortStreak == nil},
		{KeyDialect, snap.Dialect, snap.Dialect == nil}} {
		if v.isNil {
			continue
		}
		if err := PutJSON(tx, Meta, v.key, v.value); err != nil {
			return err
		}
	}
	if err := putAll(tx.Bucket(Watermarks), snap.Watermarks, func(v string) []byte { return []byte(v) }); err != nil {
		return err
	}
	return putAll(tx.Bucket(KV), snap.Meta, bytes.Clone)
}

// putAll puts every entry of m into b, each value through enc.
func putAll[V any](b *bolt.Bucket, m map[string]V, enc func(V) []byte) error {
	for k, v := range m {
		if err := b.Put([]byte(k), enc(v)); err != nil {
			return err
		}
	}
	return nil
}

func loadLinks(tx *bolt.Tx, snap *codec.Snapshot) error {
	for _, r := range snap.Links {
		var a codec.Link
		if err := codec.DecodeLink(r.Record, &a); err != nil {
			return err
		}
		a.Kind, a.SourceID = r.Kind, r.SourceID
		if err := PutLink(tx, &a, a.UpdatedAt); err != nil {
			return err
		}
	}
	return nil
}

// loadRecords puts the escrows, staged operations and cycles, the cycles in the snapshot's order.
func loadRecords(tx *bolt.Tx, snap *codec.Snapshot) error {
	for _, e := range snap.Escrows {
		if err := putObject(tx, Escrows, e.Kind, e.SourceID, e); err != nil {
			return err
		}
	}
	for _, op := range snap.Staged {
		if err := putObject(tx, Staged, op.Kind, op.SourceID, op); err != nil {
			return err
		}
	}
	for _, c := range snap.Cycles {
		if err := AddCycle(tx, c); err != nil {
			return err
		}
	}
	return nil
}

// putObject stores v as JSON under its object key in bucket name.
func putObject(tx *bolt.Tx, name []byte, kind codec.Kind, sourceID string, v any) error {
	key, err := ObjectKey(kind, sourceID)
	if err != nil {
		return err
	}
	return PutJSON(tx, name, key, v)
}

func loadLog(tx *bolt.Tx, snap *codec.Snapshot) error {
	return logpage.Append(tx.Bucket(Log), snap.Log)
}

func loadSets(tx *bolt.Tx, snap *codec.Snapshot) error {
	sets := tx.Bucket(Sets)
	for name, m := range snap.Sets {
		b, err := sets.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		if err := putAll(b, m, func(list []string) []byte { raw, _ := json.Marshal(list); return raw }); err != nil {
			return err
		}
	}
	return nil
}
