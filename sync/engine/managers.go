package engine

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// linkReferences sets or clears each provisioned user's manager after every user of the cycle exists
// in the target, so a chain A manages B manages C links whatever order the users came in. A manager
// who is not provisioned (out of scope) is left out, and linked in a later cycle as soon as they are:
// the stored manager id of every report is checked again whenever a user was newly linked (all
// is true), otherwise only the users evaluated in this cycle.
func (e *Engine) linkReferences(ctx context.Context, rep *Report, objs []plan.Object, links map[string]store.Anchor, all, complete bool) (linked []string, err error) {
	if len(e.refs) == 0 || !e.o.Policy.Update {
		return nil, nil
	}
	work, err := e.managerChanges(objs, links, all, complete)
	if err != nil {
		return nil, err
	}
	return e.sendManagers(ctx, rep, work)
}

// refChange is one manager reference to set or clear on a user.
type refChange struct {
	a    store.Anchor
	attr plan.AttrChange
}

// managerChanges decides, with plan.Reference, which users' manager reference to set or clear.
func (e *Engine) managerChanges(objs []plan.Object, links map[string]store.Anchor, all, complete bool) ([]refChange, error) {
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
	return work, nil
}

// sendManagers sends the manager changes, Concurrency at a time, and records each that succeeded.
func (e *Engine) sendManagers(ctx context.Context, rep *Report, work []refChange) (linked []string, err error) {
	e.phase(PhaseManagers, len(work))
	if len(work) == 0 {
		return nil, nil
	}
	b := e.rec.Links(256)
	defer b.Close()
	var mu sync.Mutex
	var abort error
	// The first target outage cancels the other links.
	_ = fanout.Each(ctx, e.o.Concurrency, len(work), func(gctx context.Context, i int) error {
		w := work[i]
		start := e.o.Now()
		err := e.users.tgt.Update(gctx, w.a.TargetID, []plan.AttrChange{w.attr})
		took := e.o.Now().Sub(start)
		defer e.done(1)
		e.outcome(plan.Update, err != nil)
		mu.Lock()
		defer mu.Unlock()
		prop := []store.Property{{Name: w.attr.Path, Old: fmt.Sprint(orNil(w.attr.Old)), New: fmt.Sprint(orNil(w.attr.New))}}
		le := e.referenceEntry(rep, store.KindUser, w.a.SourceID, record.UserName(w.a), w.a.TargetID, "link the manager", prop, err)
		le.DurationMs = took.Milliseconds()
		rep.AddLog(le)
		if err != nil {
			rep.OtherFailed++
			rep.Failures = append(rep.Failures, summary.NewFailure(summary.SubjectManager, w.a.SourceID, record.UserName(w.a), "link manager", err.Error(), err))
			e.log.Warn("linking the manager failed", zap.String("targetId", w.a.TargetID), zap.Error(err))
			if quarantine.IsAbort(err) && abort == nil {
				abort = err
				return err // cancels the other links
			}
			return nil
		}
		// The cycle keeps user links slim (see kindRun.record): record from the values stored.
		full, ok, rerr := e.st.Anchor(store.KindUser, w.a.SourceID)
		if rerr != nil {
			e.log.Error("reading a link to record its manager failed; the next cycle sends it again", zap.Error(rerr))
			return nil
		}
		if ok {
			w.a.Values = full.Values
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
	if err := b.Flush(); err != nil {
		return linked, fmt.Errorf("record manager links: %w", err)
	}
	if abort != nil {
		return linked, fmt.Errorf("linking managers stopped: %w", abort)
	}
	return linked, ctx.Err()
}
