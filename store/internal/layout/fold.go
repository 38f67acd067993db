package layout

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// FoldOp is one journaled anchor write (store/internal/journal): Rec is the record of a put as PutLink
// would store it (its times set); nil for a delete.
type FoldOp struct {
	Seq      int
	Kind     codec.Kind
	SourceID string
	Rec      []byte
}

// IndexOp is a change to the target index that FoldLinks leaves to FoldIndex: a put points Target at
// Source; a delete removes Target's entry if it still points at Source (deleteIndex).
type IndexOp struct {
	Seq    int
	Kind   codec.Kind
	Target string
	Source string
	Put    bool
}

// SortFold orders journaled writes for FoldLinks: by kind and source id, the writes of one anchor in
// the order they were made. Sorted, a fold rewrites each leaf of the anchors bucket once.
func SortFold(ops []FoldOp) {
	slices.SortFunc(ops, func(a, b FoldOp) int { return order(a.Kind, b.Kind, a.SourceID, b.SourceID, a.Seq, b.Seq) })
}

// FoldLinks stores ops (sorted by SortFold) as PutLink and DeleteLink would one after the other, and
// appends the target index changes they make to idx, for SortIndex and FoldIndex. The index is keyed by target id, which
// the source-id order does not sort, so it is written in its own order; a crash between the two
// leaves index entries that point at an anchor with another target, which LinkByTarget ignores.
func FoldLinks(tx *bolt.Tx, ops []FoldOp, idx []IndexOp) ([]IndexOp, error) {
	var anchors *bolt.Bucket
	for i := range ops {
		dropNow(tx, i)
		op := &ops[i]
		if anchors == nil || i > 0 && ops[i-1].Kind != op.Kind {
			var err error
			if anchors, err = CreateKindBucket(tx, Links, op.Kind); err != nil {
				return nil, err
			}
			fillIfAppending(anchors, []byte(op.SourceID))
			if _, err := CreateKindBucket(tx, Targets, op.Kind); err != nil {
				return nil, err
			}
		}
		key := []byte(op.SourceID)
		var oldTarget string
		if old := anchors.Get(key); old != nil {
			// A damaged old record is replaced, not refused (as in PutLink).
			oldTarget, _, _ = codec.DecodeLinkHead(old)
		}
		if op.Rec == nil {
			if oldTarget != "" {
				idx = append(idx, IndexOp{Seq: op.Seq, Kind: op.Kind, Target: oldTarget, Source: op.SourceID})
			}
			if err := anchors.Delete(key); err != nil {
				return nil, fmt.Errorf("anchor %s/%s: %w", op.Kind, op.SourceID, err)
			}
			continue
		}
		target, _, err := codec.DecodeLinkHead(op.Rec)
		if err != nil {
			return nil, fmt.Errorf("journaled anchor %s/%s: %w", op.Kind, op.SourceID, err)
		}
		if oldTarget != "" && oldTarget != target {
			idx = append(idx, IndexOp{Seq: op.Seq, Kind: op.Kind, Target: oldTarget, Source: op.SourceID})
		}
		if err := anchors.Put(key, op.Rec); err != nil {
			return nil, fmt.Errorf("anchor %s/%s: %w", op.Kind, op.SourceID, err)
		}
		if target != "" {
			idx = append(idx, IndexOp{Seq: op.Seq, Kind: op.Kind, Target: target, Source: op.SourceID, Put: true})
		}
	}
	return idx, nil
}

// fillIfAppending fills b's pages fully in this transaction when the keys it is about to write, in
// order from first, all sort after the keys b holds: an initial cycle folds its links into an empty
// bucket, and bbolt's default of half-full pages (made for keys that land between others) left the
// file a third larger than its data, which the compaction after the cycle then rewrote (about 1 s at
// 100,000 users, and the whole file read into memory). bbolt.Compact fills pages fully too, so a file
// built by appends is what a compaction would have made. Writes between existing keys keep the
// default, which leaves room to insert without splitting every page.
func fillIfAppending(b *bolt.Bucket, first []byte) {
	if last, _ := b.Cursor().Last(); last == nil || bytes.Compare(last, first) < 0 {
		b.FillPercent = 1.0
	}
}

// dropEvery is how many anchors a fold writes, or a read of many reads, between letting go of the
// file's mapped pages (mapped.Drop): each lands on a leaf of its own, mapped with the neighbours the
// kernel maps around a fault (64 KiB), so a transaction of 4,096 writes, or a read of every anchor,
// would otherwise map tens of MiB of the file into the process's RSS (docs/performance.md#memory)
// before its end lets them go. At 64, about 4 MiB between two drops, each one madvise call.
var dropEvery = 64

// dropNow lets go of the mapped pages before the i-th anchor, every dropEvery anchors.
func dropNow(tx *bolt.Tx, i int) {
	if i > 0 && i%dropEvery == 0 {
		mapped.Drop(tx)
	}
}

// SortIndex orders index changes for FoldIndex: by kind and target id, the changes of one target in
// the order they were made, so the anchor written last wins a target two anchors claim (as in PutLink).
func SortIndex(ops []IndexOp) {
	slices.SortFunc(ops, func(a, b IndexOp) int { return order(a.Kind, b.Kind, a.Target, b.Target, a.Seq, b.Seq) })
}

// order compares by kind, then key, then sequence number (unique, so no two writes compare equal);
// each comparison only when the one before it ties (cmp.Or would make all three every time).
func order(ka, kb codec.Kind, a, b string, sa, sb int) int {
	if ka != kb {
		return strings.Compare(string(ka), string(kb))
	}
	if c := strings.Compare(a, b); c != 0 {
		return c
	}
	return cmp.Compare(sa, sb)
}

// FoldIndex applies index changes sorted by SortIndex.
func FoldIndex(tx *bolt.Tx, ops []IndexOp) error {
	var idx *bolt.Bucket
	for i := range ops {
		dropNow(tx, i)
		op := &ops[i]
		if idx == nil || i > 0 && ops[i-1].Kind != op.Kind {
			var err error
			if idx, err = CreateKindBucket(tx, Targets, op.Kind); err != nil {
				return err
			}
			fillIfAppending(idx, []byte(op.Target))
		}
		var err error
		if op.Put {
			err = idx.Put([]byte(op.Target), codec.IndexValue([]byte(op.Source)))
		} else {
			err = deleteIndex(idx, op.Target, []byte(op.Source))
		}
		if err != nil {
			return fmt.Errorf("anchor %s/%s: index: %w", op.Kind, op.Source, err)
		}
	}
	return nil
}
