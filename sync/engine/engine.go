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
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scoping"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// Directory reads the source tenant. graph.Reader implements it; tests use graphtest or a fake.
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

// UserFinder looks up target accounts for matching.
type UserFinder interface {
	FindUsers(ctx context.Context, attrPath, value string) ([]scimclient.Resource, error)
	ListUsers(ctx context.Context, pageSize int, fn func(scimclient.Resource) error) error
}

// UserWriter changes target accounts.
type UserWriter interface {
	CreateUser(ctx context.Context, r scimclient.Resource) (scimclient.Resource, error)
	PatchUser(ctx context.Context, id string, ops []scimclient.PatchOp) error
	DeleteUser(ctx context.Context, id string) error
}

// Target is the SCIM side the engine needs; *scimclient.Client implements it.
type Target interface {
	UserFinder
	UserWriter
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
	// Scope is ScopeAssigned (users assigned to the app directly or through a group) or ScopeAll.
	Scope              string
	ServicePrincipalID string
	Policy             plan.Policy
	// PatchMode selects Entra's default PATCH shapes or the aadOptscim062020 ones.
	PatchMode scimclient.Mode
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
	// Progress, when set, is told how many objects the apply phase will process and each one done.
	Progress Progress
	// DryRun plans without sending anything or recording state; the report lists the plan.
	DryRun bool
}

// Progress receives progress of the apply phase (a terminal progress bar, metrics).
type Progress interface {
	Start(phase string, total int)
	Done(n int)
}

// Engine runs cycles for one job.
type Engine struct {
	dir   Directory
	tgt   Target
	st    *store.Store
	o     Options
	log   *zap.Logger
	refs  []string // target paths of reference-typed user mappings (manager)
	types map[string]mapping.TargetType
}

// New returns an Engine. The store must be open for writing.
func New(dir Directory, tgt Target, st *store.Store, o Options) *Engine {
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
	e := &Engine{dir: dir, tgt: tgt, st: st, o: o, log: o.Logger, types: map[string]mapping.TargetType{}}
	for _, m := range o.Users.Mappings {
		e.types[m.Target] = m.Type
		if m.Type == mapping.TypeReference {
			e.refs = append(e.refs, m.Target)
		}
		if m.Target == "active" || strings.HasSuffix(strings.ToLower(m.Target), ":active") {
			e.o.Policy.Active = m.Target
		}
	}
	if e.o.Policy.CaseExact == nil {
		caseExact := map[string]bool{}
		for _, m := range o.Users.Mappings {
			caseExact[m.Target] = m.CaseExact
		}
		e.o.Policy.CaseExact = func(p string) bool { return caseExact[p] }
	}
	return e
}

// Report summarises one cycle for the CLI, the status command and the failure email.
type Report struct {
	CycleID  string
	Kind     string
	Started  time.Time
	Finished time.Time
	// Counts by outcome.
	Created, Adopted, Updated, Disabled, Deleted, Unchanged, Skipped, Failed int
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
}

// Failure is one object that could not be provisioned in a cycle.
type Failure struct {
	SourceID string
	Identity string
	Op       string
	Err      string
	err      error
}

// Cause returns the error behind the failure, for classification (nil for plan-level failures).
func (f Failure) Cause() error { return f.err }

// Writes is the number of objects changed in the target.
func (r *Report) Writes() int { return r.Created + r.Adopted + r.Updated + r.Disabled + r.Deleted }

// ErrAborted wraps an error that stopped a cycle before anything was written (a Graph outage, an
// incomplete page): nothing was planned, so nothing can be wrongly disabled.
var ErrAborted = errors.New("cycle aborted before any change was sent")

