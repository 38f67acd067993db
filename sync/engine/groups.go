package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/members"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/read"
)

// groupPlan is the groups' part of a cycle.
type groupPlan struct {
	objs    []plan.Object
	changes []plan.Change
	links   map[string]store.Link
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
func (e *Engine) planGroups(ctx context.Context, snap *read.Snapshot) (*groupPlan, error) {
	links, err := e.st.Links(store.KindGroup)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	gp := &groupPlan{links: links, inRound: map[string]bool{}}
	for _, g := range snap.Groups {
		gp.inRound[g.ID] = true
		gp.objs = append(gp.objs, e.eval.Group(g, snap.AssignedGroups))
	}
	// As for users: the evaluated objects are all the later steps need.
	snap.Groups = nil
	if snap.GroupsFull {
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
	markPending(gp.objs, store.KindGroup, snap.Pending)
	if gp.changes, err = e.planKind(ctx, e.groups, gp.objs, links, nil, false); err != nil {
		return nil, err
	}
	return gp, nil
}

// syncMembers brings the members of the provisioned groups in line (see members.Step.Sync).
func (e *Engine) syncMembers(ctx context.Context, rep *Report, snap *read.Snapshot, gp *groupPlan, users map[string]store.Link, changed applied) ([]string, error) {
	if !e.o.Policy.Update {
		return nil, nil
	}
	s := &members.Step{Target: e.members, State: e.st, Rec: e.rec, Progress: progressOf(e.o.Progress), Log: e.log,
		Now: e.o.Now, Concurrency: e.o.Concurrency, BatchSize: e.o.MemberBatchSize, DryRun: e.o.DryRun}
	return s.Sync(ctx, rep, members.Input{Snap: snap, Objects: gp.objs, Groups: gp.links, Created: gp.created,
		Users: users, Changed: changed.changed, Moved: changed.moved})
}
