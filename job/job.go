// Package job wires one provisioning job from its configuration: the Graph reader, the SCIM client, the
// failure emails, the state (a bbolt file, or rows in PostgreSQL under a lease, shared by replicas) and
// the engine that runs a cycle over them. Package main turns flags into calls of this package; the
// daemon runs its jobs through it.
package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/logctx"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/targetauth"
)

// Job is one configured provisioning job with its live parts.
type Job struct {
	// leaseLost is the open state's takeover signal (a PostgreSQL lease); nil for a state file.
	leaseLost <-chan struct{}

	cfg    *config.Config
	log    *zap.Logger
	reader *graph.Reader
	target *scimclient.Client
	// objects is the target in the engine's terms, made once (with SCIM Bulk allowed when target.bulk
	// is on), so the target's ServiceProviderConfig is read once per job, not once per cycle.
	objects engine.Target
	// grant is the target's authorization code token source, nil for other auth types; it refreshes
	// through the state file the cycle has open.
	grant    *targetauth.AuthorizationCode
	alerter  engine.Alerter
	progress engine.Progress
	// dryRun makes the engine plan without sending or recording anything.
	dryRun bool
}

// Options are what a command adds to a job file.
type Options struct {
	Logger *zap.Logger
	// Progress watches a cycle's phases (a terminal's progress bar, the daemon's status); nil for none.
	Progress engine.Progress
	// UserAgent names scimsync and its version on every Graph and SCIM request.
	UserAgent string
	// DryRun plans without sending or recording anything.
	DryRun bool
}

// Config is the job's configuration.
func (j *Job) Config() *config.Config { return j.cfg }

// Logger is the job's logger.
func (j *Job) Logger() *zap.Logger { return j.log }

// Target is the job's SCIM client: its request counts feed the metrics and the demo's summary.
func (j *Job) Target() *scimclient.Client { return j.target }

// Open wires a job: Graph, the target, the failure emails. The state is opened per cycle
// (Job.WithEngine), so `scimsync status`, `logs` and a manual `sync` can use it between the daemon's
// cycles.
func Open(cfg *config.Config, o Options) (*Job, error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	j := &Job{cfg: cfg, log: log, progress: o.Progress, dryRun: o.DryRun}
	var err error
	if j.reader, err = NewReader(cfg, log, o.UserAgent); err != nil {
		return nil, configError(err)
	}
	if j.target, j.grant, err = NewTarget(cfg, log, o.UserAgent); err != nil {
		return nil, configError(err)
	}
	// The client's compatibility mode and learned dialect stay behind its users and groups.
	j.objects = engine.Target{Users: target.Users(j.target), Groups: target.Groups(j.target)}
	if cfg.Target.Bulk {
		users, groups := target.WithBulk(j.target)
		j.objects = engine.Target{Users: users, Groups: groups}
	}
	if cfg.Notify != nil {
		n, err := NewNotifier(cfg, log)
		if err != nil {
			return nil, err
		}
		j.alerter = n
	}
	return j, nil
}

// OpenState opens the job's state (its bbolt file, or its rows in the PostgreSQL database), turning a
// lock or a lease held by another scimsync into a KindAborted error (exit code 3).
func OpenState(cfg *config.Config, readOnly bool) (store.State, error) {
	var st store.State
	var err error
	if cfg.StateDatabase != nil {
		st, err = openDatabaseState(cfg, readOnly)
	} else {
		st, err = store.Open(cfg.StatePath, store.Options{ReadOnly: readOnly})
	}
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, abortError(fmt.Errorf("%w (a cycle is running; try again when it ends)", err))
		}
		if errors.Is(err, fs.ErrNotExist) && readOnly {
			return nil, abortError(fmt.Errorf("no state yet at %s: no cycle has run", cfg.StatePath))
		}
		return nil, abortError(fmt.Errorf("open state: %w", err))
	}
	return st, nil
}

