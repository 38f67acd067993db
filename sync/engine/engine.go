// Package engine runs one provisioning cycle: read the directory, scope, map, match, plan, apply and
// record, in the order the Entra provisioning service uses (users and groups, then references).
//
// The engine knows no bytes of Graph or SCIM: it talks to the directory and the target through small
// interfaces declared here, and leaves every decision to the pure plan package.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/evaluate"
	"github.com/scimsync/scimsync/sync/match"
	"github.com/scimsync/scimsync/sync/members"
	"github.com/scimsync/scimsync/sync/pack"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/read"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// Directory reads the source tenant (see read.Directory).
type Directory = read.Directory

// Scope values of Options.Scope.
const (
	ScopeAssigned = "assigned"
	ScopeAll      = "all"
)

// Options configure an Engine.
type Options struct {
	Users       *mapping.Table
	UserScoping *scoping.Set
	// Groups is the group mapping table; nil when groups are not provisioned.
	Groups       *mapping.Table
	GroupScoping *scoping.Set
	// MemberBatchSize is the number of members added or removed per PATCH (default 100).
	MemberBatchSize int
	// Scope is ScopeAssigned (users assigned to the app directly or through a group) or ScopeAll.
	Scope              string
	ServicePrincipalID string
	Policy             plan.Policy
	// Concurrency bounds the SCIM requests in flight.
	Concurrency int
	// ListThreshold: when more objects than this need a matching lookup, the engine pages through the
	// target's users once instead of sending one query per object (default 50).
	ListThreshold int
	// Fingerprint identifies the mappings and scoping; a change makes the next cycle initial.
	Fingerprint string
	Env         *mapping.Env
	Logger      *zap.Logger
	Now         func() time.Time
	// Progress, when set, is told each phase as it starts and each unit done (see Phases).
	Progress Progress
	// DryRun plans without sending anything or recording state; the report lists the plan.
	DryRun bool
	// DeletionThreshold stages a cycle's disables and deletes when they are at least this many;
	// 0 switches the guard off.
	DeletionThreshold int
	// LogRetention is how long provisioning-log entries are kept (default 30 days).
	LogRetention time.Duration
	// Alerter sends the failure emails; nil when none are configured.
	Alerter Alerter
	// Job, StatePath and ConfigPath name the job in emails and the commands they suggest.
	Job, StatePath, ConfigPath string
}

// Engine runs cycles for one job.
type Engine struct {
	dir Directory
	st  store.State
	o   Options
	log *zap.Logger
	// refs are the target paths of reference-typed user mappings (the manager).
	refs   []string
	users  *objectKind
	groups *objectKind
	// members is the target's groups, for member changes; nil when groups are not provisioned.
	members Groups
	// exec sends the apply step's writes.
	exec executor
	// eval scopes and maps source objects.
	eval *evaluate.Evaluator
	// rec records what a cycle did; forCycle gives each cycle its own.
	rec *record.Recorder
}

