package engine

import (
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/evaluate"
	"github.com/scimsync/scimsync/sync/plan"
)

// userRefs are the source ids each user's reference mappings point at (see evaluate.Refs).
type userRefs = evaluate.Refs

// resolveCreateRefs puts the manager's target id into the create body when the manager is already
// provisioned, which saves the separate PATCH Entra sends after every create.
func (e *Engine) resolveCreateRefs(objs []plan.Object, refs userRefs, links map[string]store.Link) {
	for i := range objs {
		for j, src := range refs[objs[i].SourceID] {
			path := e.refs[j]
			if a, ok := links[src]; ok && a.Managed && a.TargetID != "" && objs[i].CreateValues != nil {
				// A copy: CreateValues may share its map with Values.
				objs[i].CreateValues = plan.Merged(objs[i].CreateValues, map[string]any{path: a.TargetID})
			}
		}
	}
}
