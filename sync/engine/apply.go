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
// those objects instead of creating them again).
func (e *Engine) apply(ctx context.Context, rep *Report, changes []plan.Change, refs userRefs, links map[string]store.Anchor) error {
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	count := func(c plan.Change, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rep.Failed++
			rep.Failures = append(rep.Failures, Failure{SourceID: c.SourceID, Identity: c.Identity, Op: c.Op.String(), Err: err.Error()})
			return
		}
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
	}
	var work []plan.Change
	for _, c := range changes {
		switch c.Op {
		case plan.Create, plan.Adopt, plan.Update, plan.Disable, plan.Delete:
			work = append(work, c)
		case plan.Unchanged:
			// A case-only difference updates what we remember without a request.
			if a, ok := links[c.SourceID]; ok && c.Hash != "" && c.Hash != a.Hash {
				a.Values, a.Hash = c.Values, c.Hash
				b.Put(a)
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
		g.Go(func() error {
			a, err := e.applyOne(gctx, c, refs, links)
			if err == nil && a != nil {
				b.Put(*a)
			} else if err == nil && c.Op == plan.Delete {
				b.Delete(store.KindUser, c.SourceID)
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
		return fmt.Errorf("record results: %w", err)
	}
	return ctx.Err()
}

// applyOne sends one change and returns the link to record.
func (e *Engine) applyOne(ctx context.Context, c plan.Change, refs userRefs, links map[string]store.Anchor) (*store.Anchor, error) {
	now := e.o.Now()
	a := store.Anchor{Kind: store.KindUser, SourceID: c.SourceID, TargetID: c.TargetID, Managed: true, Hash: c.Hash, Values: c.Values, UpdatedAt: now}
	if old, ok := links[c.SourceID]; ok {
		a.CreatedAt, a.MatchedBy, a.ManagerID = old.CreatedAt, old.MatchedBy, old.ManagerID
	}
	switch c.Op {
	case plan.Create:
		res, err := e.tgt.CreateUser(ctx, scimclient.BuildUser(c.Values))
		if errors.Is(err, scimclient.ErrConflict) {
			// The account exists after all (a create whose answer was lost, or created by someone
			// else since the lookup): adopt it rather than fail or duplicate.
			return e.adoptAfterConflict(ctx, c, err)
		}
		if err != nil {
			return nil, fmt.Errorf("create user %s: %w", c.Identity, err)
		}
		id, _ := res["id"].(string)
		if id == "" {
			return nil, fmt.Errorf("create user %s: the target answered without an id", c.Identity)
		}
		a.TargetID, a.CreatedAt, a.MatchedBy = id, now, "created"
		a.ManagerID = createdManager(c, refs)
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

// createdManager returns the manager source id whose target id went into the create body.
func createdManager(c plan.Change, refs userRefs) string {
	for path, src := range refs[c.SourceID] {
		if _, ok := c.Values[path]; ok {
			return src
		}
	}
	return ""
}

func (e *Engine) adoptAfterConflict(ctx context.Context, c plan.Change, cause error) (*store.Anchor, error) {
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
	now := e.o.Now()
	return &store.Anchor{Kind: store.KindUser, SourceID: c.SourceID, TargetID: cd.TargetID, Managed: true,
		Hash: plan.ValuesHash(c.Values), Values: c.Values, MatchedBy: lk.By, CreatedAt: now, UpdatedAt: now}, nil
}

func toChanges(attrs []plan.AttrChange) []scimclient.Change {
	out := make([]scimclient.Change, len(attrs))
	for i, a := range attrs {
		out[i] = scimclient.Change{Path: a.Path, Value: a.New, Add: a.Add}
	}
	return out
}

// linkReferences sets or clears each provisioned user's manager after every user of the cycle exists
// in the target, so a chain A manages B manages C links whatever order the users came in. A manager
// who is not provisioned (out of scope) is left out, and linked in a later cycle when they are.
func (e *Engine) linkReferences(ctx context.Context, rep *Report, objs []plan.Object, refs userRefs) error {
	if len(e.refs) == 0 {
		return nil
	}
	links, err := e.st.Anchors(store.KindUser)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	type refChange struct {
		a       store.Anchor
		attrs   []plan.AttrChange
		manager string
	}
	var work []refChange
	for _, o := range objs {
		a, ok := links[o.SourceID]
		if !ok || !a.Managed || !o.InScope || o.Err != nil || o.HardDeleted {
			continue
		}
		var attrs []plan.AttrChange
		manager := a.ManagerID
		for _, path := range e.refs {
			src := refs[o.SourceID][path]
			want := ""
			if m, ok := links[src]; ok && m.Managed && src != "" {
				want = m.TargetID
			}
			have, _ := a.Values[path].(string)
			switch {
			case want != "" && want != have:
				attrs = append(attrs, plan.AttrChange{Path: path, Old: have, New: want, Add: have == ""})
				manager = src
			case src == "" && have != "":
				// The source no longer has a manager: clear it in the target.
				attrs = append(attrs, plan.AttrChange{Path: path, Old: have, New: nil})
				manager = ""
			}
		}
		if len(attrs) > 0 {
			work = append(work, refChange{a: a, attrs: attrs, manager: manager})
		}
	}
	if len(work) == 0 || !e.o.Policy.Update {
		return nil
	}
	b := e.st.NewBatcher(256, 500*time.Millisecond)
	defer b.Close()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, w := range work {
		g.Go(func() error {
			err := e.tgt.PatchUser(gctx, w.a.TargetID, scimclient.UserPatch(e.o.PatchMode, toChanges(w.attrs)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{SourceID: w.a.SourceID, Op: "link manager", Err: err.Error()})
				e.log.Warn("linking the manager failed", zap.String("targetId", w.a.TargetID), zap.Error(err))
				return nil
			}
			vals := make(map[string]any, len(w.a.Values))
			for k, v := range w.a.Values {
				vals[k] = v
			}
			for _, at := range w.attrs {
				if at.New == nil {
					delete(vals, at.Path)
				} else {
					vals[at.Path] = at.New
				}
			}
			w.a.Values, w.a.Hash, w.a.ManagerID, w.a.UpdatedAt = vals, plan.ValuesHash(vals), w.manager, e.o.Now()
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
