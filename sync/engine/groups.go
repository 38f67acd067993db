package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// groupPlan is the groups' part of a cycle.
type groupPlan struct {
	objs    []plan.Object
	changes []plan.Change
	links   map[string]store.Anchor
	// inRound holds the groups the round returned; only their membership changes are known.
	inRound map[string]bool
}

// planGroups scopes, maps, matches and plans the groups of the round. Group links are few (one per
// provisioned group), so all of them are loaded.
func (e *Engine) planGroups(ctx context.Context, snap *snapshot) (*groupPlan, error) {
	links, err := e.st.Anchors(store.KindGroup)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	gp := &groupPlan{links: links, inRound: map[string]bool{}}
	for _, g := range snap.groups {
		gp.inRound[g.ID] = true
		gp.objs = append(gp.objs, e.mapGroup(g, snap.assignedGroups))
	}
	if snap.groupsFull {
		// A group a full round no longer returns was deleted in the directory.
		var gone []string
		for id, a := range links {
			if a.Managed && !gp.inRound[id] {
				gone = append(gone, id)
			}
		}
		sort.Strings(gone)
		for _, id := range gone {
			gp.objs = append(gp.objs, plan.Object{SourceID: id, Identity: id, HardDeleted: true})
		}
	}
	if gp.changes, err = e.planKind(ctx, e.groups, gp.objs, links, nil); err != nil {
		return nil, err
	}
	return gp, nil
}

