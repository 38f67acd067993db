package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/notify"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// Alerter sends failure emails; *notify.Notifier implements it. It returns the reason it notified
// about, which the engine keeps so that one quarantine gets one email.
type Alerter interface {
	Notify(ctx context.Context, e notify.Event, lastNotified string) (notifiedReason string, sent bool)
}

// RunOptions say how a cycle was started.
type RunOptions struct {
	// Initial forces an initial cycle.
	Initial bool
	// Manual marks a cycle an admin started (`scimsync sync`): it runs at once even while the job is
	// quarantined, and lifts the quarantine when it succeeds.
	Manual bool
}

// Result is what Run did.
type Result struct {
	// Ran is false when a scheduled cycle was skipped because the quarantine backoff says not yet.
	Ran bool
	// Why explains the decision to run or skip.
	Why    string
	Report *Report
	// Quarantine is the job's quarantine after the cycle; nil when not quarantined.
	Quarantine *store.Quarantine
	Event      quarantine.Event
}

// Run runs one cycle the way the provisioning service does: it respects the quarantine backoff,
// judges the outcome (quarantine entered, changed, lifted or stopped), sends the failure email, and
// records the cycle in the history.
func (e *Engine) Run(ctx context.Context, ro RunOptions) (*Result, error) {
	now := e.o.Now()
	q, err := e.st.Quarantine()
	if err != nil {
		return nil, fmt.Errorf("read quarantine: %w", err)
	}
	streak, err := e.st.AbortStreak()
	if err != nil {
		return nil, fmt.Errorf("read abort streak: %w", err)
	}
	res := &Result{Quarantine: q}
	res.Ran, res.Why = quarantine.Due(q, now, ro.Manual)
	if !res.Ran {
		return res, nil
	}
	rep, cycleErr := e.Cycle(ctx, ro.Initial)
	res.Report = rep
	// Why the cycle ran, its judgement and its emails belong to the cycle: their lines name it too.
	ctx, restore := e.forCycle(ctx, rep.CycleID)
	defer restore()
	if q != nil {
		e.log.Info(res.Why)
	}
	if errors.Is(cycleErr, context.Canceled) && ctx.Err() != nil {
		// Shutdown: nothing was learned about the target.
		return res, cycleErr
	}
	staged, err := e.st.StagedOps()
	if err != nil {
		return res, fmt.Errorf("read staged operations: %w", err)
	}
	tot := rep.Totals()
	out := quarantine.Outcome{
		Succeeded:       tot.Succeeded,
		Failed:          tot.Failed - rep.OtherFailed,
		ReferenceFailed: rep.OtherFailed,
		Escrowed:        rep.Escrowed,
		Fatal:           rep.Fatal,
		TooManyDeletes:  len(staged) > 0,
		Aborted:         cycleErr != nil && rep.Fatal == nil,
		Err:             cycleErr,
		Streak:          streak,
	}
	if cycleErr != nil && rep.Fatal == nil && quarantine.IsFatal(cycleErr) {
		out.Fatal, out.Aborted = cycleErr, false
	}
	next, ev := quarantine.Judge(q, out, now)
	res.Quarantine, res.Event = next, ev
	if err := e.st.SetAbortStreak(quarantine.NextStreak(out, now)); err != nil {
		e.log.Error("recording the aborted-cycle count failed", zap.Error(err))
	}
	if next == nil {
		if q != nil {
			e.log.Info("quarantine lifted", zap.String("reason", q.Reason))
		}
		if err := e.st.ClearQuarantine(); err != nil {
			return res, fmt.Errorf("clear quarantine: %w", err)
		}
	} else {
		e.log.Warn("job quarantined", zap.String("event", ev.String()), zap.String("reason", next.Reason),
			zap.Time("nextAttempt", quarantine.NextAttempt(*next)), zap.String("error", next.Error))
		e.alert(ctx, next, ev, rep, staged, cycleErr)
		if err := e.st.SetQuarantine(*next); err != nil {
			return res, fmt.Errorf("save quarantine: %w", err)
		}
	}
	cy := store.Cycle{ID: rep.CycleID, Kind: rep.Kind, Started: rep.Started, Finished: e.o.Now(),
		Created: tot.Created, Updated: tot.Updated, Disabled: tot.Disabled, Deleted: tot.Deleted, Unchanged: tot.Unchanged,
		Skipped: tot.Skipped, Failed: tot.Failed, Quarantined: next != nil}
	if cycleErr != nil {
		cy.Error = cycleErr.Error()
	}
	if err := e.st.AddCycle(cy); err != nil {
		e.log.Error("recording the cycle failed", zap.Error(err))
	}
	return res, cycleErr
}

