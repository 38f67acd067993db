package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/pack"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
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

// apply sends the planned changes of one object type with bounded concurrency and records each
// result as soon as it succeeds, so a crash mid-cycle loses at most the batcher's window (and the next
// cycle re-matches those objects instead of creating them again). links is updated in place.
//
// Creates run in waves by manager depth: a manager created in this cycle exists before the users
// reporting to them are created, so their create body carries the manager and no separate PATCH is
// needed.
//
// apply takes changes over: it reorders them into waves and clears each one once sent, so their values
// go as the step goes.
func (e *Engine) apply(ctx context.Context, k *objectKind, rep *Report, counts *Counts, changes []plan.Change, refs userRefs, links map[string]store.Link) (applied, error) {
	// A credentials or compliance failure fails every object the same way: stop at the first one
	// instead of sending thousands of doomed requests, and let the judge quarantine the job.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &kindRun{e: e, k: k, rep: rep, counts: counts, links: links, cancel: cancel,
		b: e.rec.Links(1024), slim: e.slimPaths(),
		res: applied{changed: map[string]bool{}, created: map[string]bool{}, moved: map[string]bool{}}}
	defer r.b.Close()
	work := r.settle(changes, refs)
	changes = nil                  // the caller's copy is dropped too: only the work to send stays
	e.phase(k.name+"s", len(work)) // PhaseUsers or PhaseGroups
	var managerOf func(string) string
	if refs != nil && len(e.refs) > 0 {
		managerOf = func(id string) string { m, _ := refs.Manager(id, e.refs); return m }
	}
	ws := plan.Waves(work, managerOf)
	work = nil
	for i, wave := range ws {
		// A wave sent is recorded (links, log): its changes and their values can go.
		ws[i] = nil
		if err := e.markPending(k, wave); err != nil {
			return r.res, err
		}
		// A chunk at a time, each chunk's changes (their values) let go once its results are recorded.
		prepare := func(c plan.Change) write { return r.prepare(c, refs) }
		fanout.Chunks(ctx, wave, applyChunk, func(part []plan.Change) { e.exec.execute(ctx, k, part, prepare, r.done) })
		if ctx.Err() != nil {
			break
		}
	}
	if err := r.b.Flush(); err != nil {
		return r.res, fmt.Errorf("record results: %w", err)
	}
	if rep.Fatal != nil {
		return r.res, fmt.Errorf("%s provisioning stopped: %w", k.name, rep.Fatal)
	}
	if r.abort != nil {
		return r.res, fmt.Errorf("%s provisioning stopped: %w", k.name, r.abort)
	}
	return r.res, ctx.Err()
}

// applyChunk is how many writes of a wave an executor is handed at once: a wave of creates at 100,000
// users is most of them, and the chunk's changes are let go once it is done. A variable so tests can
// put part boundaries anywhere.
var applyChunk = 4096

// write is one planned write, with what its link held before and the manager the cycle knows.
type write struct {
	c plan.Change
	// err fails the write before it is sent (its values could not be unpacked).
	err    error
	old    store.Link
	hadOld bool
	// manager is the source id of the user's manager, when known (mgrKnown).
	manager  string
	mgrKnown bool
}

// executor sends a wave of planned writes and hands each result to done as it comes. perWrite sends
// one request (and its recovery) per write; a SCIM Bulk executor can replace it without touching the
// plan or the recording of results. Each change is made a write by prepare right before it is sent,
// by whichever worker sends it: preparing a chunk of writes up front left no request in flight
// meanwhile (about 3 % of the apply step at 100,000 users), and held every prepared body of it.
type executor interface {
	execute(ctx context.Context, k *objectKind, wave []plan.Change, prepare func(plan.Change) write, done func(w write, link *store.Link, err error, took time.Duration))
}

// perWrite sends each write on its own, Concurrency at a time.
type perWrite struct{ e *Engine }

