// Package members is the membership step: after the groups exist in the target, it brings their
// members in line with the directory. plan.Members decides what to send from what the target group
// holds; this package finds that out (from the record, or from the target when the record cannot be
// trusted), sends the difference in batches and records the result. Before a group's members are
// changed a pending escrow is written, so a process killed mid-change leaves a marker that makes the
// next cycle read the target instead of adding members twice.
package members

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/read"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// Phase is the progress phase of the step, one unit per group.
const Phase = "memberships"

// opMembers names a change of a group's members in escrows; it is escrowed under the group, so a
// failed or interrupted change retries the group.
const opMembers = "members"

// Target reads and changes the members of target groups; the engine's Groups implement it.
type Target interface {
	// Members reads the member ids a group holds (listed true); a target that does not list members
	// confirms which of ask it holds instead (listed false).
	Members(ctx context.Context, groupID string, ask []string) (ids []string, listed bool, err error)
	AddMembers(ctx context.Context, groupID string, ids []string) error
	RemoveMembers(ctx context.Context, groupID string, ids []string) error
}

// State is what the step reads from the job's state: escrows (a group in escrow is read from the
// target) and user links the cycle did not load.
type State interface {
	Escrows() ([]store.Escrow, error)
	Link(kind store.Kind, sourceID string) (store.Link, bool, error)
	LinkByTarget(kind store.Kind, targetID string) (store.Link, bool, error)
}

// Progress is told the step's phase, each group done, and each failure as it happens.
type Progress interface {
	Start(phase string, total int)
	Done(n int)
	Outcome(op plan.Op, failed bool)
}

// Step is the membership step of a job.
type Step struct {
	Target   Target
	State    State
	Rec      *record.Recorder
	Progress Progress
	Log      *zap.Logger
	Now      func() time.Time
	// Concurrency bounds the groups in flight; BatchSize the members per PATCH.
	Concurrency, BatchSize int
	// DryRun decides without sending: the changes are listed in the report's PlannedMembers.
	DryRun bool
}

// Input is what the cycle hands the step.
type Input struct {
	Snap *read.Snapshot
	// Objects are the planned groups; Groups their links by source id, updated in place; Created
	// the groups created (empty) in this cycle.
	Objects []plan.Object
	Groups  map[string]store.Link
	Created map[string]bool
	// Users are the user links the cycle loaded; more are read as needed.
	Users map[string]store.Link
	// Changed holds the users whose link changed this cycle (their groups need a look), Moved those
	// now linked to another target object (a record of a group's members names the old one).
	Changed, Moved map[string]bool
}

// retargeted reports whether any of the users moved to another target object in this cycle.
func (in Input) retargeted(users []string) bool {
	return slices.ContainsFunc(users, func(u string) bool { return in.Moved[u] })
}

// entry is the provisioning-log entry of a member change of grp.
func (r *memberRun) entry(grp store.Link, what string, props []store.Property, err error) store.LogEntry {
	return record.Reference{CycleID: r.rep.CycleID, Time: r.s.Now(), Kind: store.KindGroup, SourceID: grp.SourceID,
		Identity: record.GroupName(grp), TargetID: grp.TargetID, What: what, Modified: props}.Entry(err)
}

// Sync brings the members of provisioned groups in line. Which members a group should hold and
// what to send are decided by plan.Members from what the target group holds: what scimsync recorded after
// its last successful change, or, when that record cannot be trusted (plan.MembersOrigin), what the
// target answers. Before a group's members are changed a pending escrow is written, so a process killed
// mid-change leaves a marker that makes the next cycle read the target instead of adding members twice.
// In a dry run the same decisions are made (the target may be read) and listed in rep.PlannedMembers;
// nothing is sent or recorded.
func (s *Step) Sync(ctx context.Context, rep *summary.Report, in Input) (settled []string, err error) {
	escrows, err := s.State.Escrows()
	if err != nil {
		return nil, fmt.Errorf("read escrows: %w", err)
	}
	snap, gp := in.Snap, in
	r := &memberRun{s: s, rep: rep, in: in, users: in.Users, uncertain: map[string]bool{}}
	for _, es := range escrows {
		// An expired escrow is dropped when the cycle is recorded: it says nothing about the group.
		if es.Kind == store.KindGroup && !snap.IsExpired(es) {
			r.uncertain[es.SourceID] = true
		}
	}
	ids := groupsToSync(in)
	if len(ids) == 0 {
		return nil, nil
	}
	// Pending markers first, in one transaction: a crash from here on leaves them, and the next cycle
	// reads those groups from the target. A group already in escrow keeps its escrow (and its backoff).
	now := s.Now()
	var pending []store.Escrow
	for _, id := range ids {
		if !r.uncertain[id] {
			pending = append(pending, store.Escrow{Kind: store.KindGroup, SourceID: id, Op: opMembers,
				FirstFailed: now, LastFailed: now, NextRetry: now, ErrorClass: escrow.Unknown.String(),
				Error: "a change of the group's members was interrupted; its members are read from the target"})
		}
	}
	if err := s.Rec.MarkEscrows(pending); err != nil {
		return nil, err
	}
	r.b = s.Rec.Links(64)
	defer r.b.Close()
	s.Progress.Start(Phase, len(ids))
	// Read every group's link before any worker writes gp.links.
	grps := make([]store.Link, len(ids))
	for i, gid := range ids {
		grps[i] = gp.Groups[gid]
	}
	_ = fanout.Each(ctx, s.Concurrency, len(ids), func(ctx context.Context, i int) error {
		defer s.Progress.Done(1)
		r.group(ctx, grps[i])
		return nil
	})
	if err := r.b.Flush(); err != nil {
		return r.settled, fmt.Errorf("record group members: %w", err)
	}
	if r.abort != nil {
		return r.settled, fmt.Errorf("group members stopped: %w", r.abort)
	}
	return r.settled, ctx.Err()
}

