package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Well-known set names.
const (
	// SetGroupMembers keeps, per source group id, the ids of its direct members as Graph last reported
	// them. Group delta rounds only report membership changes, so the full lists live here to compute
	// the assigned scope and group memberships incrementally.
	SetGroupMembers = "groupMembers"
	// SetAssignments keeps the app's assignments of the last cycle under the key "principals", so that a
	// cycle can see who was assigned or unassigned since.
	SetAssignments = "assignments"
	// SetPendingCreates keeps, under "kind/sourceID", the objects whose create was sent and whose link
	// is not recorded yet: written before the POST, cleared once the cycle settled the object. A crash
	// or a lost answer leaves the key, so the next cycle looks the object up even when it left the scope.
	SetPendingCreates = "pendingCreates"
)

// Sets returns every list of the named set, keyed as they were stored.
func (s *Store) Sets(name string) (map[string][]string, error) {
	out := map[string][]string{}
	err := s.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(layout.Sets)
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(name))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("set %s/%s: %w", name, k, err)}
			}
			out[string(k)] = list
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read set %s: %w", name, err)
	}
	return out, nil
}

// emptyList is what json.Marshal gives for an empty, non-nil list.
var emptyList = []byte("[]")

// PutSets stores lists under the named set in one transaction: replace drops every existing key first
// (a full round), otherwise put keys are overwritten and del keys removed (a delta round).
func (s *Store) PutSets(name string, put map[string][]string, del []string, replace bool) error {
	err := s.update(func(tx *bolt.Tx) error {
		top, err := layout.BucketOrErr(tx, layout.Sets)
		if err != nil {
			return err
		}
		if replace {
			if err := top.DeleteBucket([]byte(name)); err != nil && err != bolterrors.ErrBucketNotFound {
				return err
			}
		}
		b, err := top.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		// In key order: bbolt inserts into a node by shifting what follows, so tens of thousands of
		// keys (a wave's pending creates) put in a map's order moved a node's entries for each one.
		for _, k := range slices.Sorted(slices.Values(del)) {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for _, k := range slices.Sorted(maps.Keys(put)) {
			raw := emptyList // a pending create's value, tens of thousands a wave
			if list := put[k]; list == nil || len(list) > 0 {
				if raw, err = json.Marshal(list); err != nil {
					return err
				}
			}
			if err := b.Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write set %s: %w", name, err)
	}
	return nil
}
