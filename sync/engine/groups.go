package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// opMembers and kindMembership name a change of a group's members in escrows and failures; it is
// escrowed under the group, so a failed or interrupted change retries the group.
const (
	opMembers      = "members"
	kindMembership = "membership"
)

// groupPlan is the groups' part of a cycle.
type groupPlan struct {
	objs    []plan.Object
	changes []plan.Change
	links   map[string]store.Anchor
	// inRound holds the groups the round returned; only their membership changes are known.
	inRound map[string]bool
	// settled are the groups whose members were brought in line this cycle: their escrows are cleared.
	settled []string
	// created are the groups created (empty) in this cycle; linked those created or adopted.
	created map[string]bool
	linked  []string
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
	markPending(gp.objs, store.KindGroup, snap.pending)
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

// syncMembers brings the members of provisioned groups in line. Which members a group should hold and
// what to send are decided by plan.Members from what the target group holds: what scimsync recorded after
// its last successful change, or, when that record cannot be trusted (plan.MembersOrigin), what the
// target answers. Before a group's members are changed a pending escrow is written, so a process killed
// mid-change leaves a marker that makes the next cycle read the target instead of adding members twice.
// In a dry run the same decisions are made (the target may be read) and listed in rep.PlannedMembers;
// nothing is sent or recorded.
func (e *Engine) syncMembers(ctx context.Context, rep *Report, snap *snapshot, gp *groupPlan, users map[string]store.Anchor, changed applied) (settled []string, err error) {
	if !e.o.Policy.Update {
		return nil, nil
	}
	escrows, err := e.st.Escrows()
	if err != nil {
		return nil, fmt.Errorf("read escrows: %w", err)
	}
	uncertain := map[string]store.Escrow{}
	for _, es := range escrows {
		if es.Kind == store.KindGroup {
			uncertain[es.SourceID] = es
		}
	}
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
		return nil, nil
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
	ids := make([]string, 0, len(look))
	for id := range look {
		if g := gp.links[id]; g.Disabled || skip[id] || g.TargetID == "" {
			continue
		}
		if _, known := snap.members[id]; !known {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Pending markers first, in one transaction: a crash from here on leaves them, and the next cycle
	// reads those groups from the target. A group already in escrow keeps its escrow (and its backoff).
	now := e.o.Now()
	var pending []store.Escrow
	for _, id := range ids {
		if _, ok := uncertain[id]; !ok {
			pending = append(pending, store.Escrow{Kind: store.KindGroup, SourceID: id, Op: opMembers,
				FirstFailed: now, LastFailed: now, NextRetry: now, ErrorClass: escrow.Unknown.String(),
				Error: "a change of the group's members was interrupted; its members are read from the target"})
		}
	}
	if e.o.DryRun {
		pending = nil
	}
	if err := e.st.PutEscrows(pending...); err != nil {
		return nil, fmt.Errorf("mark member changes: %w", err)
	}
	b := e.st.NewBatcher(64, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	var abort error // the target stopped answering: abort the cycle after recording what was sent
	e.phase(PhaseMemberships, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	// Read every group's link before any worker writes gp.links.
	grps := make([]store.Anchor, len(ids))
	for i, gid := range ids {
		grps[i] = gp.links[gid]
	}
	for i, gid := range ids {
		grp := grps[i]
		_, isUncertain := uncertain[gid]
		origin := plan.MembersOrigin(gp.created[gid] && grp.MatchedBy == "created", snap.full, grp.Members != nil, isUncertain || changed.retargeted(snap.members[gid]))
		g.Go(func() error {
			defer e.done(1)
			// Each log entry of the group carries the time of its requests since the previous entry
			// (the first includes reading the members, when they are read).
			mark := e.o.Now()
			took := func() int64 {
				now := e.o.Now()
				d := now.Sub(mark)
				mark = now
				return d.Milliseconds()
			}
			fail := func(op string, err error) {
				e.outcome(plan.Update, true)
				le := e.referenceEntry(rep, store.KindGroup, grp.SourceID, groupName(grp), grp.TargetID, op, nil, err)
				le.DurationMs = took()
				mu.Lock()
				defer mu.Unlock()
				rep.logs = append(rep.logs, le)
				rep.OtherFailed++
				rep.Failures = append(rep.Failures, Failure{Kind: kindMembership, SourceID: grp.SourceID, Identity: groupName(grp), Op: op, Err: err.Error(), err: err})
				e.log.Warn("updating group members failed", zap.String("group", grp.TargetID), zap.Error(err))
				if quarantine.IsAbort(err) && abort == nil {
					abort = err
				}
			}
			// The wanted members: direct source members that are provisioned and enabled.
			var wantSrc []string
			bySource := map[string]string{} // target id -> source id, for logs and the record
			var want []string
			for _, m := range snap.members[gid] {
				if a, ok := userLink(m); ok && a.Managed && !a.Disabled && a.TargetID != "" {
					wantSrc = append(wantSrc, m)
					want = append(want, a.TargetID)
					bySource[a.TargetID] = m
				}
			}
			// The members the group holds, and which of them are scimsync's to remove.
			ours := map[string]bool{}
			var recorded []string
			for _, m := range grp.Members {
				if a, ok := userLink(m); ok && a.TargetID != "" {
					recorded = append(recorded, a.TargetID)
					ours[a.TargetID] = true
					bySource[a.TargetID] = m
				}
			}
			var held []string
			switch origin {
			case plan.FromRecord:
				held = recorded
			case plan.FromTarget:
				// A target that does not list members is asked for each wanted member, as Entra does;
				// removes of our members are sent as recorded (removing an absent member is harmless).
				got, listed, err := e.members.Members(gctx, grp.TargetID, want)
				if err != nil {
					fail("read members", fmt.Errorf("read the members of group %s: %w", groupName(grp), err))
					return nil
				}
				if !listed {
					confirmed := got
					got = append([]string(nil), recorded...)
					for _, tid := range confirmed {
						if !slices.Contains(recorded, tid) {
							got = append(got, tid)
						}
					}
				}
				held = got
				for _, tid := range held {
					if ours[tid] {
						continue
					}
					if a, ok, err := e.st.AnchorByTarget(store.KindUser, tid); err == nil && ok && a.Managed {
						ours[tid] = true
						bySource[tid] = a.SourceID
					}
				}
			}
			mc := plan.Members(plan.MemberInput{Want: want, Held: held, Ours: ours})
			names := func(tids []string) string {
				out := make([]string, len(tids))
				for i, t := range tids {
					out[i] = bySource[t]
					if out[i] == "" {
						out[i] = t
					}
				}
				return strings.Join(out, ",")
			}
			if e.o.DryRun {
				mu.Lock()
				defer mu.Unlock()
				rep.MembersRemoved += len(mc.Remove)
				rep.MembersAdded += len(mc.Add)
				if len(mc.Add)+len(mc.Remove) > 0 {
					rep.PlannedMembers = append(rep.PlannedMembers, MemberChange{Group: groupName(grp), TargetID: grp.TargetID,
						Add: e.memberNames(mc.Add, bySource, userLink), Remove: e.memberNames(mc.Remove, bySource, userLink)})
				}
				return nil
			}
			// Removes first, so a repaired duplicate is removed before it is added back once.
			for _, step := range []struct {
				verb  string
				ids   []string
				count *int
			}{{"remove", mc.Remove, &rep.MembersRemoved}, {"add", mc.Add, &rep.MembersAdded}} {
				for _, batch := range chunks(step.ids, e.o.MemberBatchSize) {
					send, prop := e.members.AddMembers, store.Property{Name: "members", New: names(batch)}
					if step.verb == "remove" {
						send, prop = e.members.RemoveMembers, store.Property{Name: "members", Old: names(batch)}
					}
					if err := send(gctx, grp.TargetID, batch); err != nil {
						fail(step.verb+" members", err)
						return nil
					}
					le := e.referenceEntry(rep, store.KindGroup, grp.SourceID, groupName(grp), grp.TargetID,
						fmt.Sprintf("%s %d members", step.verb, len(batch)), []store.Property{prop}, nil)
					le.DurationMs = took()
					mu.Lock()
					*step.count += len(batch)
					rep.logs = append(rep.logs, le)
					mu.Unlock()
				}
			}
			if len(mc.Repaired) > 0 {
				e.log.Warn("the target held members more than once; repaired", zap.String("group", grp.TargetID), zap.Int("members", len(mc.Repaired)))
			}
			// Every change went through: the group holds the wanted members (and members scimsync does
			// not manage, which it never records).
			sort.Strings(wantSrc)
			a := grp
			a.Members, a.UpdatedAt = wantSrc, e.o.Now()
			if a.Members == nil {
				a.Members = []string{}
			}
			b.Put(a)
			mu.Lock()
			gp.links[a.SourceID] = a
			settled = append(settled, a.SourceID)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	if err := b.Flush(); err != nil {
		return settled, fmt.Errorf("record group members: %w", err)
	}
	if abort != nil {
		return settled, fmt.Errorf("group members stopped: %w", abort)
	}
	return settled, ctx.Err()
}

// MemberChange is the member changes a dry run would send to one group, members named by userName.
type MemberChange struct {
	Group, TargetID string
	Add, Remove     []string
}

// memberNames names target member ids by the userName scimsync sent, else the source id, else the
// target id, sorted, for the dry-run summary.
func (e *Engine) memberNames(tids []string, bySource map[string]string, link func(string) (store.Anchor, bool)) []string {
	out := make([]string, 0, len(tids))
	for _, t := range tids {
		name := t
		if src := bySource[t]; src != "" {
			name = src
			if a, ok := link(src); ok {
				name = userName(a)
			}
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
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