func (p perWrite) execute(ctx context.Context, k *objectKind, wave []plan.Change, prepare func(plan.Change) write, done func(write, *store.Link, error, time.Duration)) {
	_ = fanout.Each(ctx, p.e.o.Concurrency, len(wave), func(ctx context.Context, i int) error {
		w := prepare(wave[i])
		start := p.e.o.Now()
		a, err := p.e.applyOne(ctx, k, w)
		done(w, a, err, p.e.o.Now().Sub(start))
		return nil
	})
}

// kindRun is one object type's apply step in progress: what its concurrent writes report to.
type kindRun struct {
	e      *Engine
	k      *objectKind
	rep    *Report
	counts *Counts
	links  map[string]store.Link
	b      *store.Batcher
	cancel context.CancelFunc
	// slim are the values a user's link keeps for the rest of the cycle (see record).
	slim []string

	mu    sync.Mutex
	abort error // the target stopped answering: stop like a fatal error, but abort the cycle
	res   applied
}

// settle counts the changes that send nothing and returns the ones to send, in changes' own array
// (a copy would hold a second set of values at 100,000 users).
func (r *kindRun) settle(changes []plan.Change, refs userRefs) []plan.Change {
	work := changes[:0]
	for _, c := range changes {
		switch {
		case c.Op.Sends():
			work = append(work, c)
		case c.Op == plan.Unchanged:
			// Nothing to send, but what we remember may move: a case-only difference, or a new
			// manager whose link the reference pass sends.
			if a, ok := r.links[c.SourceID]; ok {
				mgr, known := refs.Manager(c.SourceID, r.e.refs)
				if (c.Hash != "" && c.Hash != a.Hash) || (known && mgr != a.ManagerID) {
					if c.Hash != "" && c.Hash != a.Hash {
						a.Values, a.Hash, a.Packed = c.Values, c.Hash, ""
					} else if err := store.UnpackLink(&a); err != nil {
						// Recorded as it was: the next cycle finds the same difference.
						r.e.log.Error("a stored link does not decode; its manager is recorded next cycle", zap.String("object", c.Identity), zap.Error(err))
						r.count(c, store.Link{}, nil, 0)
						continue
					}
					if known {
						a.ManagerID = mgr
					}
					r.record(a)
				}
			}
			r.count(c, store.Link{}, nil, 0)
		default:
			r.count(c, store.Link{}, nil, 0)
			if c.Failed {
				r.e.outcome(c.Op, true) // matching failed: no request is sent, but the object failed
			}
		}
	}
	clear(changes[len(work):])
	return work
}

// prepare reads a write's link, and puts a manager created in an earlier wave into a create body. The
// apply workers call it concurrently, each for the write it sends next.
func (r *kindRun) prepare(c plan.Change, refs userRefs) write {
	w := write{c: c}
	w.err = pack.UnpackChange(&w.c)
	// Values unpacked here are this write's alone and take the manager in place; others may
	// share their map with the evaluated object and get a merged copy.
	owned := c.Packed != nil && w.err == nil
	w.manager, w.mgrKnown = refs.Manager(c.SourceID, r.e.refs)
	var m store.Link
	var hasMgr bool
	r.mu.Lock()
	w.old, w.hadOld = r.links[c.SourceID]
	if w.manager != "" {
		m, hasMgr = r.links[w.manager]
	}
	r.mu.Unlock()
	if c.Op == plan.Create && len(r.e.refs) > 0 && refs != nil && hasMgr && m.Managed && m.TargetID != "" {
		if owned {
			w.c.Values[r.e.refs[0]] = m.TargetID
		} else {
			w.c.Values = plan.Merged(w.c.Values, map[string]any{r.e.refs[0]: m.TargetID})
		}
		w.c.Hash = plan.ValuesHash(w.c.Values)
	}
	return w
}

// done records and counts one write's result. It counts and logs what really happened: a create that
// met a 409 adopted the existing object; an update whose object was gone created it again.
func (r *kindRun) done(w write, a *store.Link, err error, took time.Duration) {
	c, e, k := w.c, r.e, r.k
	if a != nil {
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
		r.record(*a)
	case err == nil && c.Op == plan.Delete:
		r.b.Delete(k.store, c.SourceID)
		r.mu.Lock()
		delete(r.links, c.SourceID)
		r.mu.Unlock()
	}
	if err != nil {
		e.log.Warn("provisioning failed", zap.String("kind", k.name), zap.String("op", c.Op.String()), zap.String("object", c.Identity), zap.Error(err))
	} else {
		e.log.Debug("provisioned", zap.String("kind", k.name), zap.String("op", c.Op.String()), zap.String("object", c.Identity), zap.String("targetId", c.TargetID))
	}
	r.count(c, w.old, err, took)
	e.outcome(c.Op, err != nil)
	e.done(1)
}

