package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// applied tells later steps of the cycle what the apply step changed.
type applied struct {
	// linked counts objects newly linked (created or adopted).
	linked int
	// changed holds the source ids whose target object was created, adopted, disabled, re-enabled
	// or deleted: their group memberships need another look.
	changed map[string]bool
	// created holds the objects created in this cycle (a group created empty holds no member yet);
	// moved the users now linked to another target object than before (recreated or re-matched).
	created, moved map[string]bool
	// settled are the objects linked in this cycle: their pending creates are cleared.
	settled []string
}

// retargeted reports whether any of the users moved to another target object in this cycle: a record
// of a group's members names the old object then, so the group must be read from the target.
func (a applied) retargeted(users []string) bool {
	for _, u := range users {
		if a.moved[u] {
			return true
		}
	}
	return false
}

// apply sends the planned changes of one object type with bounded concurrency and records each
// result as soon as it succeeds, so a crash mid-cycle loses at most the batcher's window (and the next
// cycle re-matches those objects instead of creating them again). links is updated in place.
//
// Creates run in waves by manager depth: a manager created in this cycle exists before the users
// reporting to them are created, so their create body carries the manager and no separate PATCH is
// needed.
func (e *Engine) apply(ctx context.Context, k *objectKind, rep *Report, counts *Counts, changes []plan.Change, refs userRefs, links map[string]store.Anchor) (applied, error) {
	res := applied{changed: map[string]bool{}, created: map[string]bool{}, moved: map[string]bool{}}
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	// A credentials or compliance failure fails every object the same way: stop at the first one
	// instead of sending thousands of doomed requests, and let the judge quarantine the job.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var abort error // the target stopped answering: stop like a fatal error, but abort the cycle
	record := func(a store.Anchor) {
		b.Put(a)
		mu.Lock()
		links[a.SourceID] = a
		mu.Unlock()
	}
	// count tallies one result; old is the object's link before the change, took the time its
	// requests took (0 when none was sent).
	count := func(c plan.Change, old store.Anchor, err error, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if le, ok := e.logEntry(rep, k, c, err, c.Op == plan.Skip && c.Staged()); ok {
			le.DurationMs = took.Milliseconds()
			rep.logs = append(rep.logs, le)
		}
		if err != nil && quarantine.IsFatal(err) && rep.Fatal == nil {
			rep.Fatal = err
			cancel()
		}
		if err != nil && quarantine.IsAbort(err) && abort == nil {
			abort = err
			cancel()
		}
		switch {
		case err != nil && (rep.Fatal != nil || abort != nil) && err != rep.Fatal && errors.Is(err, context.Canceled):
			return // cancelled because of the fatal failure: not an object failure of its own
		case err != nil:
			if c.Op == plan.Create && outcomeOf(err) != plan.Ambiguous {
				// The target answered: nothing was created, so no pending create is left.
				res.settled = append(res.settled, c.SourceID)
			}
			counts.Failed++
			rep.Failures = append(rep.Failures, Failure{Kind: k.name, SourceID: c.SourceID, Identity: c.Identity, Op: actionName(c.Op), Err: err.Error(), err: err})
			return
		case c.Op == plan.Skip && c.Failed:
			rep.Failures = append(rep.Failures, Failure{Kind: k.name, SourceID: c.SourceID, Identity: c.Identity, Op: "Match", Err: c.Reason, err: c.Cause})
		case c.Op == plan.Create || c.Op == plan.Adopt:
			res.linked++
			res.changed[c.SourceID] = true
			res.created[c.SourceID] = res.created[c.SourceID] || c.Op == plan.Create
			res.settled = append(res.settled, c.SourceID)
		case c.Op == plan.Disable || c.Op == plan.Delete:
			res.changed[c.SourceID] = true
		case c.Op == plan.Update && old.Disabled:
			res.changed[c.SourceID] = true // re-enabled: back into its groups
		}
		if err == nil && old.TargetID != "" && c.TargetID != "" && old.TargetID != c.TargetID {
			res.moved[c.SourceID] = true
			res.changed[c.SourceID] = true
		}
		counts.add(c.Op, c.Failed)
	}
	var work []plan.Change
	for _, c := range changes {
		switch c.Op {
		case plan.Create, plan.Adopt, plan.Update, plan.Disable, plan.Delete:
			work = append(work, c)
		case plan.Unchanged:
			// Nothing to send, but what we remember may move: a case-only difference, or a new
			// manager whose link the reference pass sends.
			if a, ok := links[c.SourceID]; ok {
				mgr, known := refs.manager(c.SourceID, e.refs)
				if (c.Hash != "" && c.Hash != a.Hash) || (known && mgr != a.ManagerID) {
					if c.Hash != "" {
						a.Values, a.Hash = c.Values, c.Hash
					}
					if known {
						a.ManagerID = mgr
					}
					record(a)
				}
			}
			count(c, store.Anchor{}, nil, 0)
		default:
			count(c, store.Anchor{}, nil, 0)
			if c.Failed {
				e.outcome(c.Op, true) // matching failed: no request is sent, but the object failed
			}
		}
	}
	e.phase(k.name+"s", len(work)) // PhaseUsers or PhaseGroups
	for _, wave := range waves(work, refs, e.refs) {
		if err := e.markPending(k, wave); err != nil {
			return res, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(e.o.Concurrency)
		for _, c := range wave {
			mu.Lock()
			old, hadOld := links[c.SourceID]
			if c.Op == plan.Create && len(e.refs) > 0 && refs != nil {
				// The manager may have been created in an earlier wave.
				if mgr, _ := refs.manager(c.SourceID, e.refs); mgr != "" {
					if m, ok := links[mgr]; ok && m.Managed && m.TargetID != "" {
						c.Values = plan.Merged(c.Values, map[string]any{e.refs[0]: m.TargetID})
						c.Hash = plan.ValuesHash(c.Values)
					}
				}
			}
			mu.Unlock()
			g.Go(func() error {
				start := e.o.Now()
				a, err := e.applyOne(gctx, k, c, refs, old, hadOld)
				took := e.o.Now().Sub(start)
				if a != nil {
					// Count and log what really happened: a create that met a 409 adopted the
					// existing object; an update whose object was gone created it again.
					switch {
					case c.Op == plan.Create && a.MatchedBy != "created":
						c.Op, c.MatchedBy = plan.Adopt, a.MatchedBy
					case c.Op == plan.Update && a.TargetID != c.TargetID:
						c.Op = plan.Create
						if a.MatchedBy != "created" {
							c.Op, c.MatchedBy = plan.Adopt, a.MatchedBy
						}
					}
					c.TargetID = a.TargetID
				}
				switch {
				case err == nil && a != nil:
					record(*a)
				case err == nil && c.Op == plan.Delete:
					b.Delete(k.store, c.SourceID)
					mu.Lock()
					delete(links, c.SourceID)
					mu.Unlock()
				}
				if err != nil {
					e.log.Warn("provisioning failed", zap.String("kind", k.name), zap.String("op", c.Op.String()), zap.String("object", c.Identity), zap.Error(err))
				} else {
					e.log.Debug("provisioned", zap.String("kind", k.name), zap.String("op", c.Op.String()), zap.String("object", c.Identity), zap.String("targetId", c.TargetID))
				}
				count(c, old, err, took)
				e.outcome(c.Op, err != nil)
				e.done(1)
				return nil
			})
		}
		_ = g.Wait()
		if ctx.Err() != nil {
			break
		}
	}
	if err := b.Flush(); err != nil {
		return res, fmt.Errorf("record results: %w", err)
	}
	if rep.Fatal != nil {
		return res, fmt.Errorf("%s provisioning stopped: %w", k.name, rep.Fatal)
	}
	if abort != nil {
		return res, fmt.Errorf("%s provisioning stopped: %w", k.name, abort)
	}
	return res, ctx.Err()
}

// markPending records the wave's creates before any is sent (one transaction), so a create whose
// answer is lost to a crash is still known to the next cycle (see plan.Object.Pending).
func (e *Engine) markPending(k *objectKind, wave []plan.Change) error {
	put := map[string][]string{}
	for _, c := range wave {
		if c.Op == plan.Create {
			put[pendingKey(k.store, c.SourceID)] = []string{}
		}
	}
	if len(put) == 0 {
		return nil
	}
	if err := e.st.PutSets(store.SetPendingCreates, put, nil, false); err != nil {
		return fmt.Errorf("record pending creates: %w", err)
	}
	return nil
}

func pendingKey(kind store.Kind, sourceID string) string { return string(kind) + "/" + sourceID }

// settlePending clears the pending creates this cycle settled: objects linked (linked), objects whose
// create the target refused, and pending objects planned without an ambiguous failure (found absent,
// linked, or settled as out of scope). Only a create that may have landed keeps its key.
func (e *Engine) settlePending(rep *Report, kind store.Kind, objs []plan.Object, linked []string) error {
	failed := map[string]bool{}
	for _, f := range rep.Failures {
		if escrowKind(f.Kind) == kind && (f.Cause() == nil || outcomeOf(f.Cause()) == plan.Ambiguous) {
			failed[f.SourceID] = true
		}
	}
	var del []string
	for _, o := range objs {
		if o.Pending && !failed[o.SourceID] {
			del = append(del, pendingKey(kind, o.SourceID))
		}
	}
	for _, id := range linked {
		del = append(del, pendingKey(kind, id))
	}
	if len(del) == 0 {
		return nil
	}
	if err := e.st.PutSets(store.SetPendingCreates, nil, del, false); err != nil {
		return fmt.Errorf("clear pending creates: %w", err)
	}
	return nil
}

// waves orders the work so that users created in this cycle come after their manager: wave 0 holds
// everything that does not wait for a manager created in the same cycle, wave n the creates whose
// manager is in wave n-1. A manager cycle (A manages B manages A) is cut and linked afterwards.
func waves(work []plan.Change, refs userRefs, paths []string) [][]plan.Change {
	if refs == nil || len(paths) == 0 {
		return [][]plan.Change{work}
	}
	creating := map[string]bool{}
	for _, c := range work {
		if c.Op == plan.Create {
			creating[c.SourceID] = true
		}
	}
	depth := map[string]int{}
	var depthOf func(id string, seen int) int
	depthOf = func(id string, seen int) int {
		if d, ok := depth[id]; ok {
			return d
		}
		mgr, _ := refs.manager(id, paths)
		d := 0
		if creating[mgr] && mgr != id && seen < 64 {
			d = depthOf(mgr, seen+1) + 1
		}
		depth[id] = d
		return d
	}
	var out [][]plan.Change
	for _, c := range work {
		d := 0
		if c.Op == plan.Create {
			d = depthOf(c.SourceID, 0)
		}
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], c)
	}
	return out
}