// groupsToSync lists the groups whose members to bring in line: all of them after a full round;
// otherwise those whose membership or link changed, and those holding a user whose link changed. A
// group that is out of scope or deleted in the source keeps its members: it is deleted (Delete action
// on) or left alone (off), never emptied.
func groupsToSync(in Input) []string {
	snap, gp := in.Snap, in
	look := map[string]bool{}
	for id, a := range gp.Groups {
		if a.Managed && (snap.GroupsFull || snap.Full || a.Members == nil || snap.MembersPut[id] != nil) {
			look[id] = true
		}
	}
	if len(in.Changed) > 0 {
		for gid, members := range snap.Members {
			if _, ok := gp.Groups[gid]; !ok || look[gid] {
				continue
			}
			if slices.ContainsFunc(members, func(m string) bool { return in.Changed[m] }) {
				look[gid] = true
			}
		}
	}
	skip := map[string]bool{}
	for _, o := range gp.Objects {
		if !o.InScope || o.HardDeleted {
			skip[o.SourceID] = true
		}
	}
	ids := make([]string, 0, len(look))
	for id := range look {
		if g := gp.Groups[id]; g.Disabled || skip[id] || g.TargetID == "" {
			continue
		}
		if _, known := snap.Members[id]; !known {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// memberRun is the membership step in progress: what its concurrent groups report to.
type memberRun struct {
	s   *Step
	rep *summary.Report
	in  Input
	// uncertain holds the groups in escrow: their record of members is not trusted.
	uncertain map[string]bool
	b         *store.Batcher

	linkMu sync.Mutex
	users  map[string]store.Link

	mu      sync.Mutex
	abort   error // the target stopped answering: abort the cycle after recording what was sent
	settled []string
}

// userLink is a user's link: from the cycle's, else from the state (and kept for the cycle).
func (r *memberRun) userLink(id string) (store.Link, bool) {
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	if a, ok := r.users[id]; ok {
		return a, true
	}
	a, ok, err := r.s.State.Link(store.KindUser, id)
	if err != nil || !ok {
		return store.Link{}, false
	}
	r.users[id] = a
	return a, true
}

// groupMembers is what one group's member change works with; target ids are named by their source
// ids (bySource) in logs and the record.
type groupMembers struct {
	grp      store.Link
	wantSrc  []string
	want     []string
	recorded []string
	ours     map[string]bool
	bySource map[string]string
	// mark is when the group's previous log entry was written: each entry carries the time of its
	// requests since (the first includes reading the members, when they are read).
	mark time.Time
}

// took is the time since the group's previous log entry, in milliseconds.
func (g *groupMembers) took(now time.Time) int64 {
	d := now.Sub(g.mark)
	g.mark = now
	return d.Milliseconds()
}

// names names target ids by their source ids, for the provisioning log.
func (g *groupMembers) names(tids []string) string {
	out := make([]string, len(tids))
	for i, t := range tids {
		out[i] = g.bySource[t]
		if out[i] == "" {
			out[i] = t
		}
	}
	return strings.Join(out, ",")
}

// group brings one group's members in line.
func (r *memberRun) group(ctx context.Context, grp store.Link) {
	s, gid := r.s, grp.SourceID
	origin := plan.MembersOrigin(r.in.Created[gid] && grp.MatchedBy == "created", r.in.Snap.Full, grp.Members != nil,
		r.uncertain[gid] || r.in.retargeted(r.in.Snap.Members[gid]))
	g := &groupMembers{grp: grp, ours: map[string]bool{}, bySource: map[string]string{}, mark: s.Now()}
	// The wanted members: direct source members that are provisioned and enabled.
	for _, m := range r.in.Snap.Members[gid] {
		if a, ok := r.userLink(m); ok && a.Managed && !a.Disabled && a.TargetID != "" {
			g.wantSrc = append(g.wantSrc, m)
			g.want = append(g.want, a.TargetID)
			g.bySource[a.TargetID] = m
		}
	}
	// The members the group holds, and which of them are scimsync's to remove.
	for _, m := range grp.Members {
		if a, ok := r.userLink(m); ok && a.TargetID != "" {
			g.recorded = append(g.recorded, a.TargetID)
			g.ours[a.TargetID] = true
			g.bySource[a.TargetID] = m
		}
	}
	var held []string // KnownEmpty: created empty in this cycle
	switch origin {
	case plan.FromRecord:
		held = g.recorded
	case plan.FromTarget:
		var err error
		if held, err = r.readHeld(ctx, g); err != nil {
			r.fail(g, "read members", fmt.Errorf("read the members of group %s: %w", record.GroupName(grp), err))
			return
		}
	}
	mc := plan.Members(plan.MemberInput{Want: g.want, Held: held, Ours: g.ours})
	if s.DryRun {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.rep.MembersRemoved += len(mc.Remove)
		r.rep.MembersAdded += len(mc.Add)
		if len(mc.Add)+len(mc.Remove) > 0 {
			r.rep.PlannedMembers = append(r.rep.PlannedMembers, summary.MemberChange{Group: record.GroupName(grp), TargetID: grp.TargetID,
				Add: memberNames(mc.Add, g.bySource, r.userLink), Remove: memberNames(mc.Remove, g.bySource, r.userLink)})
		}
		return
	}
	if !r.send(ctx, g, mc) {
		return
	}
	if len(mc.Repaired) > 0 {
		s.Log.Warn("the target held members more than once; repaired", zap.String("group", grp.TargetID), zap.Int("members", len(mc.Repaired)))
	}
	// Every change went through: the group holds the wanted members (and members scimsync does not
	// manage, which it never records).
	sort.Strings(g.wantSrc)
	a := grp
	a.Members, a.UpdatedAt = g.wantSrc, s.Now()
	if a.Members == nil {
		a.Members = []string{}
	}
	r.b.Put(a)
	r.mu.Lock()
	r.in.Groups[a.SourceID] = a
	r.settled = append(r.settled, a.SourceID)
	r.mu.Unlock()
}

// readHeld reads what the target group holds. A target that does not list members is asked for each
// wanted member, as Entra does; removes of our members are sent as recorded (removing an absent
// member is harmless). Members scimsync manages that its record did not hold become its to remove.
func (r *memberRun) readHeld(ctx context.Context, g *groupMembers) ([]string, error) {
	got, listed, err := r.s.Target.Members(ctx, g.grp.TargetID, g.want)
	if err != nil {
		return nil, err
	}
	if !listed {
		confirmed := got
		got = append([]string(nil), g.recorded...)
		for _, tid := range confirmed {
			if !slices.Contains(g.recorded, tid) {
				got = append(got, tid)
			}
		}
	}
	for _, tid := range got {
		if g.ours[tid] {
			continue
		}
		if a, ok, err := r.s.State.LinkByTarget(store.KindUser, tid); err == nil && ok && a.Managed {
			g.ours[tid] = true
			g.bySource[tid] = a.SourceID
		}
	}
	return got, nil
}

// send sends the member changes in batches, removes first, so a repaired duplicate is removed before
// it is added back once. It reports whether every batch went through.
func (r *memberRun) send(ctx context.Context, g *groupMembers, mc plan.MemberChange) bool {
	s, rep, grp := r.s, r.rep, g.grp
	for _, step := range []struct {
		verb  string
		ids   []string
		count *int
	}{{"remove", mc.Remove, &rep.MembersRemoved}, {"add", mc.Add, &rep.MembersAdded}} {
		for _, batch := range chunks(step.ids, s.BatchSize) {
			send, prop := s.Target.AddMembers, store.Property{Name: "members", New: g.names(batch)}
			if step.verb == "remove" {
				send, prop = s.Target.RemoveMembers, store.Property{Name: "members", Old: g.names(batch)}
			}
			if err := send(ctx, grp.TargetID, batch); err != nil {
				r.fail(g, step.verb+" members", err)
				return false
			}
			le := r.entry(grp, fmt.Sprintf("%s %d members", step.verb, len(batch)), []store.Property{prop}, nil)
			le.DurationMs = g.took(s.Now())
			r.mu.Lock()
			*step.count += len(batch)
			rep.AddLog(le)
			r.mu.Unlock()
		}
	}
	return true
}

// fail counts and logs a failed member change of the group.
func (r *memberRun) fail(g *groupMembers, op string, err error) {
	s, grp := r.s, g.grp
	s.Progress.Outcome(plan.Update, true)
	le := r.entry(grp, op, nil, err)
	le.DurationMs = g.took(s.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.AddLog(le)
	r.rep.OtherFailed++
	r.rep.Failures = append(r.rep.Failures, summary.NewFailure(summary.SubjectMembership, grp.SourceID, record.GroupName(grp), op, err.Error(), err))
	s.Log.Warn("updating group members failed", zap.String("group", grp.TargetID), zap.Error(err))
	if quarantine.IsAbort(err) && r.abort == nil {
		r.abort = err
	}
}

// memberNames names target member ids by the userName scimsync sent, else the source id, else the
// target id, sorted, for the dry-run summary.
func memberNames(tids []string, bySource map[string]string, link func(string) (store.Link, bool)) []string {
	out := make([]string, 0, len(tids))
	for _, t := range tids {
		name := t
		if src := bySource[t]; src != "" {
			name = src
			if a, ok := link(src); ok {
				name = record.UserName(a)
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