// slimPaths are the values a user's link keeps for the rest of the cycle: the userName logs show
// and the reference values (the manager) the reference step compares (see record).
func (e *Engine) slimPaths() []string { return append([]string{"userName"}, e.refs...) }

// record writes a link and keeps it for the rest of the cycle. A user's link is kept slim: the later
// steps read its target id, flags and manager, the userName logs show and the reference values; the
// values sent stay in the state only (sendManagers reads them back before it records a change). The
// values kept are packed (store.Link.Packed, read through store.LinkValue), as those of the links a
// cycle reads: a map of two values was 15 MB of 100,000 links, and a packed link is never written.
// Unlike a link read from the state, its record holds the kept values alone, so UnpackLink gives back
// only those: whatever must record such a link again reads it from the state first (managers.Linked).
func (r *kindRun) record(a store.Link) {
	r.b.Put(a)
	if r.k.store == store.KindUser {
		keep := make(map[string]any, len(r.slim))
		for _, p := range r.slim {
			if v, ok := a.Values[p]; ok {
				keep[p] = v
			}
		}
		a.Values, a.Packed = nil, string(store.PackValues(keep))
	}
	r.mu.Lock()
	r.links[a.SourceID] = a
	r.mu.Unlock()
}

// count tallies one result; old is the object's link before the change, took the time its requests
// took (0 when none was sent).
func (r *kindRun) count(c plan.Change, old store.Link, err error, took time.Duration) {
	rep, res, k := r.rep, &r.res, r.k
	// The entry is built before the lock (the workers queued behind it while it was built), and
	// stamped under it, so the log's entries keep their times in the order they are appended.
	le, logged := r.e.logEntry(rep, k, c, err, c.Op == plan.Skip && c.Staged())
	r.mu.Lock()
	defer r.mu.Unlock()
	if logged {
		le.Time, le.DurationMs = r.e.o.Now(), took.Milliseconds()
		rep.AddLog(le)
	}
	if err != nil && quarantine.IsFatal(err) && rep.Fatal == nil {
		rep.Fatal = err
		r.cancel()
	}
	if err != nil && quarantine.IsAbort(err) && r.abort == nil {
		r.abort = err
		r.cancel()
	}
	switch {
	case err != nil && (rep.Fatal != nil || r.abort != nil) && err != rep.Fatal && errors.Is(err, context.Canceled):
		return // cancelled because of the fatal failure: not an object failure of its own
	case err != nil:
		if c.Op == plan.Create && escrow.Outcome(err) != plan.Ambiguous {
			// The target answered: nothing was created, so no pending create is left.
			res.settled = append(res.settled, c.SourceID)
		}
		r.counts.Failed++
		rep.Failures = append(rep.Failures, summary.NewFailure(summary.Subject(k.store), c.SourceID, c.Identity, string(record.ActionOf(c.Op)), err.Error(), err))
		return
	case c.Op == plan.Skip && c.Failed:
		rep.Failures = append(rep.Failures, summary.NewFailure(summary.Subject(k.store), c.SourceID, c.Identity, "Match", c.Reason, c.Cause))
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
	r.counts.Add(c.Op, c.Failed)
}

// markPending records the wave's creates before any is sent, so a create whose answer is lost to a
// crash is still known to the next cycle (see plan.Object.Pending).
func (e *Engine) markPending(k *objectKind, wave []plan.Change) error {
	var ids []string
	for _, c := range wave {
		if c.Op == plan.Create {
			ids = append(ids, c.SourceID)
		}
	}
	return e.rec.MarkPending(k.store, ids)
}

// settlePending clears the pending creates this cycle settled: objects linked (linked), objects whose
// create the target refused, and pending objects planned (pending) without an ambiguous failure
// (found absent, linked, or settled as out of scope). Only a create that may have landed keeps its key.
func (e *Engine) settlePending(rep *Report, kind store.Kind, pending, linked []string) error {
	failed := map[string]bool{}
	for _, f := range rep.Failures {
		if escrowKind(f.Kind) == kind && (f.Cause() == nil || escrow.Outcome(f.Cause()) == plan.Ambiguous) {
			failed[f.SourceID] = true
		}
	}
	var ids []string
	for _, id := range pending {
		if !failed[id] {
			ids = append(ids, id)
		}
	}
	return e.rec.ClearPending(kind, append(ids, linked...))
}

// applyOne sends one write and settles its answer.
func (e *Engine) applyOne(ctx context.Context, k *objectKind, w write) (*store.Link, error) {
	if w.err != nil {
		return nil, w.err
	}
	pw, send := plan.WriteOf(w.c)
	if !send {
		if w.c.Op != plan.Adopt {
			return nil, fmt.Errorf("unexpected op %s", w.c.Op)
		}
		return e.settleWrite(ctx, k, w, plan.WriteResult{})
	}
	var r plan.WriteResult
	switch pw.Op {
	case plan.Create:
		r.TargetID, r.Err = k.tgt.Create(ctx, pw.Values)
	case plan.Update:
		r.Err = k.tgt.Update(ctx, pw.TargetID, pw.Attrs)
	case plan.Delete:
		r.Err = k.tgt.Delete(ctx, pw.TargetID)
	}
	return e.settleWrite(ctx, k, w, r)
}

// settleWrite turns a write's answer into its link (or its error): plan.Recover decides what the
// answer means, this only executes it. One request per write and SCIM Bulk end here alike.
func (e *Engine) settleWrite(ctx context.Context, k *objectKind, w write, r plan.WriteResult) (*store.Link, error) {
	c, old := w.c, w.old
	now := e.o.Now()
	a := store.Link{Kind: k.store, SourceID: c.SourceID, TargetID: c.TargetID, Managed: !c.Unmanage, Hash: c.Hash, Values: c.Values,
		UpdatedAt: now, Disabled: c.Op == plan.Disable || (c.Op == plan.Adopt && plan.Inactive(c.Values, k.policy.Active))}
	if w.hadOld {
		a.CreatedAt, a.MatchedBy, a.ManagerID, a.Members = old.CreatedAt, old.MatchedBy, old.ManagerID, old.Members
	}
	if w.mgrKnown {
		a.ManagerID = w.manager
	}
	err := r.Err
	switch c.Op {
	case plan.Create:
		if err == nil {
			if r.TargetID == "" {
				return nil, fmt.Errorf("create %s %s: the target answered without an id", k.name, c.Identity)
			}
			a.TargetID, a.CreatedAt, a.MatchedBy, a.Members = r.TargetID, now, "created", nil
		}
	case plan.Adopt:
		a.CreatedAt, a.MatchedBy = now, c.MatchedBy
	}
	switch plan.Recover(c.Op, false, escrow.Outcome(err), k.policy.Create) {
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

func (e *Engine) adoptAfterConflict(ctx context.Context, k *objectKind, c plan.Change, a store.Link, cause error) (*store.Link, error) {
	o := plan.Object{SourceID: c.SourceID, Identity: c.Identity, InScope: true, Enabled: true, Values: c.Values}
	lk := e.matcher(k).Query(ctx, o)
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
func (e *Engine) recreate(ctx context.Context, k *objectKind, c plan.Change, a store.Link, cause error) (*store.Link, error) {
	e.log.Warn("the linked target object no longer exists; matching again", zap.String("kind", k.name),
		zap.String("object", c.Identity), zap.String("targetId", c.TargetID))
	o := plan.Object{SourceID: c.SourceID, Identity: c.Identity, InScope: true, Enabled: true, Values: c.Values}
	lk := e.matcher(k).Query(ctx, o)
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

// orNil renders an absent value as "" in the log.
func orNil(v any) any {
	if v == nil {
		return ""
	}
	return v
}