// applyOne sends one change and returns the link to record.
func (e *Engine) applyOne(ctx context.Context, k *objectKind, c plan.Change, refs userRefs, old store.Anchor, hadOld bool) (*store.Anchor, error) {
	now := e.o.Now()
	a := store.Anchor{Kind: k.store, SourceID: c.SourceID, TargetID: c.TargetID, Managed: !c.Unmanage, Hash: c.Hash, Values: c.Values,
		UpdatedAt: now, Disabled: c.Op == plan.Disable || (c.Op == plan.Adopt && inactive(c.Values, k.policy.Active))}
	if hadOld {
		a.CreatedAt, a.MatchedBy, a.ManagerID, a.Members = old.CreatedAt, old.MatchedBy, old.ManagerID, old.Members
	}
	if mgr, known := refs.manager(c.SourceID, e.refs); known {
		a.ManagerID = mgr
	}
	// Send, then let plan.Recover decide what the answer means: the decisions live in the plan, this
	// only executes them.
	var err error
	switch c.Op {
	case plan.Create:
		var id string
		if id, err = k.tgt.Create(ctx, c.Values); err == nil {
			if id == "" {
				return nil, fmt.Errorf("create %s %s: the target answered without an id", k.name, c.Identity)
			}
			a.TargetID, a.CreatedAt, a.MatchedBy, a.Members = id, now, "created", nil
		}
	case plan.Adopt:
		if len(c.Attrs) > 0 {
			err = k.tgt.Update(ctx, c.TargetID, c.Attrs)
		}
		a.CreatedAt, a.MatchedBy = now, c.MatchedBy
	case plan.Update, plan.Disable:
		err = k.tgt.Update(ctx, c.TargetID, c.Attrs)
	case plan.Delete:
		err = k.tgt.Delete(ctx, c.TargetID)
	default:
		return nil, fmt.Errorf("unexpected op %s", c.Op)
	}
	switch plan.Recover(c.Op, false, outcomeOf(err), k.policy.Create) {
	case plan.Record:
		if c.Op == plan.Delete {
			return nil, nil
		}
		return &a, nil
	case plan.Forget:
		// Already gone from the target: a delete is done; a disabled account that no longer exists
		// keeps its link, so a re-enable finds the id gone and matches or creates again.
		if c.Op == plan.Delete {
			return nil, nil
		}
		return &a, nil
	case plan.Rematch:
		if c.Op == plan.Create {
			// The object exists after all (a create whose answer was lost, or created by someone else
			// since the lookup): adopt it rather than fail or duplicate.
			return e.adoptAfterConflict(ctx, k, c, a, err)
		}
		// InvalidAnchor: the object was deleted in the target behind our back. Match again, or create
		// it again, instead of retrying a dead id forever.
		return e.recreate(ctx, k, c, a, err)
	}
	switch c.Op {
	case plan.Create:
		return nil, fmt.Errorf("create %s %s: %w", k.name, c.Identity, err)
	case plan.Adopt:
		return nil, fmt.Errorf("update matched %s %s (%s): %w", k.name, c.Identity, c.TargetID, err)
	case plan.Delete:
		return nil, fmt.Errorf("delete %s %s (%s): %w", k.name, c.Identity, c.TargetID, err)
	}
	return nil, fmt.Errorf("%s %s %s (%s): %w", c.Op, k.name, c.Identity, c.TargetID, err)
}

