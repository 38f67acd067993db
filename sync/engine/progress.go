package engine

import (
	"github.com/scimsync/scimsync/sync/members"
	"github.com/scimsync/scimsync/sync/plan"
)

// The phases of a cycle, in the order they run, as passed to Progress.Start. A phase with no work may
// be reported with a total of 0, or not at all (groups, memberships and managers when off).
const (
	PhaseReading     = "reading"     // reading Graph: users, groups, assignments (total unknown: 0)
	PhaseMatching    = "matching"    // scoping, mapping and matching the users read to target accounts
	PhaseUsers       = "users"       // creating, updating, disabling and deleting users
	PhaseGroups      = "groups"      // the same for groups
	PhaseMemberships = members.Phase // group members, one unit per group
	PhaseManagers    = "managers"    // manager references, one unit per user
)

// Phases lists the phases in the order a cycle runs them.
var Phases = []string{PhaseReading, PhaseMatching, PhaseUsers, PhaseGroups, PhaseMemberships, PhaseManagers}

// Progress receives a cycle's progress, for a terminal progress bar or the daemon's live status: each
// phase as it starts with the number of units it will process (0 when unknown), then units done.
type Progress interface {
	Start(phase string, total int)
	Done(n int)
}

// Outcomes is what a Progress may also implement to be told each object's outcome as it is applied,
// so the live status can say "120 created, 3 failed so far" before the cycle's report exists.
// Membership and manager failures arrive as failed updates.
type Outcomes interface {
	Outcome(op plan.Op, failed bool)
}

func (e *Engine) phase(name string, total int)    { progressOf(e.o.Progress).Start(name, total) }
func (e *Engine) done(n int)                      { progressOf(e.o.Progress).Done(n) }
func (e *Engine) outcome(op plan.Op, failed bool) { progressOf(e.o.Progress).Outcome(op, failed) }

// progressOf is p as the steps' progress, which every step may call: without a Progress it reports
// nothing, and outcomes go only to a Progress that implements Outcomes.
func progressOf(p Progress) progressSink { return progressSink{p} }

type progressSink struct{ p Progress }

func (s progressSink) Start(phase string, total int) {
	if s.p != nil {
		s.p.Start(phase, total)
	}
}

func (s progressSink) Done(n int) {
	if s.p != nil {
		s.p.Done(n)
	}
}

func (s progressSink) Outcome(op plan.Op, failed bool) {
	if o, ok := s.p.(Outcomes); ok {
		o.Outcome(op, failed)
	}
}
