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
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// Directory reads the source tenant. graph.Reader implements it; tests use graphapi or a fake.
type Directory interface {
	// Users runs a users delta round: a full one when deltaLink is empty.
	Users(ctx context.Context, attrs []string, deltaLink string) (*directory.UserRound, error)
	// UsersByID reads specific users (who entered or left the assignment scope without changing
	// themselves); ids not found are left out.
	UsersByID(ctx context.Context, attrs []string, ids []string) ([]directory.User, error)
	// Groups runs a groups delta round with members.
	Groups(ctx context.Context, attrs []string, deltaLink string) (*directory.GroupRound, error)
	AppRoleAssignedTo(ctx context.Context, servicePrincipalID string) ([]directory.Assignment, error)
}

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
	for _, m := range o.Users.Mappings {
		if m.Type == mapping.TypeReference {
			e.refs = append(e.refs, m.Target)
		}
	}
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

// Counts are the outcomes of one object type in a cycle. Adopted counts the objects matched
// (plan.Adopt), which is what every output calls them.
type Counts struct {
	Created, Adopted, Updated, Disabled, Deleted, Unchanged, Skipped, Failed int
}

// add counts one planned or applied change.
func (c *Counts) add(op plan.Op, failed bool) {
	switch {
	case failed:
		c.Failed++
	case op == plan.Create:
		c.Created++
	case op == plan.Adopt:
		c.Adopted++
	case op == plan.Update:
		c.Updated++
	case op == plan.Disable:
		c.Disabled++
	case op == plan.Delete:
		c.Deleted++
	case op == plan.Unchanged:
		c.Unchanged++
	default:
		c.Skipped++
	}
}

// Report summarises one cycle for the CLI, the status command and the failure email.
type Report struct {
	CycleID  string
	Kind     string
	Started  time.Time
	Finished time.Time
	// Counts are the users' outcomes (TotalFailed adds the groups', memberships' and managers').
	Counts
	// Groups are the groups' outcomes.
	Groups Counts
	// MembersAdded and MembersRemoved count group memberships changed in the target.
	MembersAdded, MembersRemoved int
	// OtherFailed counts failed membership and manager updates.
	OtherFailed int
	// Staged counts the disables and deletes the deletion threshold held back in this cycle.
	Staged int
	// Fatal is the credentials or compliance failure that stopped the cycle early, if any.
	Fatal error
	// logs are the provisioning-log entries of the cycle, written when it ends.
	logs []store.LogEntry
	// Failures lists the objects that failed, with their errors (all of them).
	Failures []Failure
	// Read is the number of source users read.
	Read int
	// Linked counts manager references set or cleared.
	Linked int
	// Escrowed is the number of objects waiting in escrow after the cycle.
	Escrowed int
	// Planned holds the plan of a dry run.
	Planned []plan.Change
	// PlannedMembers holds the member changes of a dry run, by group (counted in MembersAdded and
	// MembersRemoved).
	PlannedMembers []MemberChange
}

// Failure is one object that could not be provisioned in a cycle.
type Failure struct {
	// Kind is "user", "group", "membership" or "manager".
	Kind     string
	SourceID string
	Identity string
	Op       string
	Err      string
	err      error
}

// Cause returns the error behind the failure, for classification (nil for plan-level failures).
func (f Failure) Cause() error { return f.err }

// TotalFailed is every failure of the cycle: users, groups, memberships and manager links.
func (r *Report) TotalFailed() int { return r.Failed + r.Groups.Failed + r.OtherFailed }

// Writes is the number of objects changed in the target.
func (r *Report) Writes() int {
	return r.Created + r.Adopted + r.Updated + r.Disabled + r.Deleted + r.Groups.Created + r.Groups.Adopted +
		r.Groups.Updated + r.Groups.Deleted + r.MembersAdded + r.MembersRemoved
}

// ErrAborted wraps an error that stopped a cycle before anything was written (a Graph outage, an
// incomplete page): nothing was planned, so nothing can be wrongly disabled.
var ErrAborted = errors.New("cycle aborted before any change was sent")

