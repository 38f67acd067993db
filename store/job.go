package store

import (
	"encoding/json"
	"fmt"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
)

// MaxCycles is how many cycles the history keeps: enough for a week of 20-minute cycles, small enough
// that `scimsync status` reads it instantly.
const MaxCycles = layout.MaxCycles

// Cycle is one run of the engine, for `scimsync status`, metrics after a restart and quarantine
// decisions (fields documented in store/internal/codec).
type Cycle = codec.Cycle

// Escrow is a failed object operation waiting for a retry; it survives a restart so the backoff
// continues instead of hammering the target again.
type Escrow = codec.Escrow

// Quarantine is the job's quarantine state, persisted so a daemon restart neither lifts a quarantine
// nor restarts its 28-day series.
type Quarantine = codec.Quarantine

// StagedOp is a disable or delete held back by the accidental-deletion threshold until an admin runs
// `scimsync allow-deletes` or restarts the job.
type StagedOp = codec.StagedOp

// AbortStreak counts the consecutive cycles that could not run, so that a long outage quarantines the
// job while one blip does not.
type AbortStreak = codec.AbortStreak

// AddCycle records a cycle. Adding a cycle whose ID is already stored replaces it in place, so the engine
// can record a cycle when it starts and again when it finishes.
func (s *Store) AddCycle(c Cycle) error {
	err := s.update(func(tx *bolt.Tx) error { return layout.AddCycle(tx, c) })
	if err != nil {
		return fmt.Errorf("add cycle %s: %w", c.ID, err)
	}
	return nil
}

// Cycles returns up to limit cycles, newest first; limit <= 0 means all that are kept.
func (s *Store) Cycles(limit int) ([]Cycle, error) {
	var out []Cycle
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(layout.Cycles)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if limit > 0 && len(out) >= limit {
				break
			}
			var cy Cycle
			if err := json.Unmarshal(v, &cy); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("cycle %x: %w", k, err)}
			}
			out = append(out, cy)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cycles: %w", err)
	}
	return out, nil
}

// PutEscrow inserts or replaces the escrow of one object; one escrow per object, the latest failure wins.
func (s *Store) PutEscrow(e Escrow) error {
	return s.PutEscrows(e)
}

// PutEscrows records several escrows in one transaction: a cycle with thousands of failures must not
// pay one fsync per object.
func (s *Store) PutEscrows(es ...Escrow) error {
	if len(es) == 0 {
		return nil
	}
	if err := putObjects(s, layout.Escrows, es, func(e Escrow) (Kind, string) { return e.Kind, e.SourceID }); err != nil {
		return fmt.Errorf("put %d escrows (first %s/%s): %w", len(es), es[0].Kind, es[0].SourceID, err)
	}
	return nil
}

// DeleteEscrow drops the escrow of an object whose operation finally succeeded; absent is not an error.
func (s *Store) DeleteEscrow(kind Kind, sourceID string) error {
	key, err := layout.ObjectKey(kind, sourceID)
	if err == nil {
		err = s.set(layout.Escrows, key, nil)
	}
	if err != nil {
		return fmt.Errorf("delete escrow %s/%s: %w", kind, sourceID, err)
	}
	return nil
}

// Escrows returns all escrows ordered by kind and source id; the engine picks those whose NextRetry is due.
func (s *Store) Escrows() ([]Escrow, error) {
	out, err := listObjects[Escrow](s, layout.Escrows, "escrow")
	if err != nil {
		return nil, fmt.Errorf("list escrows: %w", err)
	}
	return out, nil
}

// ClearEscrows stops all retries (https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart resetScope Escrows).
func (s *Store) ClearEscrows() error {
	if err := s.update(func(tx *bolt.Tx) error { return layout.ResetBucket(tx, layout.Escrows) }); err != nil {
		return fmt.Errorf("clear escrows: %w", err)
	}
	return nil
}

