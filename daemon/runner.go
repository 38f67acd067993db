// Package daemon runs many provisioning jobs in one process: each on its own cron schedule, at most
// a configured number of cycles at once, only the jobs this replica holds (a Claimer decides), and a
// reload that replaces the job list without touching the jobs that did not change.
//
// The Runner knows nothing about Graph, SCIM or state files: a job is a name, a schedule and a
// Cycler. That keeps it testable without a process (a fake scheduler fires ticks, a fake ticker
// drives the claim interval) and keeps package main to flags and wiring. The shape follows
// consul-template's runner (https://github.com/hashicorp/consul-template, manager/runner.go): the
// owner starts it, reads ErrCh and waits on DoneCh; SIGHUP hands it a new job list.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Cycler runs one cycle of one job. A cycle's own failures (an unreachable target, a quarantine) are
// the job's business: it logs, alerts and records them; the runner only counts on Cycle returning
// once ctx is cancelled.
type Cycler interface {
	Cycle(ctx context.Context) error
}

// Job is one job as the runner sees it.
type Job struct {
	// Name identifies the job across reloads (the job file's name, the `job` label and log field).
	Name string
	// Schedule is a standard cron spec or a descriptor such as "@every 40m".
	Schedule string
	// Version changes when the job's configuration does: a reload that brings another Version (or
	// Schedule) replaces the job; the same Version keeps it as it is, running cycle included.
	Version string
	Cycler  Cycler
}

// Claimer says which of the jobs this process may run now. With one machine every job is ours
// (Everything); with replicas sharing a database, the coordinator hands each replica its share.
type Claimer interface {
	Claim(ctx context.Context, jobs []string) (mine []string, err error)
}

// Everything is the Claimer of a single machine: every job is ours.
type Everything struct{}

// Claim returns every job.
func (Everything) Claim(_ context.Context, jobs []string) ([]string, error) { return jobs, nil }

// Scheduler calls fire on each tick of a job's schedule; it is robfig/cron in production and a
// hand-driven fake in tests.
type Scheduler interface {
	// Add schedules fire for the job; remove stops it, next is the time of the following tick.
	Add(job string, s cron.Schedule, fire func()) (remove func(), next func() time.Time)
}

// Ticker starts a ticker of period d; stop releases it.
type Ticker func(d time.Duration) (c <-chan time.Time, stop func())

// Options tune a Runner; the zero value runs every job, four at a time, on robfig/cron.
type Options struct {
	Claimer Claimer
	// MaxConcurrent is how many cycles (of different jobs) run at once; 0 means 4.
	MaxConcurrent int
	// ClaimInterval is how often the Claimer is asked again between scheduling passes; 0 means 10s.
	ClaimInterval time.Duration
	// MaxClaimInterval caps ClaimInterval (0: no cap): a claim renews the replica's leases, so it must
	// come several times per lease TTL whatever the flag or the daemon file asks.
	MaxClaimInterval time.Duration
	Scheduler        Scheduler
	Ticker           Ticker
}

// Defaults of Options.
const (
	DefaultMaxConcurrent = 4
	DefaultClaimInterval = 10 * time.Second
)

// ErrConfig marks a configuration that cannot run: a job list the runner refuses (a duplicate or
// empty name, a bad schedule), a folder without jobs, a metrics address that cannot be bound.
var ErrConfig = errors.New("invalid configuration")

// ClaimError is a failed Claim, sent on ErrCh; the runner starts no cycle until a Claim succeeds
// (none can be shown to be ours) and asks again on the next claim tick.
type ClaimError struct{ Err error }

func (e *ClaimError) Error() string { return "claim jobs: " + e.Err.Error() }
func (e *ClaimError) Unwrap() error { return e.Err }

// JobState is what the runner knows of one job, for /status and the metrics.
type JobState struct {
	Name    string
	Running bool
	// Mine is false when the Claimer gave the job to another replica.
	Mine bool
	// Next is the next scheduled tick (zero when unknown).
	Next    time.Time
	LastErr error
	Cycles  int
}

// Runner schedules and runs the jobs. Its loop goroutine owns all state; mu only lets Jobs read it.
type Runner struct {
	// ErrCh carries errors of the runner itself (a failed Claim); it never blocks the runner, so an
	// error nobody reads in time is dropped.
	ErrCh chan error
	// DoneCh is closed once the runner stopped and every cycle it started has returned.
	DoneCh chan struct{}

	opts    Options
	due     chan string
	ended   chan ended
	reloads chan reload
	pings   chan chan struct{}
	stop    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	jobs    map[string]*entry
	running map[string]context.CancelFunc
	queue   []string
	mine    map[string]bool
	errs    map[string]error
	cycles  map[string]int
	// own is the scheduler New started, stopped with the runner.
	own *Cron
	// claimErr is why the last Claim failed, nil when it succeeded.
	claimErr error
}

type entry struct {
	job    Job
	remove func()
	next   func() time.Time
}

type ended struct {
	name string
	err  error
}

type reload struct {
	jobs []Job
	done chan struct{}
}