// New returns an Engine. The store must be open for writing.
func New(dir Directory, tgt Target, st store.State, o Options) *Engine {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.ListThreshold <= 0 {
		o.ListThreshold = 50
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Scope == "" {
		o.Scope = ScopeAssigned
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MemberBatchSize <= 0 {
		o.MemberBatchSize = 100
	}
	if o.LogRetention == 0 {
		o.LogRetention = 30 * 24 * time.Hour
	}
	e := &Engine{dir: dir, st: st, o: o, log: o.Logger}
	e.exec = batched{e}
	e.eval = evaluate.New(o.Users, o.UserScoping, o.Groups, o.GroupScoping, o.Env)
	e.rec = record.New(st, o.Now, e.log, o.DryRun)
	e.refs = e.eval.RefPaths()
	e.users = e.userKind(tgt.Users)
	if o.Groups != nil {
		if tgt.Groups != nil {
			e.groups, e.members = e.groupKind(tgt.Groups), tgt.Groups
		} else {
			e.log.Warn("the target does not support groups; group provisioning is off")
		}
	}
	return e
}

// ErrAborted wraps an error that stopped a cycle before anything was written (see read.ErrAborted).
var ErrAborted = read.ErrAborted

// Cycle runs one cycle. initial forces a full read and a full re-evaluation; otherwise the cycle is
// still initial when no watermark exists or the mappings or scoping changed since the last one.
//
// The steps, in order: read (the directory; nothing is written), evaluate and plan (scope, map, match,
// plan, guard), apply (users and groups, then memberships, then manager references), record (escrows,
// pending creates, the watermark; links are recorded as their writes succeed).
func (e *Engine) Cycle(ctx context.Context, initial bool) (*Report, error) {
	rep := &Report{CycleID: newID(), Started: e.o.Now(), Kind: summary.CycleIncremental}
	// Every line of the cycle, from any step, names it; the Graph reader's and the SCIM client's
	// through the context.
	ctx, restore := e.forCycle(ctx, rep.CycleID)
	defer restore()
	defer e.startLog(rep, nil)()
	fp, err := e.st.Fingerprint()
	if err != nil {
		return rep, fmt.Errorf("read state: %w", err)
	}
	if fp != e.o.Fingerprint {
		if fp != "" {
			e.log.Info("mappings or scoping changed since the last cycle; running an initial cycle")
		}
		initial = true
	}
	// 1. read: any error here aborts the cycle before planning, so an outage never looks like
	// mass unassignment.
	e.phase(PhaseReading, 0)
	snap, err := e.reader().Read(ctx, initial)
	if err != nil {
		return rep, err
	}
	if snap.Full {
		rep.Kind = summary.CycleInitial
	}
	rep.Read = snap.Users.Len()
	// 2-6. evaluate, match, plan, guard.
	cp, err := e.planCycle(ctx, rep, snap)
	if err != nil {
		return rep, err
	}
	if e.o.DryRun {
		return rep, e.dryRun(ctx, rep, cp)
	}
	// 7. apply: users and groups, then memberships, then manager references, so every reference
	// points at an object that already exists in the target.
	if err := e.applyCycle(ctx, rep, cp); err != nil {
		return rep, err
	}
	// 8. record what the cycle settled and what it read.
	if err := e.recordCycle(rep, cp); err != nil {
		return rep, err
	}
	rep.Finished = e.o.Now()
	return rep, nil
}

// cyclePlan is what the evaluate and plan steps hand to the apply and record steps, and what the
// apply step adds for the record step.
type cyclePlan struct {
	snap *read.Snapshot
	// objs are the evaluated users until they are planned; ids what the later steps need of them.
	objs    []plan.Object
	ids     pack.IDs
	refs    userRefs
	links   map[string]store.Link
	changes []plan.Change
	// groups is nil when groups are not provisioned.
	groups *groupPlan
	// changed is what applying the users changed; refsLinked the users whose manager was settled.
	changed    applied
	refsLinked []string
}

// planCycle evaluates (scopes and maps) the objects read, matches the unlinked ones, plans every
// change and guards against mass deletion.
func (e *Engine) planCycle(ctx context.Context, rep *Report, snap *read.Snapshot) (*cyclePlan, error) {
	cp := &cyclePlan{snap: snap}
	// The evaluated objects hold all a later step needs of the users read: the directory's objects
	// go as they are evaluated instead of staying for the whole cycle (at 100,000 users, a third of
	// its memory).
	nUsers := snap.Users.Len()
	sameCreate := !e.o.Users.CreateDiffers()
	cp.objs, cp.refs = e.eval.Drain(&snap.Users, snap.Assigned, snap.Roles, snap.Full,
		func(part []plan.Object) {
			for i := range part {
				part[i].MatchKeys = match.Keys(e.users.matchOrder, part[i].Values)
			}
			pack.Objects(part, sameCreate)
		})
	snap.Users = directory.UserList{}
	// Links are read packed, no value decoded into a map: the planner unpacks a part's links while it
	// plans it, and the later steps read the few values they need through store.LinkValue. A dry run
	// reads them whole.
	links, missing, err := e.loadLinks(snap, cp.objs, cp.refs, !e.o.DryRun)
	if err != nil {
		return nil, err
	}
	cp.links = links
	cp.objs = append(cp.objs, e.eval.Missing(missing)...)
	markPending(cp.objs, store.KindUser, snap.Pending)
	e.log.Info("read the directory", zap.String("cycleKind", rep.Kind), zap.Int("users", nUsers),
		zap.Int("gone", len(missing)), zap.Int("groups", len(snap.Groups)))
	e.phase(PhaseMatching, len(cp.objs))
	if cp.changes, err = e.planKind(ctx, e.users, cp.objs, links, cp.refs, !e.o.DryRun); err != nil {
		return nil, e.fatal(rep, err)
	}
	e.done(len(cp.objs))
	cp.ids, cp.objs = pack.IDsOf(cp.objs), nil
	if e.groups != nil {
		if cp.groups, err = e.planGroups(ctx, snap); err != nil {
			return nil, e.fatal(rep, err)
		}
	}
	// The deletion threshold holds back mass disables and deletes.
	if err := e.guard(rep, cp.changes, cp.groups); err != nil {
		return nil, err
	}
	return cp, nil
}

// dryRun lists the plan in the report, member changes included, and sends nothing.
func (e *Engine) dryRun(ctx context.Context, rep *Report, cp *cyclePlan) error {
	countPlanned(rep, &rep.Counts, cp.changes)
	if gp := cp.groups; gp != nil {
		countPlanned(rep, &rep.Groups, gp.changes)
		users, changed := members.DryLinks(cp.changes, cp.links)
		if _, err := e.syncMembers(ctx, rep, cp.snap, gp, users, applied{changed: changed, created: map[string]bool{}, moved: map[string]bool{}}); err != nil {
			return err
		}
		sort.Slice(rep.PlannedMembers, func(i, j int) bool { return rep.PlannedMembers[i].Group < rep.PlannedMembers[j].Group })
	}
	rep.Finished = e.o.Now()
	return nil
}

// applyCycle sends the planned changes: users and groups, then memberships, then manager references.
func (e *Engine) applyCycle(ctx context.Context, rep *Report, cp *cyclePlan) error {
	// The changes are the apply step's alone from here: it lets go of each wave once it is sent.
	changes := cp.changes
	cp.changes = nil
	var err error
	if cp.changed, err = e.apply(ctx, e.users, rep, &rep.Counts, changes, cp.refs, cp.links); err != nil {
		return err
	}
	if gp := cp.groups; gp != nil {
		gch := gp.changes
		gp.changes = nil // apply takes them over
		ga, err := e.apply(ctx, e.groups, rep, &rep.Groups, gch, nil, gp.links)
		if err != nil {
			return err
		}
		gp.created, gp.linked = ga.created, ga.settled
		if gp.settled, err = e.syncMembers(ctx, rep, cp.snap, gp, cp.links, cp.changed); err != nil {
			return err
		}
	}
	cp.refsLinked, err = e.linkReferences(ctx, rep, cp.ids.All, cp.links, cp.snap.Full || cp.changed.linked > 0, cp.snap.Full)
	return err
}

// recordCycle records the escrows and pending creates the cycle settled, then what it read.
func (e *Engine) recordCycle(rep *Report, cp *cyclePlan) error {
	if err := e.recordEscrows(rep, store.KindUser, cp.snap.Expired, cp.ids.All, cp.refsLinked...); err != nil {
		return err
	}
	if err := e.settlePending(rep, store.KindUser, cp.ids.Pending, cp.changed.settled); err != nil {
		return err
	}
	if gp := cp.groups; gp != nil {
		ids := pack.IDsOf(gp.objs)
		if err := e.recordEscrows(rep, store.KindGroup, cp.snap.Expired, ids.All, gp.settled...); err != nil {
			return err
		}
		if err := e.settlePending(rep, store.KindGroup, ids.Pending, gp.linked); err != nil {
			return err
		}
	}
	return e.commit(cp.snap)
}

// The operations the deletion threshold stages (store.StagedOp.Op).
const (
	stagedDisable = "disable"
	stagedDelete  = "delete"
)

// guard stages the cycle's disables and deletes instead of sending them when there are at least
// DeletionThreshold of them (Entra's accidental-deletions prevention): they wait for
// `scimsync allow-deletes`, and the job is quarantined with reason TooManyDeletes.
func (e *Engine) guard(rep *Report, users []plan.Change, gp *groupPlan) error {
	var groups []plan.Change
	if gp != nil {
		groups = gp.changes
	}
	held := plan.Guard(e.o.DeletionThreshold, users, groups)
	if held == 0 {
		return nil
	}
	now := e.o.Now()
	ops := make([]store.StagedOp, 0, held)
	stage := func(kind store.Kind, list []plan.Change) {
		for _, c := range list {
			if !c.Staged() {
				continue
			}
			op := stagedDisable
			if c.Held == plan.Delete {
				op = stagedDelete
			}
			ops = append(ops, store.StagedOp{Kind: kind, SourceID: c.SourceID, TargetID: c.TargetID, Op: op, Unmanage: c.Unmanage, StagedAt: now})
		}
	}
	stage(store.KindUser, users)
	stage(store.KindGroup, groups)
	e.log.Warn("deletion threshold reached: disables and deletes are staged, not sent",
		zap.Int("count", held), zap.Int("threshold", e.o.DeletionThreshold))
	rep.Staged = held
	return e.rec.Stage(ops)
}

// startLog sends the report's provisioning-log entries to the state a batch at a time (and to also,
// when set), instead of holding them until the cycle ends; the returned func appends what is left
// and prunes entries past the retention.
func (e *Engine) startLog(rep *Report, also func(store.LogEntry)) (finish func()) {
	w := e.rec.LogWriter(0)
	rep.LogTo(w.Tee(also))
	return func() { w.Close(e.o.LogRetention) }
}

// reader is the read step of a cycle, with the engine's directory and read-only state.
func (e *Engine) reader() *read.Reader {
	r := &read.Reader{Dir: e.dir, State: e.st, UserAttrs: read.WithFilterAttributes(e.o.Users.Attributes(), e.o.UserScoping),
		Assigned: e.o.Scope == ScopeAssigned, ServicePrincipalID: e.o.ServicePrincipalID,
		Groups: e.groups != nil, Managers: len(e.refs) > 0, Now: e.o.Now, Log: e.log}
	if e.o.Groups != nil {
		r.GroupAttrs = read.WithFilterAttributes(e.o.Groups.Attributes(), e.o.GroupScoping)
	}
	return r
}

// forCycle makes every log line and state write of the engine name the cycle until restore is called.
func (e *Engine) forCycle(ctx context.Context, cycleID string) (_ context.Context, restore func()) {
	prevLog, prevRec := e.log, e.rec
	e.log = e.log.With(zap.String("cycle", cycleID))
	e.rec = record.New(e.st, e.o.Now, e.log, e.o.DryRun)
	return logctx.With(ctx, zap.String("cycle", cycleID)), func() { e.log, e.rec = prevLog, prevRec }
}

// fatal records a credentials or compliance failure met while matching as the cycle's fatal error.
func (e *Engine) fatal(rep *Report, err error) error {
	if quarantine.IsFatal(err) && rep.Fatal == nil {
		rep.Fatal = err
		return fmt.Errorf("matching stopped: %w", err)
	}
	return err
}

// planKind matches the objects that have no link and plans every change, planChunk objects at a
// time, so values unpacked for planning (sync/pack) are held for one part only; the matching decides
// once for all parts (one listing of the target, or one query per object). With slim, each part's
// objects keep only what later steps read (pack.KeepIDs) and the changes to send are packed.
func (e *Engine) planKind(ctx context.Context, k *objectKind, objs []plan.Object, links map[string]store.Link, refs userRefs, slim bool) ([]plan.Change, error) {
	planLinks := make(map[string]plan.Link, len(links))
	for id, a := range links {
		planLinks[id] = plan.Link{TargetID: a.TargetID, Managed: a.Managed, Values: a.Values, Hash: a.Hash}
	}
	m := e.matcher(k)
	sess, err := m.Start(ctx, m.Need(objs, planLinks), m.Wanted(objs, planLinks))
	if err != nil {
		return nil, matchErr(err)
	}
	changes := make([]plan.Change, 0, len(objs))
	for start := 0; start < len(objs); start += planChunk {
		part := objs[start:min(start+planChunk, len(objs))]
		unpacked := pack.UnpackObjects(part)
		if refs != nil {
			e.resolveCreateRefs(part, refs, links)
		}
		lookups, err := sess.Match(ctx, part, planLinks)
		if err != nil {
			return nil, matchErr(err)
		}
		unpackedLinks, err := pack.Links(part, links, planLinks)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAborted, err)
		}
		planned := plan.Plan(plan.Input{Objects: part, Links: planLinks, Lookups: lookups, Policy: k.policy})
		for _, id := range unpackedLinks {
			l := planLinks[id]
			l.Values = nil // the part is planned: its values go again
			planLinks[id] = l
		}
		record.NameDeleted(k.store, planned, links)
		if slim {
			pack.KeepIDs(part)
			pack.Changes(planned, unpacked)
			pack.DropUnchanged(planned, planLinks)
		}
		changes = append(changes, planned...)
	}
	return changes, nil
}

