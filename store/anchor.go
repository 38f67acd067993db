package store

import (
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/layout"
	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// Kind separates users from groups: they live in different SCIM endpoints and their ids may collide.
type Kind = codec.Kind

// Object kinds the engine provisions.
const (
	KindUser  = codec.KindUser
	KindGroup = codec.KindGroup
)

// Link is one entry of the connector data store: the link between a source object and the target
// object it was created as or matched to (fields documented in store/internal/codec).
type Link = codec.Link

// Link returns the anchor of one source object; ok is false when the object was never linked.
func (s *Store) Link(kind Kind, sourceID string) (a Link, ok bool, err error) {
	if a, ok, journaled, err := s.journaled(kind, sourceID); err != nil || journaled {
		if err != nil {
			return Link{}, false, fmt.Errorf("get anchor %s/%s: %w", kind, sourceID, err)
		}
		return a, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		b := layout.KindBucket(tx, layout.Links, kind)
		if b == nil {
			return nil
		}
		rec := b.Get([]byte(sourceID))
		if rec == nil {
			return nil
		}
		ok = true
		return layout.DecodeLink(s.path, kind, []byte(sourceID), rec, &a)
	})
	if err != nil {
		return Link{}, false, fmt.Errorf("get anchor %s/%s: %w", kind, sourceID, err)
	}
	return a, ok, nil
}

// Links loads every anchor of a kind keyed by source id, which the engine does once per cycle to plan
// against; 100,000 anchors load in 0.3-0.5 s on a shared 2-core machine (BenchmarkLinks100k).
func (s *Store) Links(kind Kind) (map[string]Link, error) {
	return s.links(kind, nil, func(k, v []byte, a *Link) error { return layout.DecodeLink(s.path, kind, k, v, a) })
}

// LinksPacked is Links for a caller that needs most values of each link only later, a part of the
// links at a time (the engine's cycles): no value is decoded into Values, the record stays in
// Link.Packed, read through LinkValue and restored by UnpackLink. At 100,000 users the value maps were
// 90 MB of a full round's peak (docs/performance.md#memory). Every record is read whole, so a damaged
// one fails here as in Links.
func (s *Store) LinksPacked(kind Kind) (map[string]Link, error) {
	return s.links(kind, nil, layout.DecodeLinkPacked(s.path, kind))
}

// LinksPackedOf is LinksPacked for the links of ids alone (an incremental cycle's users and their
// managers), read in one transaction; an id without a link is left out.
func (s *Store) LinksPackedOf(kind Kind, ids []string) (map[string]Link, error) {
	if ids == nil {
		ids = []string{}
	}
	return s.links(kind, ids, layout.DecodeLinkPacked(s.path, kind))
}

// links reads the anchors of a kind with decode in one transaction: all of them when ids is nil.
func (s *Store) links(kind Kind, ids []string, decode layout.LinkDecoder) (out map[string]Link, err error) {
	if err := s.settle(kind); err != nil {
		return nil, fmt.Errorf("list anchors %s: %w", kind, err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		if ids == nil {
			out, err = layout.ReadLinks(tx, kind, decode)
		} else {
			out, err = layout.GetLinks(tx, kind, ids, decode)
		}
		mapped.Drop(tx) // what was read need not stay resident
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list anchors %s: %w", kind, err)
	}
	return out, nil
}

// LinkByTarget finds the anchor linked to a target object, for target-side lookups such as resolving a
// matched object or a SCIM id in a log line. If two anchors claim the same target id the last written
// wins the index; ok is false if the index entry is stale.
func (s *Store) LinkByTarget(kind Kind, targetID string) (a Link, ok bool, err error) {
	if err := s.settle(kind); err != nil {
		return Link{}, false, fmt.Errorf("get anchor by target %s/%s: %w", kind, targetID, err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		idx := layout.KindBucket(tx, layout.Targets, kind)
		anchors := layout.KindBucket(tx, layout.Links, kind)
		if idx == nil || anchors == nil || targetID == "" {
			return nil
		}
		src := codec.IndexSource(idx.Get([]byte(targetID)))
		if src == nil {
			return nil
		}
		rec := anchors.Get(src)
		if rec == nil {
			return nil
		}
		if err := layout.DecodeLink(s.path, kind, src, rec, &a); err != nil {
			return err
		}
		ok = a.TargetID == targetID
		return nil
	})
	if err != nil {
		return Link{}, false, fmt.Errorf("get anchor by target %s/%s: %w", kind, targetID, err)
	}
	if !ok {
		return Link{}, false, nil
	}
	return a, true, nil
}

// PutLinks inserts or replaces anchors in one transaction, so a group and its members' anchors are
// stored together or not at all.
func (s *Store) PutLinks(as ...Link) error {
	if len(as) == 0 {
		return nil
	}
	now := time.Now().UTC()
	err := s.settle("")
	if err == nil {
		err = s.update(func(tx *bolt.Tx) error {
			for i := range as {
				if err := layout.PutLink(tx, &as[i], now); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		if len(as) == 1 {
			return fmt.Errorf("put anchor %s: %w", as[0], err)
		}
		return fmt.Errorf("put %d anchors: %w", len(as), err)
	}
	return nil
}

// DeleteLinks forgets source objects after their target objects were deleted (or, by admin choice,
// released); unknown ids are ignored so a retried delete is harmless.
func (s *Store) DeleteLinks(kind Kind, sourceIDs ...string) error {
	if len(sourceIDs) == 0 {
		return nil
	}
	err := s.settle("")
	if err == nil {
		err = s.update(func(tx *bolt.Tx) error {
			for _, id := range sourceIDs {
				if err := layout.DeleteLink(tx, kind, id); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		if len(sourceIDs) == 1 {
			return fmt.Errorf("delete anchor %s/%s: %w", kind, sourceIDs[0], err)
		}
		return fmt.Errorf("delete %d anchors %s: %w", len(sourceIDs), kind, err)
	}
	return nil
}

// ClearLinks forgets every link (Graph's resetScope ConnectorDataStore, which Microsoft marks "DO NOT
// USE"): afterwards the engine can only re-match, and objects that no longer match become unmanaged.
// Restart deliberately does not call it.
func (s *Store) ClearLinks() error {
	err := s.settle("")
	if err != nil {
		return fmt.Errorf("clear anchors: %w", err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		if err := layout.ResetBucket(tx, layout.Links); err != nil {
			return err
		}
		return layout.ResetBucket(tx, layout.Targets)
	})
	if err != nil {
		return fmt.Errorf("clear anchors: %w", err)
	}
	return nil
}

// CountLinks returns how many anchors of a kind exist, for status output without loading them all.
func (s *Store) CountLinks(kind Kind) (int, error) {
	n := 0
	if err := s.settle(kind); err != nil {
		return 0, fmt.Errorf("count anchors %s: %w", kind, err)
	}
	err := s.view(func(tx *bolt.Tx) error {
		if b := layout.KindBucket(tx, layout.Links, kind); b != nil {
			n = b.Stats().KeyN
			mapped.Drop(tx) // the count walked every page of the bucket
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count anchors %s: %w", kind, err)
	}
	return n, nil
}