// WithEngine opens the state, builds the engine and runs fn; the state is closed afterwards. Every
// cycle (and provision, allow-deletes) starts here, so this is where the SCIM client's circuit breaker
// is closed again: a target that was unreachable in the last cycle gets a fresh chance in this one.
func (j *Job) WithEngine(fn func(*engine.Engine) error) error {
	st, err := OpenState(j.cfg, false)
	if err != nil {
		return err
	}
	defer func() { j.closeState(st, err) }()
	defer bindGrant(j.grant, j.cfg, st)()
	j.leaseLost = nil
	if l, ok := st.(interface{ LeaseLost() <-chan struct{} }); ok {
		j.leaseLost = l.LeaseLost()
	}
	j.target.ResetBreaker()
	stored, err := j.seedDialect(st)
	if err != nil {
		return err
	}
	var alerter engine.Alerter
	if j.alerter != nil {
		alerter = oneCause{next: j.alerter, log: j.log}
	}
	o := engineOptions(j.cfg, j.log, j.progress, alerter)
	o.DryRun = j.dryRun
	err = fn(engine.New(j.reader, j.objects, st, o))
	if derr := j.keepDialect(st, stored); derr != nil {
		// The lesson is learned again next time; the cycle's own outcome matters more.
		j.log.Error("could not record the target's dialect", zap.Error(derr))
	}
	return err
}

// compacter is a state that can give back the space its writes left unused (a bbolt file).
type compacter interface {
	Compact(p store.CompactPolicy) (store.CompactResult, error)
}

// closeState compacts a state file whose cycle left much of it unused (store.Compact decides), then
// closes it. A failed compaction leaves the file as it was and never fails the cycle; a damaged file
// was reported by the cycle already and is left alone.
func (j *Job) closeState(st store.State, cycleErr error) {
	if c, ok := st.(compacter); ok && !j.dryRun && !errors.Is(cycleErr, store.ErrCorrupt) {
		// Compact folds the journal, measures every bucket and may rewrite the file, reading it through
		// its mapping, while the runtime still holds the heap the cycle grew (it returns it to the
		// system only slowly): giving the heap back first keeps the two from adding up in the process's
		// peak memory (docs/performance.md#memory). The cycle's data is garbage by now, so the
		// collection costs little.
		debug.FreeOSMemory()
		res, err := c.Compact(store.CompactPolicy{})
		switch {
		case err != nil:
			j.log.Warn("could not compact the state file; it stays as it was", zap.Error(err))
		case res.Compacted:
			j.log.Info("compacted the state file", zap.Int64("bytesBefore", res.Before), zap.Int64("bytesAfter", res.After))
		}
	}
	_ = st.Close()
}

// seedDialect gives the client what earlier cycles learned about this target (see
// scimclient.Dialect), so a restarted process sends the accepted shapes at once. A dialect learned
// from another target URL is dropped: it says nothing about this one. It returns the stored dialect
// that still applies, nil when none.
func (j *Job) seedDialect(st store.State) (*store.TargetDialect, error) {
	d, err := st.TargetDialect()
	if err != nil {
		return nil, abortError(err)
	}
	if d == nil {
		return nil, nil
	}
	if d.TargetURL != j.target.BaseURL() {
		if j.dryRun {
			return nil, nil
		}
		j.log.Info("the target URL changed; forgetting the dialect learned from the previous one",
			zap.String("previous", d.TargetURL), zap.String("dialect", scimclient.Dialect{ElementAdds: d.ElementAdds}.String()))
		if err := st.ClearTargetDialect(); err != nil {
			return nil, abortError(err)
		}
		return nil, nil
	}
	j.target.SetDialect(scimclient.Dialect{ElementAdds: d.ElementAdds})
	return d, nil
}

// keepDialect records a dialect the client learned during the cycle, so it outlives the process.
func (j *Job) keepDialect(st store.State, stored *store.TargetDialect) error {
	d := j.target.Dialect()
	if j.dryRun || !d.ElementAdds || (stored != nil && stored.ElementAdds) {
		return nil
	}
	return st.SetTargetDialect(store.TargetDialect{TargetURL: j.target.BaseURL(), ElementAdds: true, LearnedAt: time.Now().UTC()})
}