// Quarantine returns the current quarantine, or nil when the job is not quarantined.
func (s *Store) Quarantine() (*Quarantine, error) {
	var q Quarantine
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		ok, err = layout.GetJSON(s.path, tx, layout.Meta, layout.KeyQuarantine, &q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get quarantine: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &q, nil
}

// SetQuarantine stores the quarantine state, replacing any previous one.
func (s *Store) SetQuarantine(q Quarantine) error {
	if err := s.update(func(tx *bolt.Tx) error { return layout.PutJSON(tx, layout.Meta, layout.KeyQuarantine, q) }); err != nil {
		return fmt.Errorf("set quarantine: %w", err)
	}
	return nil
}

// ClearQuarantine lifts the quarantine (https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart resetScope QuarantineState).
func (s *Store) ClearQuarantine() error {
	if err := s.set(layout.Meta, layout.KeyQuarantine, nil); err != nil {
		return fmt.Errorf("clear quarantine: %w", err)
	}
	return nil
}

// StageOps records held operations in one transaction; staging an object again replaces its entry.
func (s *Store) StageOps(ops ...StagedOp) error {
	if len(ops) == 0 {
		return nil
	}
	if err := putObjects(s, layout.Staged, ops, func(op StagedOp) (Kind, string) { return op.Kind, op.SourceID }); err != nil {
		return fmt.Errorf("stage %d ops: %w", len(ops), err)
	}
	return nil
}

// StagedOps returns the held operations ordered by kind and source id.
func (s *Store) StagedOps() ([]StagedOp, error) {
	out, err := listObjects[StagedOp](s, layout.Staged, "staged op")
	if err != nil {
		return nil, fmt.Errorf("list staged ops: %w", err)
	}
	return out, nil
}

// ClearStaged drops the held operations, after they were allowed and carried out or rejected.
func (s *Store) ClearStaged() error {
	if err := s.update(func(tx *bolt.Tx) error { return layout.ResetBucket(tx, layout.Staged) }); err != nil {
		return fmt.Errorf("clear staged ops: %w", err)
	}
	return nil
}

// Restart is the portal's "Restart provisioning" (https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart: Watermark, Escrows, QuarantineState)
// plus the rejection of staged deletes (§3), in one transaction. It keeps anchors, so source-target links
// survive and the next initial cycle updates rather than re-creates; it keeps the learned target dialect,
// a fact about the target that a restart does not change.
func (s *Store) Restart() error {
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{layout.Watermarks, layout.Escrows, layout.Staged} {
			if err := layout.ResetBucket(tx, name); err != nil {
				return err
			}
		}
		b, err := layout.BucketOrErr(tx, layout.Meta)
		if err != nil {
			return err
		}
		if err := b.Delete(layout.KeyAborts); err != nil {
			return err
		}
		return b.Delete(layout.KeyQuarantine)
	})
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// AbortStreak returns the stored streak; the zero value when the last cycle ran.
func (s *Store) AbortStreak() (AbortStreak, error) {
	var a AbortStreak
	err := s.view(func(tx *bolt.Tx) error {
		_, err := layout.GetJSON(s.path, tx, layout.Meta, layout.KeyAborts, &a)
		return err
	})
	if err != nil {
		return AbortStreak{}, fmt.Errorf("get abort streak: %w", err)
	}
	return a, nil
}

// SetAbortStreak stores the streak; the zero value deletes it.
func (s *Store) SetAbortStreak(a AbortStreak) error {
	err := s.update(func(tx *bolt.Tx) error {
		if a.Count == 0 {
			b, err := layout.BucketOrErr(tx, layout.Meta)
			if err != nil {
				return err
			}
			return b.Delete(layout.KeyAborts)
		}
		return layout.PutJSON(tx, layout.Meta, layout.KeyAborts, a)
	})
	if err != nil {
		return fmt.Errorf("set abort streak: %w", err)
	}
	return nil
}

// putObjects stores items as JSON under their object keys (layout.ObjectKey), in one transaction.
func putObjects[T any](s *Store, bucket []byte, items []T, key func(T) (Kind, string)) error {
	return s.update(func(tx *bolt.Tx) error {
		for _, it := range items {
			kind, id := key(it)
			k, err := layout.ObjectKey(kind, id)
			if err != nil {
				return err
			}
			if err := layout.PutJSON(tx, bucket, k, it); err != nil {
				return fmt.Errorf("%s/%s: %w", kind, id, err)
			}
		}
		return nil
	})
}

// listObjects reads every item of bucket in key order (kind, then source id); one that does not decode
// is a CorruptError naming what it is.
func listObjects[T any](s *Store, bucket []byte, what string) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var it T
			if err := json.Unmarshal(v, &it); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("%s %q: %w", what, k, err)}
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}
