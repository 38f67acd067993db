package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// apply sends the planned changes with bounded concurrency and records each result as soon as it
// succeeds, so a crash mid-cycle loses at most the batcher's window (and the next cycle re-matches
// those objects instead of creating them again). links is updated in place with what was recorded;
// linked counts the objects newly linked (created or adopted).
func (e *Engine) apply(ctx context.Context, rep *Report, changes []plan.Change, refs userRefs, links map[string]store.Anchor) (linked int, err error) {
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	record := func(a store.Anchor) {
		b.Put(a)
		mu.Lock()
		links[a.SourceID] = a
		mu.Unlock()
	}
	count := func(c plan.Change, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rep.Failed++
			rep.Failures = append(rep.Failures, Failure{SourceID: c.SourceID, Identity: c.Identity, Op: c.Op.String(), Err: err.Error(), err: err})
			return
		}
		switch c.Op {
		case plan.Create:
			rep.Created++
			linked++
		case plan.Adopt:
			rep.Adopted++
			linked++
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
				rep.Failures = append(rep.Failures, Failure{SourceID: c.SourceID, Identity: c.Identity, Op: "match", Err: c.Reason, err: c.Cause})
			} else {
				rep.Skipped++
			}
		}
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
			count(c, nil)
		default:
			count(c, nil)
		}
	}
	if e.o.Progress != nil {
		e.o.Progress.Start("provisioning", len(work))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, c := range work {
		mu.Lock()
		old, hadOld := links[c.SourceID]
		mu.Unlock()
		g.Go(func() error {
			a, err := e.applyOne(gctx, c, refs, old, hadOld)
			switch {
			case err == nil && a != nil:
				record(*a)
			case err == nil && c.Op == plan.Delete:
				b.Delete(store.KindUser, c.SourceID)
				mu.Lock()
				delete(links, c.SourceID)
				mu.Unlock()
			}
			if err != nil {
				e.log.Warn("provisioning failed", zap.String("op", c.Op.String()), zap.String("user", c.Identity), zap.Error(err))
			} else {
				e.log.Debug("provisioned", zap.String("op", c.Op.String()), zap.String("user", c.Identity), zap.String("targetId", c.TargetID))
			}
			count(c, err)
			if e.o.Progress != nil {
				e.o.Progress.Done(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := b.Flush(); err != nil {
		return linked, fmt.Errorf("record results: %w", err)
	}
	return linked, ctx.Err()
}

// applyOne sends one change and returns the link to record.
func (e *Engine) applyOne(ctx context.Context, c plan.Change, refs userRefs, old store.Anchor, hadOld bool) (*store.Anchor, error) {
	now := e.o.Now()
	a := store.Anchor{Kind: store.KindUser, SourceID: c.SourceID, TargetID: c.TargetID, Managed: true, Hash: c.Hash, Values: c.Values,
		UpdatedAt: now, Disabled: c.Op == plan.Disable}
	if hadOld {
		a.CreatedAt, a.MatchedBy, a.ManagerID = old.CreatedAt, old.MatchedBy, old.ManagerID
	}
	if mgr, known := refs.manager(c.SourceID, e.refs); known {
		a.ManagerID = mgr
	}
	switch c.Op {
	case plan.Create:
		res, err := e.tgt.CreateUser(ctx, scimclient.BuildUser(c.Values))
		if errors.Is(err, scimclient.ErrConflict) {
			// The account exists after all (a create whose answer was lost, or created by someone
			// else since the lookup): adopt it rather than fail or duplicate.
			return e.adoptAfterConflict(ctx, c, a, err)
		}
		if err != nil {
			return nil, fmt.Errorf("create user %s: %w", c.Identity, err)
		}
		id, _ := res["id"].(string)
		if id == "" {
			return nil, fmt.Errorf("create user %s: the target answered without an id", c.Identity)
		}
		a.TargetID, a.CreatedAt, a.MatchedBy = id, now, "created"
		return &a, nil
	case plan.Adopt:
		if len(c.Attrs) > 0 {
			if err := e.tgt.PatchUser(ctx, c.TargetID, scimclient.UserPatch(e.o.PatchMode, toChanges(c.Attrs))); err != nil {
				return nil, fmt.Errorf("update matched user %s (%s): %w", c.Identity, c.TargetID, err)
			}
		}
		a.CreatedAt, a.MatchedBy = now, c.MatchedBy
		return &a, nil
	case plan.Update, plan.Disable:
		if err := e.tgt.PatchUser(ctx, c.TargetID, scimclient.UserPatch(e.o.PatchMode, toChanges(c.Attrs))); err != nil {
			return nil, fmt.Errorf("%s user %s (%s): %w", c.Op, c.Identity, c.TargetID, err)
		}
		return &a, nil
	case plan.Delete:
		if err := e.tgt.DeleteUser(ctx, c.TargetID); err != nil && !errors.Is(err, scimclient.ErrNotFound) {
			return nil, fmt.Errorf("delete user %s (%s): %w", c.Identity, c.TargetID, err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected op %s", c.Op)
}

func (e *Engine) adoptAfterConflict(ctx context.Context, c plan.Change, a store.Anchor, cause error) (*store.Anchor, error) {
	o := plan.Object{SourceID: c.SourceID, Identity: c.Identity, InScope: true, Enabled: true, Values: c.Values}
	lk := e.query(ctx, o, e.matchPaths(), e.exportPaths())
	if lk.Err != nil || len(lk.Candidates) != 1 {
		return nil, fmt.Errorf("create user %s: %w (and no single matching account found to adopt)", c.Identity, cause)
	}
	cd := lk.Candidates[0]
	attrs := plan.Diff(c.Values, cd.Values, e.o.Policy.CaseExact)
	if len(attrs) > 0 && e.o.Policy.Update {
		if err := e.tgt.PatchUser(ctx, cd.TargetID, scimclient.UserPatch(e.o.PatchMode, toChanges(attrs))); err != nil {
			return nil, fmt.Errorf("update matched user %s (%s): %w", c.Identity, cd.TargetID, err)
		}
	}
	a.TargetID, a.MatchedBy, a.CreatedAt = cd.TargetID, lk.By, e.o.Now()
	// Remember what the account holds now: the diff was sent, and anything not mapped is as found.
	a.Values = merged(cd.Values, c.Values)
	a.Hash = plan.ValuesHash(a.Values)
	return &a, nil
}

func toChanges(attrs []plan.AttrChange) []scimclient.Change {
	out := make([]scimclient.Change, len(attrs))
	for i, a := range attrs {
		out[i] = scimclient.Change{Path: a.Path, Value: a.New, Add: a.Add}
	}
	return out
}

// merged returns base overlaid with over.
func merged(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// linkReferences sets or clears each provisioned user's manager after every user of the cycle exists
// in the target, so a chain A manages B manages C links whatever order the users came in. A manager
// who is not provisioned (out of scope) is left out, and linked in a later cycle as soon as they are:
// the stored manager id of every report is checked again whenever a user was newly linked (all
// reports is true), otherwise only the users evaluated in this cycle.
func (e *Engine) linkReferences(ctx context.Context, rep *Report, objs []plan.Object, links map[string]store.Anchor, all bool) error {
	if len(e.refs) == 0 || !e.o.Policy.Update {
		return nil
	}
	path := e.refs[0]
	var err error
	if all && len(links) < len(objs) {
		// An incremental cycle linked a new user: load every link to find that user's reports.
		if links, err = e.st.Anchors(store.KindUser); err != nil {
			return fmt.Errorf("read state: %w", err)
		}
	}
	type refChange struct {
		a    store.Anchor
		attr plan.AttrChange
	}
	var work []refChange
	consider := func(a store.Anchor) {
		if !a.Managed || a.Disabled || a.TargetID == "" {
			return
		}
		want := ""
		if m, ok := links[a.ManagerID]; ok && m.Managed && a.ManagerID != "" {
			want = m.TargetID
		}
		have, _ := a.Values[path].(string)
		switch {
		case want != "" && want != have:
			work = append(work, refChange{a, plan.AttrChange{Path: path, Old: have, New: want, Add: have == ""}})
		case a.ManagerID == "" && have != "":
			// The source no longer has a manager: clear it in the target.
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
	if len(work) == 0 {
		return nil
	}
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, w := range work {
		g.Go(func() error {
			err := e.tgt.PatchUser(gctx, w.a.TargetID, scimclient.UserPatch(e.o.PatchMode, toChanges([]plan.AttrChange{w.attr})))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{SourceID: w.a.SourceID, Op: "link manager", Err: err.Error()})
				e.log.Warn("linking the manager failed", zap.String("targetId", w.a.TargetID), zap.Error(err))
				return nil
			}
			vals := merged(w.a.Values, nil)
			if w.attr.New == nil {
				delete(vals, w.attr.Path)
			} else {
				vals[w.attr.Path] = w.attr.New
			}
			w.a.Values, w.a.Hash, w.a.UpdatedAt = vals, plan.ValuesHash(vals), e.o.Now()
			rep.Linked++
			b.Put(w.a)
			return nil
		})
	}
	_ = g.Wait()
	if err := b.Flush(); err != nil {
		return fmt.Errorf("record manager links: %w", err)
	}
	return ctx.Err()
}