// New checks the jobs and returns a Runner that has not started.
func New(jobs []Job, o Options) (*Runner, error) {
	if err := check(jobs); err != nil {
		return nil, err
	}
	if o.Claimer == nil {
		o.Claimer = Everything{}
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.ClaimInterval <= 0 {
		o.ClaimInterval = DefaultClaimInterval
	}
	if o.MaxClaimInterval > 0 {
		o.ClaimInterval = min(o.ClaimInterval, o.MaxClaimInterval)
	}
	var own *Cron
	if o.Scheduler == nil { // started by Start, so a runner never started leaves no goroutine
		own = NewCron()
		o.Scheduler = own
	}
	if o.Ticker == nil {
		o.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	r := &Runner{ErrCh: make(chan error, 16), DoneCh: make(chan struct{}), opts: o,
		due: make(chan string), ended: make(chan ended), reloads: make(chan reload), pings: make(chan chan struct{}),
		stop: make(chan struct{}),
		jobs: map[string]*entry{}, running: map[string]context.CancelFunc{}, mine: map[string]bool{},
		errs: map[string]error{}, cycles: map[string]int{}, own: own}
	r.mu.Lock()
	for _, j := range jobs {
		r.add(j)
	}
	r.mu.Unlock()
	return r, nil
}

// check refuses a job list the runner cannot tell apart or schedule.
func check(jobs []Job) error {
	seen := map[string]bool{}
	for i, j := range jobs {
		switch {
		case j.Name == "":
			return fmt.Errorf("%w: job %d has no name", ErrConfig, i+1)
		case seen[j.Name]:
			return fmt.Errorf("%w: two jobs are named %q", ErrConfig, j.Name)
		case j.Cycler == nil:
			return fmt.Errorf("%w: job %q has nothing to run", ErrConfig, j.Name)
		}
		seen[j.Name] = true
		if _, err := cron.ParseStandard(j.Schedule); err != nil {
			return fmt.Errorf("%w: job %q: schedule %q: %v", ErrConfig, j.Name, j.Schedule, err)
		}
	}
	return nil
}

// add schedules a job and queues its first cycle (a job runs at start, as a new job does on reload).
// The caller holds mu.
func (r *Runner) add(j Job) {
	s, _ := cron.ParseStandard(j.Schedule) // checked by check
	e := &entry{job: j}
	name := j.Name
	e.remove, e.next = r.opts.Scheduler.Add(name, s, func() { r.fire(name) })
	r.jobs[name] = e
	r.enqueue(name)
}

// fire is a schedule tick; it waits for the loop so that a tick is never lost, except after Stop.
func (r *Runner) fire(name string) {
	select {
	case r.due <- name:
	case <-r.stop:
	}
}

// enqueue queues a cycle unless one is already waiting: a tick during a wait is skipped, as a tick
// during a cycle queues the one cycle that follows it. The caller holds mu.
func (r *Runner) enqueue(name string) {
	if !slices.Contains(r.queue, name) {
		r.queue = append(r.queue, name)
	}
}

// Start runs the loop until ctx ends or Stop is called.
func (r *Runner) Start(ctx context.Context) {
	if r.own != nil {
		r.own.Start()
	}
	go r.loop(ctx)
}

// Stop cancels every running cycle; DoneCh closes once they returned.
func (r *Runner) Stop() { r.once.Do(func() { close(r.stop) }) }

// Reload replaces the job list: new names are added (and run at once), missing ones removed (their
// running cycle cancelled), changed ones replaced for their next cycle (a running cycle finishes with
// the old configuration), unchanged ones left alone. A list the runner refuses changes nothing.
func (r *Runner) Reload(jobs []Job) error {
	if err := check(jobs); err != nil {
		return err
	}
	rl := reload{jobs: jobs, done: make(chan struct{})}
	select {
	case r.reloads <- rl:
	case <-r.DoneCh:
		return errors.New("reload: the runner has stopped")
	}
	<-rl.done
	return nil
}

// Jobs is the state of every job, by name.
func (r *Runner) Jobs() []JobState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]JobState, 0, len(r.jobs))
	for name, e := range r.jobs {
		_, running := r.running[name]
		out = append(out, JobState{Name: name, Running: running, Mine: r.mine[name], Next: e.next(),
			LastErr: r.errs[name], Cycles: r.cycles[name]})
	}
	slices.SortFunc(out, func(a, b JobState) int { return compare(a.Name, b.Name) })
	return out
}

// Ping returns once the runner's loop answers, or ctx's error: the systemd watchdog is pinged only
// when it answers, so a loop stuck (in a Claim that never returns, say) gets the daemon restarted.
func (r *Runner) Ping(ctx context.Context) error {
	p := make(chan struct{})
	select {
	case r.pings <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.DoneCh:
		return errors.New("the runner has stopped")
	}
	<-p
	return nil
}

// Healthy is nil while the runner can run jobs, else why not (the last Claim failed), for /healthz.
func (r *Runner) Healthy() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claimErr != nil {
		return &ClaimError{Err: r.claimErr}
	}
	return nil
}

