// Package evaluate is the cycle's evaluate step: it scopes each source object (assignment, scoping
// filters, soft delete, accountEnabled) and maps it through the mapping table into the plan's Object,
// whose Values are what the target should hold. It is pure: no directory, no target, no state.
package evaluate

import (
	"context"
	"fmt"
	"maps"
	"runtime"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/plan"
)

// Evaluator scopes and maps a job's users and groups.
type Evaluator struct {
	users, groups             *mapping.Table
	userScoping, groupScoping *scoping.Set
	env                       *mapping.Env

	userTypes, groupTypes map[string]mapping.TargetType
	// refs are the target paths of reference-typed user mappings (the manager).
	refs []string
	// userCreateDiffers is users.CreateDiffers(), asked once rather than for every user.
	userCreateDiffers bool
}

// New returns an Evaluator; groups and their scoping are nil when groups are not provisioned.
func New(users *mapping.Table, userScoping *scoping.Set, groups *mapping.Table, groupScoping *scoping.Set, env *mapping.Env) *Evaluator {
	ev := &Evaluator{users: users, userScoping: userScoping, groups: groups, groupScoping: groupScoping, env: env,
		userTypes: types(users), groupTypes: types(groups), userCreateDiffers: users.CreateDiffers()}
	for _, m := range users.Mappings {
		if m.Type == mapping.TypeReference {
			ev.refs = append(ev.refs, m.Target)
		}
	}
	return ev
}

// RefPaths are the target paths of the reference-typed user mappings (the manager).
func (ev *Evaluator) RefPaths() []string { return ev.refs }

func types(t *mapping.Table) map[string]mapping.TargetType {
	out := map[string]mapping.TargetType{}
	if t == nil {
		return out
	}
	for _, m := range t.Mappings {
		out[m.Target] = m.Type
	}
	return out
}

// Refs holds, per source user, the source ids its reference mappings point at (manager), in the order
// of RefPaths, "" for none. A user is absent when this cycle learned nothing about its references (a
// delta record without manager@delta). A slice rather than a map per user: at 100,000 users the maps
// were 30 MB.
type Refs map[string][]string

// Manager returns the source id of the user's manager and whether the cycle knows it; paths are the
// reference paths (RefPaths), the manager's first.
func (r Refs) Manager(id string, paths []string) (string, bool) {
	ids, ok := r[id]
	if !ok || len(paths) == 0 || len(ids) == 0 {
		return "", ok
	}
	return ids[0], true
}

// drainChunk is how many users Drain evaluates before it clears them.
const drainChunk = 1000

// Drain is Users for a caller that gives users up: it unpacks and evaluates them a chunk at a time and
// releases each chunk once evaluated, so the directory's objects go while the mapped values are made
// and the two are never both held whole (at 100,000 users each is a large part of a cycle's memory).
// keep, when not nil, gets each chunk's objects before they join the result (the engine packs their
// values there: sync/pack). Chunks are evaluated on every core (evaluation is pure: the mapping
// functions' clock and randomness are safe for concurrent use), so keep may run for several chunks at
// once; the result is in the users' order whatever the concurrency.
func (ev *Evaluator) Drain(users *directory.UserList, assigned map[string]bool, roles map[string][]string, full bool, keep func([]plan.Object)) ([]plan.Object, Refs) {
	n := users.Len()
	objs := make([]plan.Object, n)
	chunkRefs := make([]Refs, (n+drainChunk-1)/drainChunk)
	_ = fanout.Each(context.Background(), runtime.GOMAXPROCS(0), len(chunkRefs), func(_ context.Context, c int) error {
		start, end := c*drainChunk, min((c+1)*drainChunk, n)
		refs := Refs{}
		// One attribute map for the chunk, each user unpacked into it in turn (UserList.AtInto) rather
		// than into a map of its own: evalUser keeps values read from the maps, never the maps.
		s := &scratch{attrs: mapping.AttributeMap{}, mapped: map[string]mapping.Value{}}
		for i := start; i < end; i++ {
			u := users.AtInto(i, s.attrs)
			users.Release(i) // each chunk its own indices: no two calls touch the same user
			objs[i] = ev.evalUser(u, assigned, roles, full, s, refs)
		}
		if keep != nil {
			keep(objs[start:end])
		}
		chunkRefs[c] = refs
		return nil
	})
	refs := Refs{}
	for _, r := range chunkRefs {
		maps.Copy(refs, r)
	}
	return objs, refs
}