func engineOptions(cfg *config.Config, log *zap.Logger, progress engine.Progress, alerter engine.Alerter) engine.Options {
	o := engine.Options{
		Users:              cfg.Users.Table,
		UserScoping:        cfg.Users.Scoping,
		MemberBatchSize:    cfg.Groups.MemberBatchSize,
		Scope:              cfg.Scope,
		ServicePrincipalID: cfg.Source.ServicePrincipalID,
		Policy: plan.Policy{
			Create: cfg.Actions.Create, Update: cfg.Actions.Update, Delete: cfg.Actions.Delete,
			SkipOutOfScopeDeletions: cfg.SkipOutOfScopeDeletions,
		},
		Concurrency:       max(cfg.Target.Concurrency, cfg.Target.MaxConcurrency), // adaptive: the client limits
		Fingerprint:       cfg.Fingerprint(),
		DeletionThreshold: cfg.DeletionThreshold,
		Env:               &mapping.Env{},
		Logger:            log,
		Progress:          progress,
		Job:               cfg.Name,
		StatePath:         cfg.StatePath,
		ConfigPath:        cfg.File,
	}
	if alerter != nil {
		o.Alerter = alerter
	}
	if cfg.Groups.Enabled {
		o.Groups, o.GroupScoping = cfg.Groups.Table, cfg.Groups.Scoping
	}
	return o
}

// Run runs one cycle through the engine's quarantine-aware Run and logs its summary.
func (j *Job) Run(ctx context.Context, ro engine.RunOptions) (res *engine.Result, err error) {
	defer func() { j.watchHealth(ctx, res, err) }()
	err = j.WithEngine(func(e *engine.Engine) error {
		cctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if lost := j.leaseLost; lost != nil {
			go func() {
				select {
				case <-lost:
					j.log.Error("another replica took this job's lease over; stopping the cycle")
					cancel(errLeaseLost)
				case <-cctx.Done():
				}
			}()
		}
		var err error
		res, err = e.Run(cctx, ro)
		if cause := context.Cause(cctx); errors.Is(cause, store.ErrLeaseLost) {
			return abortError(cause)
		}
		return err
	})
	log := j.log
	if res != nil && res.Report != nil && res.Report.CycleID != "" {
		// The outcome's lines and the health emails sent after it (the deferred watchHealth reads ctx)
		// belong to the cycle.
		log = log.With(zap.String("cycle", res.Report.CycleID))
		ctx = logctx.With(ctx, zap.String("cycle", res.Report.CycleID))
	}
	if res == nil || !res.Ran {
		if res != nil {
			log.Info("cycle skipped", zap.String("why", res.Why))
		}
		if msg, ok := DamagedMessage(err, j.cfg.File); ok {
			log.Error("no cycle can run: "+msg, zap.Error(err))
			j.alertDamaged(ctx, err)
		}
		return res, err
	}
	if err != nil {
		if msg, ok := DamagedMessage(err, j.cfg.File); ok {
			log.Error("cycle failed: "+msg, zap.Error(err))
		} else {
			log.Error("cycle failed", zap.Error(err))
		}
		j.alertDamaged(ctx, err)
	}
	if rep := res.Report; rep != nil && rep.Finished.After(rep.Started) {
		log.Info("cycle finished",
			zap.String("cycleKind", rep.Kind), zap.Int("read", rep.Read), zap.Int("created", rep.Created),
			zap.Int("matched", rep.Adopted), zap.Int("updated", rep.Updated), zap.Int("disabled", rep.Disabled),
			zap.Int("deleted", rep.Deleted), zap.Int("unchanged", rep.Unchanged), zap.Int("skipped", rep.Skipped),
			zap.Int("groupsCreated", rep.Groups.Created), zap.Int("groupsDeleted", rep.Groups.Deleted),
			zap.Int("membersAdded", rep.MembersAdded), zap.Int("membersRemoved", rep.MembersRemoved),
			zap.Int("staged", rep.Staged), zap.Int("failed", rep.TotalFailed()), zap.Duration("took", rep.Finished.Sub(rep.Started)))
	}
	return res, err
}

// Cycle runs one manual cycle and returns its report: the demo's and the tests' entry point.
func (j *Job) Cycle(ctx context.Context, initial bool) (*engine.Report, error) {
	res, err := j.Run(ctx, engine.RunOptions{Initial: initial, Manual: true})
	if res == nil || res.Report == nil {
		if err == nil {
			err = fmt.Errorf("the cycle did not run")
		}
		return &engine.Report{}, err
	}
	return res.Report, err
}