// Next is the job's next scheduled tick (zero for an unknown job).
func (r *Runner) Next(name string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.jobs[name]; ok {
		return e.next()
	}
	return time.Time{}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loop is the runner's only writer. Cycles run in their own goroutines and report back on ended,
// so a slow or stuck job holds one slot and nothing else.
func (r *Runner) loop(ctx context.Context) {
	claims, stopTicker := r.opts.Ticker(r.opts.ClaimInterval)
	defer func() {
		stopTicker()
		r.shutdown()
	}()
	r.pass(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case name := <-r.due:
			r.mu.Lock()
			if _, ok := r.jobs[name]; ok {
				r.enqueue(name)
			}
			r.mu.Unlock()
			r.pass(ctx, true)
		case e := <-r.ended:
			r.record(e)
			r.pass(ctx, false)
		case <-claims:
			r.pass(ctx, true)
		case p := <-r.pings:
			close(p)
		case rl := <-r.reloads:
			r.apply(rl.jobs)
			close(rl.done)
			r.pass(ctx, true)
		}
	}
}

// record notes the end of a cycle.
func (r *Runner) record(e ended) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, e.name)
	if _, ok := r.jobs[e.name]; ok {
		r.cycles[e.name]++
		r.errs[e.name] = e.err
	}
}

// shutdown cancels the running cycles and waits for them before closing DoneCh.
func (r *Runner) shutdown() {
	r.once.Do(func() { close(r.stop) })
	r.mu.Lock()
	for _, e := range r.jobs {
		e.remove()
	}
	for _, cancel := range r.running {
		cancel()
	}
	n := len(r.running)
	r.mu.Unlock()
	for ; n > 0; n-- {
		r.record(<-r.ended)
	}
	if r.own != nil {
		r.own.Stop()
	}
	close(r.DoneCh)
}

// apply swaps the job list (see Reload).
func (r *Runner) apply(jobs []Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := map[string]bool{}
	for _, j := range jobs {
		keep[j.Name] = true
		old, ok := r.jobs[j.Name]
		switch {
		case !ok:
			r.add(j)
		case old.job.Schedule != j.Schedule:
			old.remove()
			s, _ := cron.ParseStandard(j.Schedule)
			name := j.Name
			old.remove, old.next = r.opts.Scheduler.Add(name, s, func() { r.fire(name) })
			old.job = j
		default:
			old.job = j // a new Version runs from the next cycle on; the same one changes nothing
		}
	}
	for name, e := range r.jobs {
		if keep[name] {
			continue
		}
		e.remove()
		delete(r.jobs, name)
		delete(r.errs, name)
		delete(r.cycles, name)
		if cancel, ok := r.running[name]; ok {
			cancel()
		}
	}
	r.queue = slices.DeleteFunc(r.queue, func(n string) bool { return !keep[n] })
}

// pass starts the queued cycles that may run: the job is ours, not already running, and a slot is
// free. With claim set it first asks the Claimer, and cancels the cycles of jobs no longer ours.
func (r *Runner) pass(ctx context.Context, claim bool) {
	r.mu.Lock()
	waiting := len(r.queue) > 0 && len(r.running) < r.opts.MaxConcurrent
	r.mu.Unlock()
	if !claim && !waiting {
		return
	}
	if !r.claim(ctx) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var rest []string
	for _, name := range r.queue {
		e, ok := r.jobs[name]
		switch {
		case !ok || !r.mine[name]:
			// another replica runs it; its own schedule queues it again
		case r.running[name] != nil || len(r.running) >= r.opts.MaxConcurrent:
			rest = append(rest, name)
		default:
			r.start(ctx, e.job)
		}
	}
	r.queue = rest
}

// claim asks the Claimer which jobs are ours, queues those that just became ours and cancels the
// running cycles of the others; false
// when it failed (the error goes to ErrCh).
func (r *Runner) claim(ctx context.Context) bool {
	r.mu.Lock()
	names := make([]string, 0, len(r.jobs))
	for name := range r.jobs {
		names = append(names, name)
	}
	r.mu.Unlock()
	slices.Sort(names)
	mine, err := r.opts.Claimer.Claim(ctx, names)
	r.mu.Lock()
	r.claimErr = err
	r.mu.Unlock()
	if err != nil {
		select {
		case r.ErrCh <- &ClaimError{Err: err}:
		default:
		}
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.mine
	r.mine = map[string]bool{}
	for _, name := range mine {
		r.mine[name] = true
		if !was[name] {
			r.enqueue(name) // taken over (or ours again): run at once rather than at the next tick
		}
	}
	for name, cancel := range r.running {
		if !r.mine[name] {
			cancel()
		}
	}
	return true
}

// start runs one cycle in its own goroutine. The caller holds mu.
func (r *Runner) start(ctx context.Context, j Job) {
	cctx, cancel := context.WithCancel(ctx)
	r.running[j.Name] = cancel
	go func() {
		defer cancel()
		err := j.Cycler.Cycle(cctx)
		r.ended <- ended{name: j.Name, err: err}
	}()
}