// inactive reports whether values set the active flag to false (an adopted account of a user who is
// disabled in the source), so the link is recorded as disabled and the user stays out of its groups.
func inactive(values map[string]any, active string) bool {
	if active == "" {
		return false
	}
	switch v := values[active].(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(v, "false")
	}
	return false
}

// outcomeOf classifies a write's error for plan.Recover. Anything that is not a definite answer from
// the target (5xx, 429 after retries, timeouts, resets, cancellation) is Ambiguous: the write may have
// been applied.
func outcomeOf(err error) plan.Outcome {
	switch {
	case err == nil:
		return plan.Succeeded
	case quarantine.IsFatal(err):
		return plan.Fatal
	case errors.Is(err, scimclient.ErrConflict):
		return plan.Conflict
	case errors.Is(err, scimclient.ErrNotFound):
		return plan.NotFound
	}
	switch escrow.Classify(err) {
	case escrow.InvalidData:
		return plan.Rejected
	}
	return plan.Ambiguous
}

func (e *Engine) adoptAfterConflict(ctx context.Context, k *objectKind, c plan.Change, a store.Anchor, cause error) (*store.Anchor, error) {
	o := plan.Object{SourceID: c.SourceID, Identity: c.Identity, InScope: true, Enabled: true, Values: c.Values}
	lk := query(ctx, k, o)
	if lk.Err != nil || len(lk.Candidates) != 1 {
		return nil, fmt.Errorf("create %s %s: %w (and no single existing object matches it)", k.name, c.Identity, cause)
	}
	cd := lk.Candidates[0]
	attrs := plan.Diff(c.Values, cd.Values, k.policy.CaseExact)
	if len(attrs) > 0 && k.policy.Update {
		if err := k.tgt.Update(ctx, cd.TargetID, attrs); err != nil {
			return nil, fmt.Errorf("update matched %s %s (%s): %w", k.name, c.Identity, cd.TargetID, err)
		}
	}
	a.TargetID, a.MatchedBy, a.CreatedAt, a.Members = cd.TargetID, lk.By, e.o.Now(), nil
	// Remember what the object holds now: the diff was sent, and anything not mapped is as found.
	a.Values = plan.Merged(cd.Values, c.Values)
	a.Hash = plan.ValuesHash(a.Values)
	return &a, nil
}