// Cycle runs one cycle. initial forces a full read and a full re-evaluation; otherwise the cycle is
// still initial when no watermark exists or the mappings or scoping changed since the last one.
func (e *Engine) Cycle(ctx context.Context, initial bool) (*Report, error) {
	rep := &Report{CycleID: newID(), Started: e.o.Now(), Kind: "incremental"}
	log := e.log.With(zap.String("cycle", rep.CycleID))
	// Every line of the cycle, from any step, names it; the Graph reader's and the SCIM client's
	// through the context.
	ctx = logctx.With(ctx, zap.String("cycle", rep.CycleID))
	prevLog := e.log
	e.log = log
	defer func() { e.log = prevLog }()
	defer e.flushLogs(rep)
	fp, err := e.st.Fingerprint()
	if err != nil {
		return rep, fmt.Errorf("read state: %w", err)
	}
	if fp != e.o.Fingerprint {
		if fp != "" {
			log.Info("mappings or scoping changed since the last cycle; running an initial cycle")
		}
		initial = true
	}

	// 1. read: any error here aborts the cycle before planning, so an outage never looks like
	// mass unassignment.
	e.phase(PhaseReading, 0)
	snap, err := e.read(ctx, initial)
	if err != nil {
		return rep, err
	}
	if snap.full {
		rep.Kind = "initial"
	}
	rep.Read = len(snap.users)

	// 2-5. users: scope, map, match, plan.
	objs, refs := e.mapUsers(e.users, snap.users, snap.assigned, snap.roles, snap.full)
	links, missing, err := e.loadLinks(snap, objs, refs)
	if err != nil {
		return rep, err
	}
	objs = append(objs, e.missingUsers(e.users, missing)...)
	markPending(objs, store.KindUser, snap.pending)
	log.Info("read the directory", zap.String("cycleKind", rep.Kind), zap.Int("users", len(snap.users)),
		zap.Int("gone", len(missing)), zap.Int("groups", len(snap.groups)))
	e.phase(PhaseMatching, len(objs))
	changes, err := e.planKind(ctx, e.users, objs, links, refs)
	if err != nil {
		return rep, e.fatal(rep, err)
	}
	e.done(len(objs))
	var gp *groupPlan
	if e.groups != nil {
		if gp, err = e.planGroups(ctx, snap); err != nil {
			return rep, e.fatal(rep, err)
		}
	}
	// 6. guard: the deletion threshold holds back mass disables and deletes.
	if err := e.guard(rep, changes, gp); err != nil {
		return rep, err
	}
	if e.o.DryRun {
		countPlanned(rep, &rep.Counts, changes)
		if gp != nil {
			countPlanned(rep, &rep.Groups, gp.changes)
			users, changed := dryLinks(changes, links)
			if _, err := e.syncMembers(ctx, rep, snap, gp, users, changed); err != nil {
				return rep, err
			}
			sort.Slice(rep.PlannedMembers, func(i, j int) bool { return rep.PlannedMembers[i].Group < rep.PlannedMembers[j].Group })
		}
		rep.Finished = e.o.Now()
		return rep, nil
	}

	// 7-8. apply and record: users and groups, then memberships, then manager references, so every
	// reference points at an object that already exists in the target.
	changed, err := e.apply(ctx, e.users, rep, &rep.Counts, changes, refs, links)
	if err != nil {
		return rep, err
	}
	if gp != nil {
		ga, err := e.apply(ctx, e.groups, rep, &rep.Groups, gp.changes, nil, gp.links)
		if err != nil {
			return rep, err
		}
		gp.created, gp.linked = ga.created, ga.settled
		settled, err := e.syncMembers(ctx, rep, snap, gp, links, changed)
		if err != nil {
			return rep, err
		}
		gp.settled = settled
	}
	linkedRefs, err := e.linkReferences(ctx, rep, objs, links, snap.full || changed.linked > 0, snap.full)
	if err != nil {
		return rep, err
	}
	if err := e.recordEscrows(rep, store.KindUser, objs, linkedRefs...); err != nil {
		return rep, err
	}
	if err := e.settlePending(rep, store.KindUser, objs, changed.settled); err != nil {
		return rep, err
	}
	if gp != nil {
		if err := e.recordEscrows(rep, store.KindGroup, gp.objs, gp.settled...); err != nil {
			return rep, err
		}
		if err := e.settlePending(rep, store.KindGroup, gp.objs, gp.linked); err != nil {
			return rep, err
		}
	}
	if err := e.commit(snap); err != nil {
		return rep, err
	}
	rep.Finished = e.o.Now()
	return rep, nil
}

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
			op := "disable"
			if c.Held == plan.Delete {
				op = "delete"
			}
			ops = append(ops, store.StagedOp{Kind: kind, SourceID: c.SourceID, TargetID: c.TargetID, Op: op, Unmanage: c.Unmanage, StagedAt: now})
		}
	}
	stage(store.KindUser, users)
	stage(store.KindGroup, groups)
	e.log.Warn("deletion threshold reached: disables and deletes are staged, not sent",
		zap.Int("count", held), zap.Int("threshold", e.o.DeletionThreshold))
	rep.Staged = held
	if e.o.DryRun {
		return nil
	}
	if err := e.st.StageOps(ops...); err != nil {
		return fmt.Errorf("stage deletions: %w", err)
	}
	return nil
}

