package main

import (
	"maps"
	"sync"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
)

// storedCycles is how many past cycles the daemon keeps from the state file for the status page.
const storedCycles = 50

// liveStatus is the daemon's status. The engine reports the running cycle into it (it is the job's
// engine.Progress), and the daemon copies what the state file says after each cycle, so /status and
// `scimsync status` answer from memory: the state file is locked while a cycle runs.
type liveStatus struct {
	mu     sync.Mutex
	cfg    *config.Config
	stored *statusSnapshot // the state file after the last cycle; nil until first read
	// storedErr is why the state file could not be read the last time, "" when it could.
	storedErr string

	running bool
	started time.Time
	cycleID string
	phase   string
	phases  map[string]phaseStatus
	counts  map[plan.Op]int
	failed  int
	next    time.Time
	lastOK  time.Time
	saved   *liveStatus // the idle state before a cycle that turned out to be skipped
}

func newLiveStatus(cfg *config.Config) *liveStatus {
	return &liveStatus{cfg: cfg, phase: phaseIdle, phases: map[string]phaseStatus{}, counts: map[plan.Op]int{}}
}

// setConfig follows a reloaded configuration (the state path cannot change without a restart).
func (l *liveStatus) setConfig(cfg *config.Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// setNext records when the schedule runs the next cycle.
func (l *liveStatus) setNext(t time.Time) {
	l.mu.Lock()
	l.next = t
	l.mu.Unlock()
}

// begin marks a cycle as started: every phase pending, counts at zero.
func (l *liveStatus) begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.saved = &liveStatus{phase: l.phase, phases: l.phases, counts: l.counts, failed: l.failed, started: l.started, cycleID: l.cycleID}
	l.running, l.started, l.cycleID, l.phase, l.failed = true, time.Now(), "", engine.PhaseReading, 0
	l.phases, l.counts = map[string]phaseStatus{}, map[plan.Op]int{}
	for _, p := range engine.Phases {
		l.phases[p] = phaseStatus{Label: phaseLabel(p), State: "pending"}
	}
}

// Start is engine.Progress: the phase before it is done.
func (l *liveStatus) Start(phase string, total int) {
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
	l.phases[phase] = phaseStatus{Label: phaseLabel(phase), State: "running", Total: total}
}

// Done is engine.Progress: n more units of the current phase are done.
func (l *liveStatus) Done(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.phases[l.phase]; ok && l.running {
		p.Done += n
		l.phases[l.phase] = p
	}
}

// Outcome is engine.Outcomes: one object's result, for the counts so far.
func (l *liveStatus) Outcome(op plan.Op, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed {
		l.failed++
	} else {
		l.counts[op]++
	}
}

// end closes the cycle begun last. A cycle that did not run (quarantined, state in use) leaves the
// page as it was before.
func (l *liveStatus) end(res *engine.Result, err error) {
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
	l.phase = phaseIdle
	if res.Report != nil {
		l.cycleID = res.Report.CycleID
		if err == nil && !res.Report.Finished.IsZero() {
			l.lastOK = res.Report.Finished
		}
	}
}

// refresh copies the stored part of the status from the state file; on failure the last copy stays
// and the error is shown next to it.
func (l *liveStatus) refresh(now time.Time) {
	l.mu.Lock()
	cfg := l.cfg
	l.mu.Unlock()
	if !stateExists(cfg) {
		return // no cycle has run yet: nothing to show, and nothing wrong
	}
	s, err := readStateStatus(cfg, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.storedErr = err.Error()
		return
	}
	l.stored, l.storedErr = s, ""
}

// readStateStatus opens the state file read-only for one snapshot.
func readStateStatus(cfg *config.Config, now time.Time) (*statusSnapshot, error) {
	st, err := openState(cfg, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return readStatus(cfg, st, storedCycles, now)
}

// snapshot is the status now, with at most n past cycles.
func (l *liveStatus) snapshot(n int, now time.Time) *statusSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s statusSnapshot
	if l.stored != nil {
		s = *l.stored
	} else {
		s = statusSnapshot{Job: l.cfg.Name, Config: l.cfg.File, StatePath: l.cfg.StatePath, Status: "Active", NextKind: "initial (no watermark)",
			Escrows: []escrowStatus{}, StagedOps: []stagedStatus{}, Cycles: []cycleStatus{}}
	}
	s.Job, s.Config = l.cfg.Name, l.cfg.File
	s.From, s.Now, s.StateError = fromDaemon, now.UTC(), l.storedErr
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
