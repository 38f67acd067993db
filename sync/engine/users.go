package engine

import (
	"fmt"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// userRefs holds, per source user, the source ids its reference mappings point at (manager). A user
// is absent when this cycle learned nothing about its references (a delta record without manager@delta),
// and present with an empty map when it has none.
type userRefs map[string]map[string]string

// manager returns the source id of the user's manager and whether the cycle knows it.
func (r userRefs) manager(id string, paths []string) (string, bool) {
	m, ok := r[id]
	if !ok || len(paths) == 0 {
		return "", ok
	}
	return m[paths[0]], true
}

// mapUsers scopes and maps users. full tells that the round returned every user whole, so a user
// without a manager annotation has no manager (in a delta round it means "unchanged").
func (e *Engine) mapUsers(uk *objectKind, users []directory.User, assigned map[string]bool, roles map[string][]string, full bool) ([]plan.Object, userRefs) {
	objs := make([]plan.Object, 0, len(users))
	refs := userRefs{}
	createDiffers := e.o.Users.CreateDiffers()
	for _, u := range users {
		o := plan.Object{SourceID: u.ID, HardDeleted: u.Removed == directory.HardDeleted}
		attrs := u.Attributes
		if attrs == nil {
			attrs = mapping.AttributeMap{}
		}
		if v, ok := attrs.Lookup("userPrincipalName"); ok {
			o.Identity = v.String()
		} else if v, ok := attrs.Lookup("displayName"); ok {
			o.Identity = v.String()
		} else {
			o.Identity = u.ID
		}
		if o.HardDeleted {
			objs = append(objs, o)
			continue
		}
		enabled := true
		if v, ok := attrs.Lookup("accountEnabled"); ok {
			if b, ok := v.AsBool(); ok {
				enabled = b
			}
		}
		// A soft-deleted or disabled user stays in scope but is not enabled: the service disables
		// the account and keeps managing it, so the hard delete 30 days later sends the DELETE.
		o.Enabled = enabled && u.Removed == directory.NotRemoved
		o.InScope, o.ScopeReason = true, "assigned and passed the scoping filters"
		switch {
		case u.Removed == directory.SoftDeleted:
			o.ScopeReason = "soft-deleted in the directory"
		case !enabled:
			o.ScopeReason = "accountEnabled is false"
		}
		switch {
		case assigned != nil && !assigned[u.ID]:
			o.InScope, o.ScopeReason = false, "not assigned to the app"
		case e.o.UserScoping != nil:
			d := e.o.UserScoping.Evaluate(attrs)
			if !d.InScope {
				o.InScope, o.ScopeReason = false, d.Reason
			}
		}
		// IsSoftDeleted is computed, as in Entra: unassigned, out of the scoping filters,
		// soft-deleted or accountEnabled false.
		computed := make(mapping.AttributeMap, len(attrs)+2)
		for k, v := range attrs {
			computed[k] = v
		}
		computed["IsSoftDeleted"] = mapping.Bool(!o.InScope || !o.Enabled)
		if roles != nil {
			// appRoleAssignments is computed, as in Entra: the roles the user holds in this app.
			computed["appRoleAssignments"] = mapping.Multi(roles[u.ID])
		}
		if _, ok := computed["objectId"]; !ok {
			computed["objectId"] = mapping.Str(u.ID)
		}
		upd, err := e.o.Users.Evaluate(computed, e.o.Env, false)
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
			objs = append(objs, o)
			continue
		}
		var r map[string]string
		o.Values, r = uk.export(upd.Values)
		o.Redacted = upd.Redacted
		o.CreateValues = o.Values
		if createDiffers {
			crt, err := e.o.Users.Evaluate(computed, e.o.Env, true)
			if err != nil {
				o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
				objs = append(objs, o)
				continue
			}
			o.CreateValues, _ = uk.export(crt.Values)
		}
		if len(e.refs) > 0 && (full || u.ManagerKnown) {
			if r == nil {
				r = map[string]string{}
			}
			refs[u.ID] = r
		}
		objs = append(objs, o)
	}
	return objs, refs
}

// resolveCreateRefs puts the manager's target id into the create body when the manager is already
// provisioned, which saves the separate PATCH Entra sends after every create.
func (e *Engine) resolveCreateRefs(objs []plan.Object, refs userRefs, links map[string]store.Anchor) {
	for i := range objs {
		r := refs[objs[i].SourceID]
		for path, src := range r {
			if a, ok := links[src]; ok && a.Managed && a.TargetID != "" && objs[i].CreateValues != nil {
				// A copy: CreateValues may share its map with Values.
				objs[i].CreateValues = plan.Merged(objs[i].CreateValues, map[string]any{path: a.TargetID})
			}
		}
	}
}
