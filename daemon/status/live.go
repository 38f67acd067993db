package status

import (
	"maps"
	"sync"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
)

// StoredCycles is how many past cycles the daemon keeps from the state file for the status page.
const StoredCycles = 50

// Live is the daemon's status. The engine reports the running cycle into it (it is the job's
// engine.Progress), and the daemon copies what the state file says after each cycle, so /status and
// `scimsync status` answer from memory: the state file is locked while a cycle runs.
type Live struct {
	mu     sync.Mutex
	cfg    *config.Config
	stored *Snapshot // the state file after the last cycle; nil until first read
	// storedErr is why the state file could not be read the last time, "" when it could.
	storedErr string

	running bool
	started time.Time
	cycleID string
	phase   string
	phases  map[string]PhaseStatus
	counts  map[plan.Op]int
	failed  int
	next    time.Time
	lastOK  time.Time
	saved   *Live // the idle state before a cycle that turned out to be skipped
	// read reads the job's stored status (StoredCycles cycles); nil, nil when there is none yet.
	read Reader
}

// Reader reads a job's stored status, opening its state read-only; it returns nil, nil when no
// cycle has run yet (a fresh install is not an error).
type Reader func(cfg *config.Config, now time.Time) (*Snapshot, error)

// NewLive starts the status of a job; read is how it copies the state after each cycle.
func NewLive(cfg *config.Config, read Reader) *Live {
	return &Live{cfg: cfg, phase: PhaseIdle, phases: map[string]PhaseStatus{}, counts: map[plan.Op]int{}, read: read}
}

// SetConfig follows a reloaded configuration (the state path cannot change without a restart).
func (l *Live) SetConfig(cfg *config.Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// SetNext records when the schedule runs the next cycle.
func (l *Live) SetNext(t time.Time) {
	l.mu.Lock()
	l.next = t
	l.mu.Unlock()
}

// Begin marks a cycle as started: every phase pending, counts at zero.
func (l *Live) Begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.saved = &Live{phase: l.phase, phases: l.phases, counts: l.counts, failed: l.failed, started: l.started, cycleID: l.cycleID}
	l.running, l.started, l.cycleID, l.phase, l.failed = true, time.Now(), "", engine.PhaseReading, 0
	l.phases, l.counts = map[string]PhaseStatus{}, map[plan.Op]int{}
	for _, p := range engine.Phases {
		l.phases[p] = PhaseStatus{Label: PhaseLabel(p), State: "pending"}
	}
}

// Start is engine.Progress: the phase before it is done.
func (l *Live) Start(phase string, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		return
	}
	if cur, ok := l.phases[l.phase]; ok && cur.State == "running" {
		cur.State = "done"
		l.phases[l.phase] = cur
	}
	l.phase = phase
	l.phases[phase] = PhaseStatus{Label: PhaseLabel(phase), State: "running", Total: total}
}

// Done is engine.Progress: n more units of the current phase are done.
func (l *Live) Done(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.phases[l.phase]; ok && l.running {
		p.Done += n
		l.phases[l.phase] = p
	}
}

// Outcome is engine.Outcomes: one object's result, for the counts so far.
func (l *Live) Outcome(op plan.Op, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed {
		l.failed++
	} else {
		l.counts[op]++
	}
}

// End closes the cycle begun last. A cycle that did not run (quarantined, state in use) leaves the
// page as it was before.
func (l *Live) End(res *engine.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = false
	if res == nil || !res.Ran {
		if s := l.saved; s != nil {
			l.phase, l.phases, l.counts, l.failed, l.started, l.cycleID = s.phase, s.phases, s.counts, s.failed, s.started, s.cycleID
		}
		return
	}
	end := "done"
	if err != nil {
		end = "stopped"
	}
	for p, ps := range l.phases {
		switch ps.State {
		case "running":
			ps.State = end
		case "pending":
			ps.State = "not run"
		}
		l.phases[p] = ps
	}
	l.phase = PhaseIdle
	if res.Report != nil {
		l.cycleID = res.Report.CycleID
		if err == nil && !res.Report.Finished.IsZero() {
			l.lastOK = res.Report.Finished
		}
	}
}

// Refresh copies the stored part of the status from the state file; on failure the last copy stays
// and the error is shown next to it.
func (l *Live) Refresh(now time.Time) {
	l.mu.Lock()
	cfg := l.cfg
	l.mu.Unlock()
	s, err := l.read(cfg, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.storedErr = err.Error()
	case s != nil:
		l.stored, l.storedErr = s, ""
	}
}

// Snapshot is the status now, with at most n past cycles.
func (l *Live) Snapshot(n int, now time.Time) *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Snapshot
	if l.stored != nil {
		s = *l.stored
	} else {
		s = Snapshot{Job: l.cfg.Name, Config: l.cfg.File, StatePath: l.cfg.StatePath, Status: "Active", NextKind: "initial (no watermark)",
			Escrows: []escrowStatus{}, StagedOps: []stagedStatus{}, Cycles: []cycleStatus{}}
	}
	s.Job, s.Config = l.cfg.Name, l.cfg.File
	s.From, s.Now, s.StateError = FromDaemon, now.UTC(), l.storedErr
	s.Cycles = s.Cycles[:min(len(s.Cycles), max(n, 0))]
	s.Phase, s.Running, s.CycleID = l.phase, l.running, l.cycleID
	if !l.started.IsZero() {
		t := l.started.UTC()
		s.StartedAt = &t
	}
	s.Phases = maps.Clone(l.phases)
	s.Created, s.Matched, s.Updated = l.counts[plan.Create], l.counts[plan.Adopt], l.counts[plan.Update]
	s.Disabled, s.Deleted, s.Failed = l.counts[plan.Disable], l.counts[plan.Delete], l.failed
	if !l.next.IsZero() {
		t := l.next.UTC()
		s.NextCycle = &t
	}
	if !l.lastOK.IsZero() && (s.LastSuccess == nil || l.lastOK.After(*s.LastSuccess)) {
		t := l.lastOK.UTC()
		s.LastSuccess = &t
	}
	return &s
}