// Users scopes and maps users. full tells that the round returned every user whole, so a user
// without a manager annotation has no manager (in a delta round it means "unchanged").
func (ev *Evaluator) Users(users []directory.User, assigned map[string]bool, roles map[string][]string, full bool) ([]plan.Object, Refs) {
	objs := make([]plan.Object, 0, len(users))
	refs := Refs{}
	for _, u := range users {
		objs = append(objs, ev.evalUser(u, assigned, roles, full, nil, refs))
	}
	return objs, refs
}

// scratch holds the maps Drain reuses from one user to the next: the user's attributes (its own to
// change: unpacked for this user alone) and the mapped values before export.
type scratch struct {
	attrs  mapping.AttributeMap
	mapped map[string]mapping.Value
}

// evalUser scopes and maps one user, and adds its references to refs. With s (Drain), the user's
// attribute map is s.attrs, so the computed attributes go into it instead of into a copy (at 100,000
// users a copy of every user's attributes was a tenth of the cycle's allocations), and the mapping
// evaluates into s.mapped. Nothing it returns holds either map: Drain reuses them for the next user.
func (ev *Evaluator) evalUser(u directory.User, assigned map[string]bool, roles map[string][]string, full bool, s *scratch, refs Refs) plan.Object {
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
		return o
	}
	ev.scopeUser(&o, u, attrs, assigned)
	// IsSoftDeleted is computed, as in Entra: unassigned, out of the scoping filters,
	// soft-deleted or accountEnabled false.
	computed := attrs
	var mapped map[string]mapping.Value // nil: a fresh map for each evaluation
	if s != nil {
		mapped = s.mapped
	} else {
		computed = make(mapping.AttributeMap, len(attrs)+3)
		for k, v := range attrs {
			computed[k] = v
		}
	}
	computed["IsSoftDeleted"] = mapping.Bool(!o.InScope || !o.Enabled)
	if roles != nil {
		// appRoleAssignments is computed, as in Entra: the roles the user holds in this app.
		computed["appRoleAssignments"] = mapping.Multi(roles[u.ID])
	}
	if _, ok := computed["objectId"]; !ok {
		computed["objectId"] = mapping.Str(u.ID)
	}
	upd, err := ev.users.EvaluateInto(computed, ev.env, false, mapped)
	if err != nil {
		o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
		return o
	}
	o.Values = export(ev.userTypes, upd.Values)
	o.Redacted = upd.Redacted
	o.CreateValues = o.Values
	// The reference values (source ids until resolved) are read before the create flow evaluates
	// into the same map.
	var ids []string
	if len(ev.refs) > 0 && (full || u.ManagerKnown) {
		ids = make([]string, len(ev.refs))
		for i, p := range ev.refs {
			if v, ok := upd.Values[p]; ok {
				ids[i] = v.String()
			}
		}
	}
	if ev.userCreateDiffers {
		crt, err := ev.users.EvaluateInto(computed, ev.env, true, mapped) // upd.Values exported above
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
			return o
		}
		o.CreateValues = export(ev.userTypes, crt.Values)
	}
	if ids != nil {
		refs[u.ID] = ids
	}
	return o
}

// scopeUser decides whether a user is in scope and enabled. A soft-deleted or disabled user stays in
// scope but is not enabled: the service disables the account and keeps managing it, so the hard
// delete 30 days later sends the DELETE.
func (ev *Evaluator) scopeUser(o *plan.Object, u directory.User, attrs mapping.AttributeMap, assigned map[string]bool) {
	enabled := true
	if v, ok := attrs.Lookup("accountEnabled"); ok {
		if b, ok := v.AsBool(); ok {
			enabled = b
		}
	}
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
	case ev.userScoping != nil:
		d := ev.userScoping.Evaluate(attrs)
		if !d.InScope {
			o.InScope, o.ScopeReason = false, d.Reason
		}
	}
}