// recreate handles an update whose target object is gone: adopt a matching object if one exists,
// else create the object again from the full set of values.
func (e *Engine) recreate(ctx context.Context, k *objectKind, c plan.Change, a store.Anchor, cause error) (*store.Anchor, error) {
	e.log.Warn("the linked target object no longer exists; matching again", zap.String("kind", k.name),
		zap.String("object", c.Identity), zap.String("targetId", c.TargetID))
	o := plan.Object{SourceID: c.SourceID, Identity: c.Identity, InScope: true, Enabled: true, Values: c.Values}
	lk := query(ctx, k, o)
	switch {
	case lk.Err != nil:
		return nil, fmt.Errorf("update %s %s: %w; matching again failed: %v", k.name, c.Identity, cause, lk.Err)
	case len(lk.Candidates) > 1:
		return nil, fmt.Errorf("update %s %s: %w; %d target objects match on %s: %w", k.name, c.Identity, cause, len(lk.Candidates), lk.By, escrow.ErrDuplicateTargetEntries)
	case len(lk.Candidates) == 1:
		return e.adoptAfterConflict(ctx, k, c, a, cause)
	}
	id, err := k.tgt.Create(ctx, c.Values)
	if err != nil {
		return nil, fmt.Errorf("create %s %s again after %v: %w", k.name, c.Identity, cause, err)
	}
	if id == "" {
		return nil, fmt.Errorf("create %s %s: the target answered without an id", k.name, c.Identity)
	}
	a.TargetID, a.MatchedBy, a.CreatedAt, a.Members = id, "created", e.o.Now(), nil
	return &a, nil
}

