// Package pack keeps the values a cycle holds for all its objects at once in a compact form
// (store.PackValues) between the steps that need them as maps: evaluation packs each object's values
// as it is made, planning unpacks a part at a time, and the changes to send stay packed until the
// apply step sends them. At 100,000 users the maps were the largest part of a cycle's memory (about
// 1 KB a user against about a quarter of that packed); see docs/performance.md#memory.
package pack

import (
	"fmt"
	"reflect"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// Objects packs the values of objs in place. sameCreate says that every object's CreateValues is its
// Values (no mapping applies on create only), so only one form is kept.
func Objects(objs []plan.Object, sameCreate bool) {
	for i := range objs {
		o := &objs[i]
		if o.Values == nil || o.Err != nil {
			continue
		}
		o.Packed = store.PackValues(o.Values)
		if !sameCreate && o.CreateValues != nil {
			o.PackedCreate = store.PackValues(o.CreateValues)
		}
		o.Values, o.CreateValues = nil, nil
	}
}

// UnpackObjects restores the maps of objects packed by Objects. A value that does not decode is a bug
// (only Objects wrote it): the object gets the error, as one whose mappings failed, and is not sent.
// What it returns lets Changes reuse the packed bytes of a create body instead of packing it again.
func UnpackObjects(objs []plan.Object) Unpacked {
	u := Unpacked{creates: make([]packedMap, len(objs))}
	for i := range objs {
		o := &objs[i]
		if o.Packed == nil {
			continue
		}
		v, err := store.UnpackValues(o.Packed)
		c, cb := v, o.Packed
		if err == nil && o.PackedCreate != nil {
			c, err = store.UnpackValues(o.PackedCreate)
			cb = o.PackedCreate
		}
		o.Packed, o.PackedCreate = nil, nil
		if err != nil {
			o.Err = fmt.Errorf("values of %s: %w", o.Identity, err)
			continue
		}
		o.Values, o.CreateValues = v, c
		u.creates[i] = packedMap{id: o.SourceID, m: c, b: cb}
	}
	return u
}

// Unpacked remembers, for each object UnpackObjects unpacked, its create map and the bytes that map
// was decoded from. A create's body is usually that very map (plan.Plan hands it over as it is), and
// packing it again for the apply step cost as much as the first packing.
type Unpacked struct {
	creates []packedMap
}

type packedMap struct {
	id string
	m  map[string]any
	b  []byte
}

// packed is the i-th object's packed create body when values is still the map decoded from it; a
// map replaced since (a manager's target id merged in: a copy) has no packed form.
func (u Unpacked) packed(i int, id string, values map[string]any) []byte {
	if i >= len(u.creates) || u.creates[i].id != id || u.creates[i].m == nil || values == nil {
		return nil
	}
	if reflect.ValueOf(values).UnsafePointer() != reflect.ValueOf(u.creates[i].m).UnsafePointer() {
		return nil
	}
	return u.creates[i].b
}

// Changes packs the values of the changes that are sent (plan.Change.Packed); the others are settled
// first thing in the apply step and keep theirs. from is what UnpackObjects returned for the objects
// the changes were planned from, one change per object in the same order (plan.Plan); a create whose
// body is the map unpacked there keeps the bytes it came from. The zero Unpacked packs every change.
//
// No step changes a map in place between UnpackObjects and Changes (a create body that gains a
// manager is a merged copy), so the bytes still say what the map says.
func Changes(changes []plan.Change, from Unpacked) {
	for i := range changes {
		c := &changes[i]
		if c.Values == nil || !c.Op.Sends() {
			continue
		}
		var b []byte
		if c.Op == plan.Create {
			b = from.packed(i, c.SourceID, c.Values)
		}
		if b == nil {
			b = store.PackValues(c.Values)
		}
		c.Packed, c.Values = b, nil
	}
}

// UnpackChange restores a change's values; an error is a bug (only Changes wrote them), and fails the
// change's write rather than send it without its values.
func UnpackChange(c *plan.Change) error {
	if c.Packed == nil {
		return nil
	}
	v, err := store.UnpackValues(c.Packed)
	c.Packed = nil
	if err != nil {
		return fmt.Errorf("values of %s: %w", c.Identity, err)
	}
	c.Values = v
	return nil
}

// DropUnchanged lets go of the values of the changes that leave the target and its link as they are:
// the apply step records values of an unchanged object only when its hash moved (the engine's settle step). A
// full round over 100,000 linked users held a merged copy of every user's values (50 MB) for nothing.
func DropUnchanged(changes []plan.Change, links map[string]plan.Link) {
	for i := range changes {
		if c := &changes[i]; c.Op == plan.Unchanged && c.Hash != "" && c.Hash == links[c.SourceID].Hash {
			c.Values = nil
		}
	}
}

// KeepIDs drops what the later steps no longer need of evaluated objects once a part is planned: the
// changes carry the values to send, and what the steps after planning read of the objects is their
// IDs (IDsOf), taken once every part is planned.
func KeepIDs(objs []plan.Object) {
	for i := range objs {
		o := &objs[i]
		*o = plan.Object{SourceID: o.SourceID, Pending: o.Pending}
	}
}

// IDs is what the steps after planning need of the evaluated objects: every id (escrows, the manager
// step of an incremental cycle) and the ids of those with a pending create (the pending creates to
// clear). The objects themselves (176 bytes each, 17 MB at 100,000 users) can go once planned.
type IDs struct{ All, Pending []string }

// IDsOf gives the IDs of objs.
func IDsOf(objs []plan.Object) IDs {
	ids := IDs{All: make([]string, len(objs))}
	for i, o := range objs {
		ids.All[i] = o.SourceID
		if o.Pending {
			ids.Pending = append(ids.Pending, o.SourceID)
		}
	}
	return ids
}

// Links gives the plan links of part's objects whose stored link was read packed (store.LinksPacked,
// a full round) all their values, and returns their ids, so the planner can let them go again once the
// part is planned. An error is a damaged record.
func Links(part []plan.Object, links map[string]store.Link, planLinks map[string]plan.Link) ([]string, error) {
	var ids []string
	for _, o := range part {
		a, ok := links[o.SourceID]
		if !ok || a.Packed == "" {
			continue
		}
		if err := store.UnpackLink(&a); err != nil {
			return nil, err
		}
		l := planLinks[o.SourceID]
		l.Values = a.Values
		planLinks[o.SourceID] = l
		ids = append(ids, o.SourceID)
	}
	return ids, nil
}