// Cycle runs one cycle. initial forces a full read and a full re-evaluation; otherwise the cycle is
// still initial when no watermark exists or the mappings or scoping changed since the last one.
func (e *Engine) Cycle(ctx context.Context, initial bool) (*Report, error) {
	rep := &Report{CycleID: newID(), Started: e.o.Now(), Kind: "incremental"}
	log := e.log.With(zap.String("cycle", rep.CycleID))
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
	snap, err := e.read(ctx, initial)
	if err != nil {
		return rep, err
	}
	if snap.full {
		rep.Kind = "initial"
	}
	rep.Read = len(snap.users)

	// 2-3. scope and map.
	objs, refs := e.mapUsers(snap.users, snap.assigned, snap.full)
	links, missing, err := e.loadLinks(snap, objs, refs)
	if err != nil {
		return rep, err
	}
	objs = append(objs, e.missingUsers(missing)...)
	log.Info("read the directory", zap.String("kind", rep.Kind), zap.Int("users", len(snap.users)),
		zap.Int("gone", len(missing)))

	// 4. match: look up unlinked objects in the target.
	planLinks := make(map[string]plan.Link, len(links))
	for id, a := range links {
		planLinks[id] = plan.Link{TargetID: a.TargetID, Managed: a.Managed, Values: a.Values, Hash: a.Hash}
	}
	e.resolveCreateRefs(objs, refs, links)
	lookups, err := e.match(ctx, objs, planLinks)
	if err != nil {
		return rep, err
	}

	// 5. plan.
	changes := plan.Plan(plan.Input{Objects: objs, Links: planLinks, Lookups: lookups, Policy: e.o.Policy})
	if e.o.DryRun {
		e.countPlanned(rep, changes)
		rep.Finished = e.o.Now()
		return rep, nil
	}

	// 6-8. apply and record, then references once every user exists.
	linked, err := e.apply(ctx, rep, changes, refs, links)
	if err != nil {
		return rep, err
	}
	if err := e.linkReferences(ctx, rep, objs, links, snap.full || linked > 0); err != nil {
		return rep, err
	}
	if err := e.recordEscrows(rep, objs); err != nil {
		return rep, err
	}
	if err := e.commit(snap); err != nil {
		return rep, err
	}
	rep.Finished = e.o.Now()
	return rep, nil
}