// flushLogs writes the cycle's provisioning-log entries and prunes entries past the retention.
func (e *Engine) flushLogs(rep *Report) {
	if e.o.DryRun {
		return
	}
	if len(rep.logs) > 0 {
		if err := e.st.AppendLog(rep.logs...); err != nil {
			e.log.Error("writing the provisioning log failed", zap.Error(err))
		}
	}
	if e.o.LogRetention > 0 {
		if _, err := e.st.PruneLog(e.o.Now().Add(-e.o.LogRetention)); err != nil {
			e.log.Error("pruning the provisioning log failed", zap.Error(err))
		}
	}
}

// fatal records a credentials or compliance failure met while matching as the cycle's fatal error.
func (e *Engine) fatal(rep *Report, err error) error {
	if quarantine.IsFatal(err) && rep.Fatal == nil {
		rep.Fatal = err
		return fmt.Errorf("matching stopped: %w", err)
	}
	return err
}

// planKind matches the objects that have no link and plans every change.
func (e *Engine) planKind(ctx context.Context, k *objectKind, objs []plan.Object, links map[string]store.Anchor, refs userRefs) ([]plan.Change, error) {
	planLinks := make(map[string]plan.Link, len(links))
	for id, a := range links {
		planLinks[id] = plan.Link{TargetID: a.TargetID, Managed: a.Managed, Values: a.Values, Hash: a.Hash}
	}
	if refs != nil {
		e.resolveCreateRefs(objs, refs, links)
	}
	lookups, err := e.match(ctx, k, objs, planLinks)
	if err != nil {
		return nil, err
	}
	changes := plan.Plan(plan.Input{Objects: objs, Links: planLinks, Lookups: lookups, Policy: k.policy})
	// A deleted object arrives as a bare id: name it in logs and emails by what it was sent as.
	for i := range changes {
		if c := &changes[i]; c.Identity == c.SourceID {
			if a, ok := links[c.SourceID]; ok {
				if k.store == store.KindGroup {
					c.Identity = groupName(a)
				} else {
					c.Identity = userName(a)
				}
			}
		}
	}
	return changes, nil
}

// markPending flags the objects whose create was sent without a recorded answer (plan.Object.Pending).
func markPending(objs []plan.Object, kind store.Kind, pending map[string]bool) {
	if len(pending) == 0 {
		return
	}
	for i := range objs {
		objs[i].Pending = pending[pendingKey(kind, objs[i].SourceID)]
	}
}

// countPlanned fills a dry-run report from the plan without sending anything.
func countPlanned(rep *Report, c *Counts, changes []plan.Change) {
	for _, ch := range changes {
		c.add(ch.Op, ch.Failed)
		if ch.Failed {
			rep.Failures = append(rep.Failures, Failure{SourceID: ch.SourceID, Identity: ch.Identity, Kind: "user", Op: "Match", Err: ch.Reason})
		}
		rep.Planned = append(rep.Planned, ch)
	}
}

