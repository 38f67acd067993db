package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// match looks up, for every in-scope object without a link, target objects by the matching
// attributes in precedence order: one query per object, or one paged listing of the target when many
// objects need a lookup (an initial cycle), which is far cheaper than thousands of queries.
func (e *Engine) match(ctx context.Context, k *objectKind, objs []plan.Object, links map[string]plan.Link) (map[string]plan.Lookup, error) {
	var need []int
	for i, o := range objs {
		// Disabled users are looked up too: an existing account of theirs is deactivated, never created.
		// An object out of scope is looked up only when a create of it may have landed unrecorded.
		if l, ok := links[o.SourceID]; (ok && l.Managed) || (!o.InScope && !o.Pending) || o.Err != nil || o.HardDeleted {
			continue
		}
		need = append(need, i)
	}
	out := make(map[string]plan.Lookup, len(need))
	if len(need) == 0 {
		return out, nil
	}
	if len(k.matchOrder) == 0 {
		return nil, fmt.Errorf("%w: no %s matching attribute is mapped", ErrAborted, k.name)
	}
	if len(need) > e.o.ListThreshold {
		idx, err := e.indexTarget(ctx, k)
		if err == nil {
			for _, i := range need {
				out[objs[i].SourceID] = idx.lookup(objs[i], k.matchOrder)
			}
			return out, nil
		}
		if quarantine.IsFatal(err) || quarantine.IsAbort(err) {
			return nil, err
		}
		e.log.Warn("listing the target failed; matching one query per object instead", zap.String("kind", k.name), zap.Error(err))
	}
	var mu sync.Mutex
	// A credentials or compliance failure would fail every lookup the same way: the first one stops
	// the matching (and the cycle), and the judge quarantines the job.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, i := range need {
		o := objs[i]
		g.Go(func() error {
			lk := query(gctx, k, o)
			if lk.Err != nil && (quarantine.IsFatal(lk.Err) || quarantine.IsAbort(lk.Err)) {
				return lk.Err
			}
			mu.Lock()
			out[o.SourceID] = lk
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// query looks one object up by its matching attributes; the first attribute that finds anything wins.
func query(ctx context.Context, k *objectKind, o plan.Object) plan.Lookup {
	for _, path := range k.matchOrder {
		v, ok := o.Values[path].(string)
		if !ok || v == "" {
			continue
		}
		found, err := k.tgt.Find(ctx, path, v, k.readPaths)
		if err != nil {
			return plan.Lookup{By: path, Err: fmt.Errorf("query target by %s: %w", path, err)}
		}
		if len(found) > 0 {
			return plan.Lookup{By: path, Candidates: found}
		}
	}
	return plan.Lookup{}
}

// targetIndex is one listing of the target's objects, indexed by the matching attributes.
type targetIndex map[string]map[string][]plan.Candidate

func (e *Engine) indexTarget(ctx context.Context, k *objectKind) (targetIndex, error) {
	idx := targetIndex{}
	for _, p := range k.matchOrder {
		idx[p] = map[string][]plan.Candidate{}
	}
	// Every matching path is a mapped path, so it is among the read paths.
	err := k.tgt.List(ctx, k.readPaths, func(c plan.Candidate) error {
		for _, p := range k.matchOrder {
			if s, isStr := c.Values[p].(string); isStr && s != "" {
				key := strings.ToLower(s)
				idx[p][key] = append(idx[p][key], c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list target %ss: %w", k.name, err)
	}
	return idx, nil
}

// lookup matches case-insensitively, as SCIM's caseExact=false default for userName and displayName
// says a target filter would.
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