// planChunk is how many objects planKind plans at a time (a variable so tests can put part
// boundaries anywhere).
var planChunk = 4096

// markPending flags the objects whose create was sent without a recorded answer (plan.Object.Pending).
func markPending(objs []plan.Object, kind store.Kind, pending map[string]bool) {
	if len(pending) == 0 {
		return
	}
	for i := range objs {
		objs[i].Pending = pending[record.PendingKey(kind, objs[i].SourceID)]
	}
}

// countPlanned fills a dry-run report from the plan without sending anything.
func countPlanned(rep *Report, c *Counts, changes []plan.Change) {
	for _, ch := range changes {
		c.Add(ch.Op, ch.Failed)
		if ch.Failed {
			rep.Failures = append(rep.Failures, summary.NewFailure(summary.SubjectUser, ch.SourceID, ch.Identity, "Match", ch.Reason, nil))
		}
		rep.Planned = append(rep.Planned, ch)
	}
}

// commit records what the cycle read, only after everything it planned was applied: the watermark
// never moves past changes that were not provisioned.
func (e *Engine) commit(snap *read.Snapshot) error {
	rd := record.Read{GroupsRead: snap.GroupsRead, Members: snap.MembersPut, MembersGone: snap.MembersDel,
		MembersReplace: snap.Full || snap.GroupsFull, Watermarks: map[string]string{"users": snap.UserLink},
		Fingerprint: e.o.Fingerprint}
	if snap.Assigned != nil {
		rd.Assignments = map[string][]string{"users": read.SortedKeys(snap.Assigned), "groups": read.SortedKeys(snap.AssignedGroups),
			"roles": read.RoleEntries(snap.Roles)}
	}
	if snap.GroupsRead {
		rd.Watermarks["groups"] = snap.GroupLink
	}
	return e.rec.Commit(rd)
}

// loadLinks reads the stored user links the cycle needs (see read.Links): those of the evaluated
// users and of the managers they name; after a full round, all.
func (e *Engine) loadLinks(snap *read.Snapshot, objs []plan.Object, refs userRefs, packed bool) (map[string]store.Link, []string, error) {
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		ids = append(ids, o.SourceID)
		for _, src := range refs[o.SourceID] {
			if !snap.Full && src != "" {
				ids = append(ids, src)
			}
		}
	}
	return read.Links(e.st, snap, ids, packed)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
