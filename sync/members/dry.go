package members

import (
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// DryLinks is what the user links would be after the planned changes, and which users they change, so
// a dry run plans the member changes the real cycle would send: disabled and deleted users leave their
// groups, re-enabled and matched users join them. A user the cycle would create has no target id yet;
// the real cycle adds it to its groups once it exists.
func DryLinks(changes []plan.Change, links map[string]store.Link) (map[string]store.Link, map[string]bool) {
	out := make(map[string]store.Link, len(links))
	for id, a := range links {
		out[id] = a
	}
	changed := map[string]bool{}
	for _, c := range changes {
		a, had := out[c.SourceID]
		switch {
		case c.Op == plan.Adopt:
			out[c.SourceID] = store.Link{Kind: store.KindUser, SourceID: c.SourceID, TargetID: c.TargetID, Managed: !c.Unmanage, Values: c.Values}
		case c.Op == plan.Disable && had:
			a.Disabled = true
			out[c.SourceID] = a
		case c.Op == plan.Delete:
			out[c.SourceID] = store.Link{Kind: store.KindUser, SourceID: c.SourceID}
		case c.Op == plan.Update && had && a.Disabled:
			a.Disabled = false
			out[c.SourceID] = a
		default:
			continue
		}
		changed[c.SourceID] = true
	}
	return out, changed
}
