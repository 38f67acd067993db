package journal

import (
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/batch"
	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// Prepare turns a Batcher's writes into journal writes, checked as PutLink checks them, inside tx, a
// read transaction of the state file. Each put's record is complete when journaled: its creation time
// is the replaced anchor's (as PutLink would keep it: from this batch, the journal or the file), else
// now, and so is its update time.
func (j *Journal) Prepare(tx *bolt.Tx, ops []batch.LinkOp, now time.Time) ([]Op, error) {
	out := make([]Op, len(ops))
	// What this batch wrote earlier: each anchor's creation time (zero once deleted).
	batchCreated := make(map[anchor]time.Time, len(ops))
	// The records share one buffer (Append copies them): a buffer per record was most of what a batch
	// allocated. ends[i] is where out[i]'s record ends in it.
	arena := make([]byte, 0, max(j.recSize, 128)*len(ops))
	ends := make([]int, len(ops))
	for i := range ops {
		a := ops[i].Link
		if a.Kind == "" || a.SourceID == "" {
			return nil, fmt.Errorf("%s %s: kind and source id are required", batch.OpName(ops[i]), a)
		}
		out[i] = Op{Put: ops[i].Put, Kind: a.Kind, SourceID: a.SourceID}
		key := anchor{a.Kind, a.SourceID}
		if !ops[i].Put {
			batchCreated[key] = time.Time{}
			continue
		}
		if a.Packed != "" {
			return nil, fmt.Errorf("%s %s: %w", batch.OpName(ops[i]), a, codec.ErrPacked)
		}
		if a.CreatedAt.IsZero() {
			created, ok := batchCreated[key]
			if !ok {
				var err error
				if created, err = j.created(tx, a.Kind, a.SourceID); err != nil {
					return nil, fmt.Errorf("%s %s: %w", batch.OpName(ops[i]), a, err)
				}
			}
			a.CreatedAt = created
			if created.IsZero() {
				a.CreatedAt = now
			}
		}
		batchCreated[key] = a.CreatedAt
		if a.UpdatedAt.IsZero() {
			a.UpdatedAt = now
		}
		arena = codec.AppendLink(arena, &a, codec.LinkV2)
		ends[i] = len(arena)
	}
	puts := 0
	for i, start := 0, 0; i < len(out); i++ { // sliced once arena no longer grows
		if out[i].Put {
			out[i].Rec = arena[start:ends[i]:ends[i]]
			start = ends[i]
			puts++
		}
	}
	if puts > 0 {
		j.recSize = len(arena)/puts + len(arena)/puts/8 // the next batch's records are alike
	}
	return out, nil
}

// created is the creation time of the anchor a put replaces: zero when there is none (or the journal
// deleted it last).
func (j *Journal) created(tx *bolt.Tx, kind codec.Kind, sourceID string) (time.Time, error) {
	rec, _, ok, err := j.Last(kind, sourceID)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		if b := layout.KindBucket(tx, layout.Links, kind); b != nil {
			rec = b.Get([]byte(sourceID))
		}
	}
	if rec == nil {
		return time.Time{}, nil
	}
	// A damaged old record is replaced, not refused (as in PutLink).
	_, created, _ := codec.DecodeLinkHead(rec)
	return created, nil
}

// Fold writes the journal's anchors into the state file in key order through update (a write
// transaction), chunk anchors per transaction, and empties the journal; committed, when set, runs
// after each transaction and stops the fold with its error (the tests' crash). A fold that stops part
// way leaves the journal to be folded again: writing an anchor twice stores it as once. The target
// index changes are written after the anchors, in their own order (layout.FoldLinks says why), or in
// the same transaction when it is the only one.
func (j *Journal) Fold(update func(func(*bolt.Tx) error) error, chunk int, committed func() error) error {
	if len(j.entries) == 0 {
		return nil
	}
	entries := j.Entries()
	var err error
	ops := make([]layout.FoldOp, len(entries))
	for i, e := range entries {
		ops[i] = layout.FoldOp{Seq: e.Seq, Kind: e.Kind, SourceID: e.SourceID}
	}
	layout.SortFold(ops)
	// About one index change per write: a put's; a moved or deleted link adds its old target's.
	idx := make([]layout.IndexOp, 0, len(ops)+len(ops)/16)
	var arena []byte // a chunk's records, reused: bbolt needs them only until its commit
	for start := 0; start < len(ops); start += chunk {
		part := ops[start:min(start+chunk, len(ops))]
		arena = arena[:0]
		for i := range part {
			if e := entries[part[i].Seq]; e.Put {
				if arena, err = j.appendRecord(arena, e); err != nil {
					return err
				}
			}
		}
		for i, at := 0, 0; i < len(part); i++ { // slices taken once arena no longer grows
			if e := entries[part[i].Seq]; e.Put {
				part[i].Rec, at = arena[at:at+e.n:at+e.n], at+e.n
			}
		}
		whole, mark := len(part) == len(ops), len(idx)
		err := update(func(tx *bolt.Tx) (err error) {
			if idx, err = layout.FoldLinks(tx, part, idx[:mark]); err != nil || !whole {
				return err
			}
			layout.SortIndex(idx)
			err = layout.FoldIndex(tx, idx)
			idx = idx[:0] // written with the anchors: nothing left for the loop below
			return err
		})
		for i := range part {
			part[i].Rec = nil
		}
		if err := after(err, committed); err != nil {
			return err
		}
	}
	layout.SortIndex(idx)
	for start := 0; start < len(idx); start += chunk {
		part := idx[start:min(start+chunk, len(idx))]
		if err := after(update(func(tx *bolt.Tx) error { return layout.FoldIndex(tx, part) }), committed); err != nil {
			return fmt.Errorf("index: %w", err)
		}
	}
	return j.Reset()
}

// after is err, or else what committed returns.
func after(err error, committed func() error) error {
	if err == nil && committed != nil {
		err = committed()
	}
	return err
}