// mapGroup scopes and maps one group. Groups are in scope when assigned to the app (assigned scope) or
// always (all scope), and when they pass the group scoping filters; a group that leaves the scope or
// is deleted in the directory is deleted in the target, subject to the Delete action.
func (e *Engine) mapGroup(g directory.Group, assigned map[string]bool) plan.Object {
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
	case e.o.GroupScoping != nil:
		if d := e.o.GroupScoping.Evaluate(attrs); !d.InScope {
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
	upd, err := e.o.Groups.Evaluate(computed, e.o.Env, false)
	if err != nil {
		o.Err = fmt.Errorf("evaluate group mappings for %s: %w", o.Identity, err)
		return o
	}
	crt, err := e.o.Groups.Evaluate(computed, e.o.Env, true)
	if err != nil {
		o.Err = fmt.Errorf("evaluate group mappings for %s: %w", o.Identity, err)
		return o
	}
	o.Values, _ = e.groups.export(upd.Values)
	o.CreateValues, _ = e.groups.export(crt.Values)
	return o
}

// syncMembers brings the members of provisioned groups in line: the direct members of the group that
// are provisioned, enabled users. Only the difference is sent, in PATCHes of MemberBatchSize members.
// A member who is not provisioned is left out and added as soon as they are (Entra needs a restart
// for that; the engine looks again whenever a member's link changes).
func (e *Engine) syncMembers(ctx context.Context, rep *Report, snap *snapshot, gp *groupPlan, users map[string]store.Anchor, changed applied) error {
	// Which groups to look at: all of them after a full round; otherwise those whose membership or
	// link changed, and those holding a user whose link changed.
	look := map[string]bool{}
	for id, a := range gp.links {
		if !a.Managed {
			continue
		}
		if snap.groupsFull || snap.full || a.Members == nil || snap.membersPut[id] != nil {
			look[id] = true
		}
	}
	if len(changed.changed) > 0 {
		for gid, members := range snap.members {
			if _, ok := gp.links[gid]; !ok || look[gid] {
				continue
			}
			for _, m := range members {
				if changed.changed[m] {
					look[gid] = true
					break
				}
			}
		}
	}
	if len(look) == 0 {
		return nil
	}
	var linkMu sync.Mutex
	userLink := func(id string) (store.Anchor, bool) {
		linkMu.Lock()
		defer linkMu.Unlock()
		if a, ok := users[id]; ok {
			return a, true
		}
		a, ok, err := e.st.Anchor(store.KindUser, id)
		if err != nil || !ok {
			return store.Anchor{}, false
		}
		users[id] = a
		return a, true
	}
	// A group that is out of scope or deleted in the source keeps its members: it is deleted (Delete
	// action on) or left alone (off), never emptied.
	skip := map[string]bool{}
	for _, o := range gp.objs {
		if !o.InScope || o.HardDeleted {
			skip[o.SourceID] = true
		}
	}
	type memberWork struct {
		group       store.Anchor
		add, remove []string // source ids
	}
	var work []memberWork
	ids := make([]string, 0, len(look))
	for id := range look {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, gid := range ids {
		g := gp.links[gid]
		if _, known := snap.members[gid]; g.Disabled || skip[gid] || !known {
			continue
		}
		want := map[string]bool{}
		for _, m := range snap.members[gid] {
			if a, ok := userLink(m); ok && a.Managed && !a.Disabled && a.TargetID != "" {
				want[m] = true
			}
		}
		have := map[string]bool{}
		for _, m := range g.Members {
			have[m] = true
		}
		w := memberWork{group: g}
		for m := range want {
			if !have[m] {
				w.add = append(w.add, m)
			}
		}
		for m := range have {
			if !want[m] {
				w.remove = append(w.remove, m)
			}
		}
		if len(w.add)+len(w.remove) > 0 || g.Members == nil {
			sort.Strings(w.add)
			sort.Strings(w.remove)
			work = append(work, w)
		}
	}
	if len(work) == 0 || !e.o.Policy.Update {
		return nil
	}
	gt := e.tgt.(GroupTarget)
	b := e.st.NewBatcher(64, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	var abort error // the target stopped answering: abort the cycle after recording what was sent
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, w := range work {
		g.Go(func() error {
			members := map[string]bool{}
			for _, m := range w.group.Members {
				members[m] = true
			}
			fail := func(op string, err error) {
				mu.Lock()
				defer mu.Unlock()
				rep.logs = append(rep.logs, e.referenceEntry(rep, store.KindGroup, w.group.SourceID, groupName(w.group), w.group.TargetID, op, nil, err))
				rep.OtherFailed++
				rep.Failures = append(rep.Failures, Failure{Kind: "membership", SourceID: w.group.SourceID, Identity: w.group.SourceID, Op: op, Err: err.Error(), err: err})
				e.log.Warn("updating group members failed", zap.String("group", w.group.TargetID), zap.Error(err))
				if quarantine.IsAbort(err) && abort == nil {
					abort = err
				}
			}
			// targetIDs maps members to their target ids; gone lists those without a target object
			// (deleted with their account, which took the membership with it).
			targetIDs := func(src []string) (ids, gone []string) {
				for _, m := range src {
					if a, ok := userLink(m); ok && a.TargetID != "" {
						ids = append(ids, a.TargetID)
					} else {
						gone = append(gone, m)
					}
				}
				return ids, gone
			}
			for _, batch := range chunks(w.add, e.o.MemberBatchSize) {
				ids, _ := targetIDs(batch)
				if err := gt.PatchGroup(gctx, w.group.TargetID, scimclient.MembersAdd(e.o.PatchMode, ids)); err != nil {
					fail("add members", err)
					break
				}
				for _, m := range batch {
					members[m] = true
				}
				mu.Lock()
				rep.MembersAdded += len(batch)
				rep.logs = append(rep.logs, e.referenceEntry(rep, store.KindGroup, w.group.SourceID, groupName(w.group), w.group.TargetID,
					fmt.Sprintf("add %d members", len(batch)), []store.Property{{Name: "members", New: strings.Join(batch, ",")}}, nil))
				mu.Unlock()
			}
			for _, batch := range chunks(w.remove, e.o.MemberBatchSize) {
				// A member whose target account is gone (deleted) left the group with it.
				ids, _ := targetIDs(batch)
				if len(ids) > 0 {
					if err := gt.PatchGroup(gctx, w.group.TargetID, scimclient.MembersRemove(e.o.PatchMode, ids)); err != nil {
						fail("remove members", err)
						break
					}
				}
				for _, m := range batch {
					delete(members, m)
				}
				mu.Lock()
				rep.MembersRemoved += len(batch)
				rep.logs = append(rep.logs, e.referenceEntry(rep, store.KindGroup, w.group.SourceID, groupName(w.group), w.group.TargetID,
					fmt.Sprintf("remove %d members", len(batch)), []store.Property{{Name: "members", Old: strings.Join(batch, ",")}}, nil))
				mu.Unlock()
			}
			list := make([]string, 0, len(members))
			for m := range members {
				list = append(list, m)
			}
			sort.Strings(list)
			a := w.group
			a.Members, a.UpdatedAt = list, e.o.Now()
			b.Put(a)
			mu.Lock()
			gp.links[a.SourceID] = a
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	if err := b.Flush(); err != nil {
		return fmt.Errorf("record group members: %w", err)
	}
	if abort != nil {
		return fmt.Errorf("group members stopped: %w", abort)
	}
	return ctx.Err()
}

// chunks splits ids into batches of at most n.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > 0 {
		k := min(n, len(ids))
		out = append(out, ids[:k])
		ids = ids[k:]
	}
	return out
}

// groupName is how a group shows in the provisioning log.
func groupName(a store.Anchor) string {
	if n, ok := a.Values["displayName"].(string); ok && n != "" {
		return n
	}
	return a.SourceID
}