// alert emails the admin about a quarantine: once when it begins, again when its reason changes, once
// when the job stops. The notifier decides from the reason last notified; a failed send is logged and
// retried at the next cycle, and never fails the cycle. cause is the cycle's error, if any.
func (e *Engine) alert(ctx context.Context, q *store.Quarantine, ev quarantine.Event, rep *Report, staged []store.StagedOp, cause error) {
	if e.o.Alerter == nil {
		return
	}
	host, _ := os.Hostname()
	n := notify.Event{Kind: notify.QuarantineEntered, Job: e.o.Job, Reason: q.Reason, ReasonText: q.Error, Since: q.SeriesBegan,
		NextAttempt: quarantine.NextAttempt(*q), Host: host, StatePath: e.o.StatePath, ConfigPath: e.o.ConfigPath,
		Threshold: e.o.DeletionThreshold, Staged: len(staged), TotalFailures: rep.TotalFailed(), Cause: cause}
	if n.Cause == nil {
		n.Cause = rep.Fatal
	}
	switch {
	case ev == quarantine.Stopped:
		n.Kind, n.NextAttempt = notify.JobStopped, notify.Event{}.NextAttempt
	case q.Reason == quarantine.ReasonTooManyDeletes:
		n.Kind = notify.DeletionThreshold
		n.Held = record.HeldObjects(e.st, staged[:min(len(staged), notify.MaxHeld)])
	case q.NotifiedReason != "" && q.NotifiedReason != q.Reason:
		n.Kind = notify.QuarantineReasonChanged
	}
	for _, f := range rep.Failures {
		n.Failures = append(n.Failures, notify.ObjectFailure{Identity: f.Identity, SourceID: f.SourceID, Op: f.Op,
			ErrorCode: record.FailureCode(f.Cause()), Error: f.Err})
	}
	if reason, sent := e.o.Alerter.Notify(ctx, n, q.NotifiedReason); sent {
		q.NotifiedReason = reason
	}
}

// AllowDeletes sends the disables and deletes the deletion threshold staged, then lifts the
// TooManyDeletes quarantine: the admin's "Allow deletes".
func (e *Engine) AllowDeletes(ctx context.Context) (done, failed int, err error) {
	ops, err := e.st.StagedOps()
	if err != nil {
		return 0, 0, fmt.Errorf("read staged operations: %w", err)
	}
	rep := &Report{CycleID: newID(), Started: e.o.Now(), Kind: summary.CycleAllowDeletes}
	ctx, restore := e.forCycle(ctx, rep.CycleID)
	defer restore()
	defer e.startLog(rep, nil)()
	var left []store.StagedOp
	for _, op := range ops {
		if err := e.applyStaged(ctx, rep, op); err != nil {
			e.log.Warn("a staged operation failed", zap.String("op", op.Op), zap.String("object", op.SourceID), zap.Error(err))
			failed++
			left = append(left, op)
			continue
		}
		done++
	}
	if err := e.st.ClearStaged(); err != nil {
		return done, failed, fmt.Errorf("clear staged operations: %w", err)
	}
	if len(left) > 0 {
		if err := e.st.StageOps(left...); err != nil {
			return done, failed, fmt.Errorf("keep failed staged operations: %w", err)
		}
		return done, failed, nil
	}
	if q, err := e.st.Quarantine(); err == nil && q != nil && q.Reason == quarantine.ReasonTooManyDeletes {
		if err := e.st.ClearQuarantine(); err != nil {
			return done, failed, fmt.Errorf("lift quarantine: %w", err)
		}
	}
	return done, failed, nil
}

func (e *Engine) applyStaged(ctx context.Context, rep *Report, op store.StagedOp) error {
	k := e.users
	if op.Kind == store.KindGroup {
		if e.groups == nil {
			return fmt.Errorf("group provisioning is off")
		}
		k = e.groups
	}
	a, ok, err := e.st.Link(op.Kind, op.SourceID)
	if err != nil {
		return fmt.Errorf("read link: %w", err)
	}
	if !ok || !a.Managed {
		return nil // already gone
	}
	c := plan.Change{SourceID: op.SourceID, Identity: record.UserName(a), TargetID: a.TargetID, Values: a.Values, Unmanage: op.Unmanage}
	if op.Kind == store.KindGroup {
		c.Identity = record.GroupName(a)
	}
	switch op.Op {
	case stagedDelete:
		c.Op = plan.Delete
	default:
		if k.policy.Active == "" {
			return fmt.Errorf("no active attribute is mapped; cannot disable")
		}
		c.Op = plan.Disable
		c.Attrs = []plan.AttrChange{{Path: k.policy.Active, Old: a.Values[k.policy.Active], New: false}}
		c.Values = plan.Merged(a.Values, map[string]any{k.policy.Active: false})
		c.Hash = plan.ValuesHash(c.Values)
	}
	na, err := e.applyOne(ctx, k, write{c: c, old: a, hadOld: true})
	if le, ok := e.logEntry(rep, k, c, err, false); ok {
		rep.AddLog(le)
	}
	if err != nil {
		return err
	}
	b := e.rec.Links(1)
	defer b.Close()
	if na == nil {
		b.Delete(op.Kind, op.SourceID)
	} else {
		b.Put(*na)
	}
	return b.Flush()
}