// countPlanned fills a dry-run report from the plan without sending anything.
func (e *Engine) countPlanned(rep *Report, changes []plan.Change) {
	for _, c := range changes {
		switch c.Op {
		case plan.Create:
			rep.Created++
		case plan.Adopt:
			rep.Adopted++
		case plan.Update:
			rep.Updated++
		case plan.Disable:
			rep.Disabled++
		case plan.Delete:
			rep.Deleted++
		case plan.Unchanged:
			rep.Unchanged++
		case plan.Skip:
			if c.Failed {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{SourceID: c.SourceID, Identity: c.Identity, Op: "match", Err: c.Reason})
			} else {
				rep.Skipped++
			}
		}
		rep.Planned = append(rep.Planned, c)
	}
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
		if err := e.st.PutSets(store.SetAssignments, map[string][]string{"users": sortedKeys(snap.assigned)}, nil, true); err != nil {
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
func (e *Engine) mapUsers(users []directory.User, assigned map[string]bool, full bool) ([]plan.Object, userRefs) {
	objs := make([]plan.Object, 0, len(users))
	refs := userRefs{}
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
		o.Enabled = enabled && u.Removed == directory.NotRemoved
		o.InScope, o.ScopeReason = true, "assigned and passed the scoping filters"
		switch {
		case u.Removed == directory.SoftDeleted:
			o.InScope, o.ScopeReason = false, "soft-deleted in the directory"
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
		if _, ok := computed["objectId"]; !ok {
			computed["objectId"] = mapping.Str(u.ID)
		}
		upd, err := e.o.Users.Evaluate(computed, e.o.Env, false)
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
			objs = append(objs, o)
			continue
		}
		crt, err := e.o.Users.Evaluate(computed, e.o.Env, true)
		if err != nil {
			o.Err = fmt.Errorf("evaluate mappings for %s: %w", o.Identity, err)
			objs = append(objs, o)
			continue
		}
		var r map[string]string
		o.Values, r = e.export(upd.Values)
		o.CreateValues, _ = e.export(crt.Values)
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

// export turns mapped Values into the JSON-able values the target receives, and splits off the
// reference attributes (which carry source ids until resolved).
func (e *Engine) export(vals map[string]mapping.Value) (map[string]any, map[string]string) {
	out := make(map[string]any, len(vals))
	var refs map[string]string
	for path, v := range vals {
		switch e.types[path] {
		case mapping.TypeReference:
			if refs == nil {
				refs = map[string]string{}
			}
			refs[path] = v.String()
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
	return out, refs
}

// resolveCreateRefs puts the manager's target id into the create body when the manager is already
// provisioned, which saves the separate PATCH Entra sends after every create.
func (e *Engine) resolveCreateRefs(objs []plan.Object, refs userRefs, links map[string]store.Anchor) {
	for i := range objs {
		r := refs[objs[i].SourceID]
		for path, src := range r {
			if a, ok := links[src]; ok && a.Managed && a.TargetID != "" && objs[i].CreateValues != nil {
				objs[i].CreateValues[path] = a.TargetID
			}
		}
	}
}

// match looks up, for every in-scope object without a link, target accounts by the matching
// attributes in precedence order.
func (e *Engine) match(ctx context.Context, objs []plan.Object, links map[string]plan.Link) (map[string]plan.Lookup, error) {
	var need []int
	for i, o := range objs {
		if l, ok := links[o.SourceID]; (ok && l.Managed) || !o.InScope || !o.Enabled || o.Err != nil || o.HardDeleted {
			continue
		}
		need = append(need, i)
	}
	out := make(map[string]plan.Lookup, len(need))
	if len(need) == 0 {
		return out, nil
	}
	matchOrder := e.matchPaths()
	if len(matchOrder) == 0 {
		return nil, fmt.Errorf("%w: no matching attribute is mapped", ErrAborted)
	}
	paths := e.exportPaths()
	if len(need) > e.o.ListThreshold {
		idx, err := e.indexTarget(ctx, matchOrder, paths)
		if err == nil {
			for _, i := range need {
				out[objs[i].SourceID] = idx.lookup(objs[i], matchOrder)
			}
			return out, nil
		}
		e.log.Warn("listing the target's users failed; matching one query per user instead", zap.Error(err))
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, i := range need {
		o := objs[i]
		g.Go(func() error {
			lk := e.query(gctx, o, matchOrder, paths)
			mu.Lock()
			out[o.SourceID] = lk
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// matchPaths lists the matching target paths in precedence order.
func (e *Engine) matchPaths() []string {
	type mp struct {
		prec int
		path string
	}
	var ms []mp
	for _, m := range e.o.Users.Mappings {
		if m.Matching > 0 {
			ms = append(ms, mp{m.Matching, m.Target})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].prec < ms[j].prec })
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.path
	}
	return out
}

// exportPaths lists every target path the mappings write, so a found account's values can be diffed.
func (e *Engine) exportPaths() []string {
	out := make([]string, 0, len(e.o.Users.Mappings))
	for _, m := range e.o.Users.Mappings {
		out = append(out, m.Target)
	}
	return out
}

func (e *Engine) query(ctx context.Context, o plan.Object, order, paths []string) plan.Lookup {
	for _, path := range order {
		v, ok := o.Values[path].(string)
		if !ok || v == "" {
			continue
		}
		found, err := e.tgt.FindUsers(ctx, path, v)
		if err != nil {
			return plan.Lookup{By: path, Err: fmt.Errorf("query target by %s: %w", path, err)}
		}
		if len(found) > 0 {
			return plan.Lookup{By: path, Candidates: candidates(found, paths)}
		}
	}
	return plan.Lookup{}
}

func candidates(rs []scimclient.Resource, paths []string) []plan.Candidate {
	out := make([]plan.Candidate, 0, len(rs))
	for _, r := range rs {
		out = append(out, candidate(r, paths))
	}
	return out
}

func candidate(r scimclient.Resource, paths []string) plan.Candidate {
	id, _ := r["id"].(string)
	c := plan.Candidate{TargetID: id, Values: make(map[string]any, len(paths))}
	for _, p := range paths {
		if v, ok := scimclient.ValueAt(r, p); ok && v != nil {
			c.Values[p] = v
		}
	}
	return c
}

// targetIndex is one listing of the target's users, indexed by the matching attributes.
type targetIndex map[string]map[string][]plan.Candidate

func (e *Engine) indexTarget(ctx context.Context, order, paths []string) (targetIndex, error) {
	idx := targetIndex{}
	for _, p := range order {
		idx[p] = map[string][]plan.Candidate{}
	}
	err := e.tgt.ListUsers(ctx, 500, func(r scimclient.Resource) error {
		c := candidate(r, paths)
		for _, p := range order {
			v, ok := scimclient.ValueAt(r, p)
			if s, isStr := v.(string); ok && isStr && s != "" {
				k := strings.ToLower(s)
				idx[p][k] = append(idx[p][k], c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list target users: %w", err)
	}
	return idx, nil
}

// lookup matches case-insensitively, as SCIM's caseExact=false default for userName says a target
// filter would.
func (idx targetIndex) lookup(o plan.Object, order []string) plan.Lookup {
	for _, p := range order {
		v, ok := o.Values[p].(string)
		if !ok || v == "" {
			continue
		}
		if cs := idx[p][strings.ToLower(v)]; len(cs) > 0 {
			return plan.Lookup{By: p, Candidates: cs}
		}
	}
	return plan.Lookup{}
}