// Missing plans linked users that a full round no longer returns as gone from the directory.
// Graph cannot tell a soft delete from a hard delete here, so they are disabled (never deleted): the
// safe choice, and what the service does for soft-deleted users.
func (ev *Evaluator) Missing(ids []string) []plan.Object {
	out := make([]plan.Object, 0, len(ids))
	for _, id := range ids {
		// Treated like a soft delete: disabled and still managed.
		o := plan.Object{SourceID: id, Identity: id, InScope: true, ScopeReason: "no longer in the directory"}
		d, err := ev.users.Evaluate(mapping.AttributeMap{"IsSoftDeleted": mapping.Bool(true), "objectId": mapping.Str(id)}, ev.env, false)
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", id, err)
		} else {
			o.Values = export(ev.userTypes, d.Values)
		}
		out = append(out, o)
	}
	return out
}

// Group scopes and maps one group. Groups are in scope when assigned to the app (assigned scope) or
// always (all scope), and when they pass the group scoping filters; a group that leaves the scope or
// is deleted in the directory is deleted in the target, subject to the Delete action.
func (ev *Evaluator) Group(g directory.Group, assigned map[string]bool) plan.Object {
	o := plan.Object{SourceID: g.ID, Identity: g.ID, Enabled: true, InScope: true, ScopeReason: "assigned and passed the scoping filters"}
	attrs := g.Attributes
	if attrs == nil {
		attrs = mapping.AttributeMap{}
	}
	if v, ok := attrs.Lookup("displayName"); ok && v.String() != "" {
		o.Identity = v.String()
	}
	switch {
	case g.Removed != directory.NotRemoved:
		o.HardDeleted = true
		return o
	case assigned != nil && !assigned[g.ID]:
		o.InScope, o.ScopeReason = false, "not assigned to the app"
	case ev.groupScoping != nil:
		if d := ev.groupScoping.Evaluate(attrs); !d.InScope {
			o.InScope, o.ScopeReason = false, d.Reason
		}
	}
	computed := make(mapping.AttributeMap, len(attrs)+1)
	for k, v := range attrs {
		computed[k] = v
	}
	if _, ok := computed["objectId"]; !ok {
		computed["objectId"] = mapping.Str(g.ID)
	}
	upd, err := ev.groups.Evaluate(computed, ev.env, false)
	if err != nil {
		o.Err = fmt.Errorf("evaluate group mappings for %s: %w", o.Identity, err)
		return o
	}
	crt, err := ev.groups.Evaluate(computed, ev.env, true)
	if err != nil {
		o.Err = fmt.Errorf("evaluate group mappings for %s: %w", o.Identity, err)
		return o
	}
	o.Values = export(ev.groupTypes, upd.Values)
	o.CreateValues = export(ev.groupTypes, crt.Values)
	return o
}

// export turns mapped Values into the JSON-able values the target receives, leaving out the
// reference attributes (which carry source ids until resolved: evalUser reads them from vals).
func export(types map[string]mapping.TargetType, vals map[string]mapping.Value) map[string]any {
	out := make(map[string]any, len(vals))
	for path, v := range vals {
		switch types[path] {
		case mapping.TypeReference:
		case mapping.TypeBoolean:
			if b, ok := v.AsBool(); ok {
				out[path] = b
			} else {
				out[path] = v.String()
			}
		case mapping.TypeInteger:
			if n, ok := v.AsInt(); ok {
				out[path] = n
			} else {
				out[path] = v.String()
			}
		case mapping.TypeMulti:
			out[path] = append([]string(nil), v.Strings()...)
		default:
			out[path] = v.String()
		}
	}
	return out
}
