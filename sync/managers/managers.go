// Package managers decides the manager references of a cycle's users: which to set, which to clear
// (plan.Reference decides each; this gathers the links it needs). The engine sends them after every
// user of the cycle exists in the target.
package managers

import (
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// Links is the state a decision reads: the stored links of users.
type Links interface {
	Links(kind store.Kind) (map[string]store.Link, error)
	Link(kind store.Kind, sourceID string) (store.Link, bool, error)
}

// Change is one manager reference to set or clear on a user: its link, and the attribute change.
type Change struct {
	Link store.Link
	Attr plan.AttrChange
}

// Changes decides, with plan.Reference, which users' manager reference at path to set or clear: for
// every linked user when all (a user was newly linked, so any report may now find its manager; when
// the cycle loaded only some links, complete is false and the others are read from st), otherwise
// for the objects evaluated in this cycle. links gains the managers read from st.
func Changes(st Links, path string, ids []string, links map[string]store.Link, all, complete bool) ([]Change, error) {
	if all && !complete {
		// Find every report of a newly linked manager: the cycle loaded only some links.
		stored, err := st.Links(store.KindUser)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		for id, a := range links {
			stored[id] = a
		}
		links = stored
	}
	var work []Change
	consider := func(a store.Link) {
		v, _ := store.LinkValue(a, path) // a link read packed holds it in its record
		have, _ := v.(string)
		m, mok := links[a.ManagerID]
		if !mok && a.ManagerID != "" && !all {
			// The cycle loaded only the links it evaluated: a manager who did not change this cycle
			// (a report re-enabled, or whose manager changed while it was disabled) is read here.
			// With all, links holds every stored link, so a manager missing from it has none: at
			// 100,000 users an initial cycle read the state once for each of some 9,000 users
			// whose manager is out of scope, for nothing.
			if stored, ok, err := st.Link(store.KindUser, a.ManagerID); err == nil && ok {
				m, mok = stored, true
				links[a.ManagerID] = stored
			}
		}
		in := plan.ReferenceInput{Linked: a.TargetID != "", Managed: a.Managed, Disabled: a.Disabled,
			SourceHasManager: a.ManagerID != "", ManagerKnown: mok && m.Managed, Have: have}
		if in.ManagerKnown {
			in.WantTarget = m.TargetID
		}
		switch plan.Reference(in) {
		case plan.RefSet:
			work = append(work, Change{a, plan.AttrChange{Path: path, Old: have, New: in.WantTarget, Add: have == ""}})
		case plan.RefClear:
			work = append(work, Change{a, plan.AttrChange{Path: path, Old: have}})
		}
	}
	if all {
		for _, a := range links {
			consider(a)
		}
	} else {
		for _, id := range ids {
			if a, ok := links[id]; ok {
				consider(a)
			}
		}
	}
	return work, nil
}

// Linked is c's link as it is to be recorded once its manager reference was sent: the values stored
// (the cycle keeps user links slim, and a full round reads them packed: see store.Link.Packed) with
// the reference changed, at now.
func Linked(st Links, c Change, now time.Time) (store.Link, error) {
	l := c.Link
	full, ok, err := st.Link(store.KindUser, l.SourceID)
	if err != nil {
		return l, err
	}
	switch {
	case ok:
		l.Values, l.Packed = full.Values, ""
	default:
		// Every link the cycle holds was written before this step, so this is a link gone from the
		// state meanwhile: what the cycle holds is all there is.
		if err := store.UnpackLink(&l); err != nil {
			return l, err
		}
	}
	vals := plan.Merged(l.Values, nil)
	if c.Attr.New == nil {
		delete(vals, c.Attr.Path)
	} else {
		vals[c.Attr.Path] = c.Attr.New
	}
	l.Values, l.Hash, l.UpdatedAt = vals, plan.ValuesHash(vals), now
	return l, nil
}