// linkReferences sets or clears each provisioned user's manager after every user of the cycle exists
// in the target, so a chain A manages B manages C links whatever order the users came in. A manager
// who is not provisioned (out of scope) is left out, and linked in a later cycle as soon as they are:
// the stored manager id of every report is checked again whenever a user was newly linked (all
// is true), otherwise only the users evaluated in this cycle.
func (e *Engine) linkReferences(ctx context.Context, rep *Report, objs []plan.Object, links map[string]store.Anchor, all, complete bool) (linked []string, err error) {
	if len(e.refs) == 0 || !e.o.Policy.Update {
		return nil, nil
	}
	path := e.refs[0]
	if all && !complete {
		// Find every report of a newly linked manager: the cycle loaded only some links.
		stored, err := e.st.Anchors(store.KindUser)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		for id, a := range links {
			stored[id] = a
		}
		links = stored
	}
	type refChange struct {
		a    store.Anchor
		attr plan.AttrChange
	}
	var work []refChange
	consider := func(a store.Anchor) {
		have, _ := a.Values[path].(string)
		m, mok := links[a.ManagerID]
		if !mok && a.ManagerID != "" {
			// The cycle loaded only the links it evaluated: a manager who did not change this cycle
			// (a report re-enabled, or whose manager changed while it was disabled) is read here.
			if stored, ok, err := e.st.Anchor(store.KindUser, a.ManagerID); err == nil && ok {
				m, mok = stored, true
				links[a.ManagerID] = stored
			}
		}
		in := plan.ReferenceInput{Linked: a.TargetID != "", Managed: a.Managed, Disabled: a.Disabled,
			SourceHasManager: a.ManagerID != "", ManagerKnown: mok && m.Managed, Have: have}
		if in.ManagerKnown {
			in.WantTarget = m.TargetID
		}
		switch plan.Reference(in) {
		case plan.RefSet:
			work = append(work, refChange{a, plan.AttrChange{Path: path, Old: have, New: in.WantTarget, Add: have == ""}})
		case plan.RefClear:
			work = append(work, refChange{a, plan.AttrChange{Path: path, Old: have}})
		}
	}
	if all {
		for _, a := range links {
			consider(a)
		}
	} else {
		for _, o := range objs {
			if a, ok := links[o.SourceID]; ok {
				consider(a)
			}
		}
	}
	e.phase(PhaseManagers, len(work))
	if len(work) == 0 {
		return nil, nil
	}
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	var abort error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, w := range work {
		g.Go(func() error {
			start := e.o.Now()
			err := e.users.tgt.Update(gctx, w.a.TargetID, []plan.AttrChange{w.attr})
			took := e.o.Now().Sub(start)
			defer e.done(1)
			e.outcome(plan.Update, err != nil)
			mu.Lock()
			defer mu.Unlock()
			prop := []store.Property{{Name: w.attr.Path, Old: fmt.Sprint(orNil(w.attr.Old)), New: fmt.Sprint(orNil(w.attr.New))}}
			le := e.referenceEntry(rep, store.KindUser, w.a.SourceID, userName(w.a), w.a.TargetID, "link the manager", prop, err)
			le.DurationMs = took.Milliseconds()
			rep.logs = append(rep.logs, le)
			if err != nil {
				rep.OtherFailed++
				rep.Failures = append(rep.Failures, Failure{Kind: kindManager, SourceID: w.a.SourceID, Identity: userName(w.a), Op: "link manager", Err: err.Error(), err: err})
				e.log.Warn("linking the manager failed", zap.String("targetId", w.a.TargetID), zap.Error(err))
				if quarantine.IsAbort(err) && abort == nil {
					abort = err
					return err // cancels the other links
				}
				return nil
			}
			vals := plan.Merged(w.a.Values, nil)
			if w.attr.New == nil {
				delete(vals, w.attr.Path)
			} else {
				vals[w.attr.Path] = w.attr.New
			}
			w.a.Values, w.a.Hash, w.a.UpdatedAt = vals, plan.ValuesHash(vals), e.o.Now()
			rep.Linked++
			linked = append(linked, w.a.SourceID)
			b.Put(w.a)
			return nil
		})
	}
	_ = g.Wait()
	if err := b.Flush(); err != nil {
		return linked, fmt.Errorf("record manager links: %w", err)
	}
	if abort != nil {
		return linked, fmt.Errorf("linking managers stopped: %w", abort)
	}
	return linked, ctx.Err()
}

// kindManager names a failed manager link; it is escrowed under the user, whose escrow makes the next
// cycle read the user again and retry the link.
const kindManager = "manager"

// orNil renders an absent value as "" in the log.
func orNil(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// userName is how a user shows in the provisioning log: the userName sent, else the source id.
func userName(a store.Anchor) string {
	if n, ok := a.Values["userName"].(string); ok && n != "" {
		return n
	}
	return a.SourceID
}
