// Package pack keeps the values a cycle holds for all its objects at once in a compact form
// (store.PackValues) between the steps that need them as maps: evaluation packs each object's values
// as it is made, planning unpacks a part at a time, and the changes to send stay packed until the
// apply step sends them. At 100,000 users the maps were the largest part of a cycle's memory (about
// 1 KB a user against about a quarter of that packed); see docs/performance.md#memory.
package pack

import (
	"fmt"

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
func UnpackObjects(objs []plan.Object) {
	for i := range objs {
		o := &objs[i]
		if o.Packed == nil {
			continue
		}
		v, err := store.UnpackValues(o.Packed)
		c := v
		if err == nil && o.PackedCreate != nil {
			c, err = store.UnpackValues(o.PackedCreate)
		}
		o.Packed, o.PackedCreate = nil, nil
		if err != nil {
			o.Err = fmt.Errorf("values of %s: %w", o.Identity, err)
			continue
		}
		o.Values, o.CreateValues = v, c
	}
}

// Changes packs the values of the changes that are sent (plan.Change.Packed); the others are settled
// first thing in the apply step and keep theirs.
func Changes(changes []plan.Change) {
	for i := range changes {
		if c := &changes[i]; c.Values != nil && c.Op.Sends() {
			c.Packed, c.Values = store.PackValues(c.Values), nil
		}
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