// dryLinks is what the user links would be after the planned changes, so a dry run plans the member
// changes the real cycle would send: disabled and deleted users leave their groups, re-enabled and
// matched users join them. A user the cycle would create has no target id yet; the real cycle adds it
// to its groups once it exists.
func dryLinks(changes []plan.Change, links map[string]store.Anchor) (map[string]store.Anchor, applied) {
	out := make(map[string]store.Anchor, len(links))
	for id, a := range links {
		out[id] = a
	}
	ch := applied{changed: map[string]bool{}, created: map[string]bool{}, moved: map[string]bool{}}
	for _, c := range changes {
		a, had := out[c.SourceID]
		switch {
		case c.Op == plan.Adopt:
			out[c.SourceID] = store.Anchor{Kind: store.KindUser, SourceID: c.SourceID, TargetID: c.TargetID, Managed: !c.Unmanage, Values: c.Values}
		case c.Op == plan.Disable && had:
			a.Disabled = true
			out[c.SourceID] = a
		case c.Op == plan.Delete:
			out[c.SourceID] = store.Anchor{Kind: store.KindUser, SourceID: c.SourceID}
		case c.Op == plan.Update && had && a.Disabled:
			a.Disabled = false
			out[c.SourceID] = a
		default:
			continue
		}
		ch.changed[c.SourceID] = true
	}
	return out, ch
}

// commit records what the cycle read, only after everything it planned was applied: the watermark
// never moves past changes that were not provisioned.
func (e *Engine) commit(snap *snapshot) error {
	if snap.groupsRead {
		if err := e.st.PutSets(store.SetGroupMembers, snap.membersPut, snap.membersDel, snap.full || snap.groupsFull); err != nil {
			return fmt.Errorf("save group members: %w", err)
		}
	}
	if snap.assigned != nil {
		sets := map[string][]string{"users": sortedKeys(snap.assigned), "groups": sortedKeys(snap.assignedGroups),
			"roles": roleEntries(snap.roles)}
		if err := e.st.PutSets(store.SetAssignments, sets, nil, true); err != nil {
			return fmt.Errorf("save assignments: %w", err)
		}
	}
	marks := map[string]string{"users": snap.userLink}
	if snap.groupsRead {
		marks["groups"] = snap.groupLink
	}
	if err := e.st.SetWatermarks(marks); err != nil {
		return fmt.Errorf("save watermark: %w", err)
	}
	if err := e.st.SetFingerprint(e.o.Fingerprint); err != nil {
		return fmt.Errorf("save fingerprint: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadLinks reads the stored links the cycle needs: all of them after a full round (and the linked
// users the round no longer returned), otherwise only those of the evaluated users and their managers,
// so that a quiet incremental cycle costs little even with 100,000 linked users.
func (e *Engine) loadLinks(snap *snapshot, objs []plan.Object, refs userRefs) (map[string]store.Anchor, []string, error) {
	if snap.full {
		links, err := e.st.Anchors(store.KindUser)
		if err != nil {
			return nil, nil, fmt.Errorf("read state: %w", err)
		}
		seen := make(map[string]bool, len(snap.users))
		for _, u := range snap.users {
			seen[u.ID] = true
		}
		var missing []string
		for id, a := range links {
			if a.Managed && !seen[id] {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		return links, missing, nil
	}
	links := make(map[string]store.Anchor, len(objs))
	load := func(id string) error {
		if _, done := links[id]; done || id == "" {
			return nil
		}
		a, ok, err := e.st.Anchor(store.KindUser, id)
		if err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		if ok {
			links[id] = a
		}
		return nil
	}
	for _, o := range objs {
		if err := load(o.SourceID); err != nil {
			return nil, nil, err
		}
		for _, src := range refs[o.SourceID] {
			if err := load(src); err != nil {
				return nil, nil, err
			}
		}
	}
	return links, nil, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
