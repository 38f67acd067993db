package engine

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/fanout"
	"github.com/scimsync/scimsync/sync/managers"
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
func (e *Engine) linkReferences(ctx context.Context, rep *Report, ids []string, links map[string]store.Link, all, complete bool) (linked []string, err error) {
	if len(e.refs) == 0 || !e.o.Policy.Update {
		return nil, nil
	}
	work, err := managers.Changes(e.st, e.refs[0], ids, links, all, complete)
	if err != nil {
		return nil, err
	}
	return e.sendManagers(ctx, rep, work)
}

// sendManagers sends the manager changes, Concurrency at a time, and records each that succeeded.
func (e *Engine) sendManagers(ctx context.Context, rep *Report, work []managers.Change) (linked []string, err error) {
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
		err := e.users.tgt.Update(gctx, w.Link.TargetID, []plan.AttrChange{w.Attr})
		took := e.o.Now().Sub(start)
		defer e.done(1)
		e.outcome(plan.Update, err != nil)
		// Read and merge the stored values outside the lock: on PostgreSQL the read is a round trip.
		var rec store.Link
		var rerr error
		if err == nil {
			rec, rerr = managers.Linked(e.st, w, e.o.Now())
		}
		mu.Lock()
		defer mu.Unlock()
		prop := []store.Property{{Name: w.Attr.Path, Old: fmt.Sprint(orNil(w.Attr.Old)), New: fmt.Sprint(orNil(w.Attr.New))}}
		le := e.referenceEntry(rep, store.KindUser, w.Link.SourceID, record.UserName(w.Link), w.Link.TargetID, "link the manager", prop, err)
		le.DurationMs = took.Milliseconds()
		rep.AddLog(le)
		if err != nil {
			rep.OtherFailed++
			rep.Failures = append(rep.Failures, summary.NewFailure(summary.SubjectManager, w.Link.SourceID, record.UserName(w.Link), "link manager", err.Error(), err))
			e.log.Warn("linking the manager failed", zap.String("targetId", w.Link.TargetID), zap.Error(err))
			if quarantine.IsAbort(err) && abort == nil {
				abort = err
				return err // cancels the other links
			}
			return nil
		}
		if rerr != nil {
			e.log.Error("reading a link to record its manager failed; the next cycle sends it again", zap.Error(rerr))
			return nil
		}
		w.Link = rec
		rep.Linked++
		linked = append(linked, w.Link.SourceID)
		b.Put(w.Link)
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
