// Package summary is what a cycle reports: its counts per object type, its failures, its totals (the
// one place they are added up), and the plan of a dry run. The CLI, the status page, the cycle
// history, the judge and the failure email read it.
package summary

import (
	"time"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// The kinds of cycle a Report describes.
const (
	CycleInitial      = "initial"
	CycleIncremental  = "incremental"
	CycleOnDemand     = "on-demand"
	CycleAllowDeletes = "allow-deletes"
)

// Counts are the outcomes of one object type in a cycle. Adopted counts the objects matched
// (plan.Adopt), which is what every output calls them.
type Counts struct {
	Created, Adopted, Updated, Disabled, Deleted, Unchanged, Skipped, Failed int
}

// Add counts one planned or applied change.
func (c *Counts) Add(op plan.Op, failed bool) {
	switch {
	case failed:
		c.Failed++
	case op == plan.Create:
		c.Created++
	case op == plan.Adopt:
		c.Adopted++
	case op == plan.Update:
		c.Updated++
	case op == plan.Disable:
		c.Disabled++
	case op == plan.Delete:
		c.Deleted++
	case op == plan.Unchanged:
		c.Unchanged++
	default:
		c.Skipped++
	}
}

// Report summarises one cycle for the CLI, the status command and the failure email.
type Report struct {
	CycleID  string
	Kind     string
	Started  time.Time
	Finished time.Time
	// Counts are the users' outcomes (TotalFailed adds the groups', memberships' and managers').
	Counts
	// Groups are the groups' outcomes.
	Groups Counts
	// MembersAdded and MembersRemoved count group memberships changed in the target.
	MembersAdded, MembersRemoved int
	// OtherFailed counts failed membership and manager updates.
	OtherFailed int
	// Staged counts the disables and deletes the deletion threshold held back in this cycle.
	Staged int
	// Fatal is the credentials or compliance failure that stopped the cycle early, if any.
	Fatal error
	// Logged counts the provisioning-log entries of the cycle; the entries themselves go to the
	// sink LogTo set as they are made (the cycle's log writer), so a report stays small.
	Logged int
	log    LogSink
	// Failures lists the objects that failed, with their errors (all of them).
	Failures []Failure
	// Read is the number of source users read.
	Read int
	// Linked counts manager references set or cleared.
	Linked int
	// Escrowed is the number of objects waiting in escrow after the cycle.
	Escrowed int
	// Planned holds the plan of a dry run.
	Planned []plan.Change
	// PlannedMembers holds the member changes of a dry run, by group (counted in MembersAdded and
	// MembersRemoved).
	PlannedMembers []MemberChange
}

// LogSink takes a cycle's provisioning-log entries as they are made; *record.LogWriter is one.
type LogSink interface {
	Add(le store.LogEntry)
}

// LogTo sends the report's provisioning-log entries to sink from now on.
func (r *Report) LogTo(sink LogSink) { r.log = sink }

// AddLog counts one provisioning-log entry and hands it to the sink (none: counted only). Like the
// report's other fields it is not safe for concurrent use: callers hold the lock they count under.
func (r *Report) AddLog(le store.LogEntry) {
	r.Logged++
	if r.log != nil {
		r.log.Add(le)
	}
}

// Subject is what a failure is about: an object, or a reference it holds.
type Subject string

// The subjects of failures. A membership failure is escrowed under its group, a manager failure
// under its user.
const (
	SubjectUser       Subject = Subject(store.KindUser)
	SubjectGroup      Subject = Subject(store.KindGroup)
	SubjectMembership Subject = "membership"
	SubjectManager    Subject = "manager"
)

// Failure is one object that could not be provisioned in a cycle.
type Failure struct {
	Kind     Subject
	SourceID string
	Identity string
	Op       string
	Err      string
	err      error
}

// NewFailure is a failure; text describes it, cause is the error behind it (nil for a plan-level
// failure such as a mapping error or a failed match).
func NewFailure(kind Subject, sourceID, identity, op, text string, cause error) Failure {
	return Failure{Kind: kind, SourceID: sourceID, Identity: identity, Op: op, Err: text, err: cause}
}

// Cause returns the error behind the failure, for classification (nil for plan-level failures).
func (f Failure) Cause() error { return f.err }

// Totals are a cycle's outcomes over users, groups and references: what the cycle history, the
// judge and the summaries show.
type Totals struct {
	// Created, Updated (matched included), Disabled, Deleted, Unchanged and Skipped count objects.
	Created, Updated, Disabled, Deleted, Unchanged, Skipped int
	// Failed is every failure: users, groups, memberships and manager links.
	Failed int
	// Writes counts the changes sent to the target, memberships included; Succeeded adds the
	// objects that needed nothing.
	Writes, Succeeded int
}

// Totals adds the cycle's counts up; every total of a report is computed here and nowhere else.
func (r *Report) Totals() Totals {
	u, g := r.Counts, r.Groups
	t := Totals{
		Created:   u.Created + g.Created,
		Updated:   u.Updated + u.Adopted + g.Updated + g.Adopted,
		Disabled:  u.Disabled + g.Disabled,
		Deleted:   u.Deleted + g.Deleted,
		Unchanged: u.Unchanged + g.Unchanged,
		Skipped:   u.Skipped + g.Skipped,
		Failed:    u.Failed + g.Failed + r.OtherFailed,
	}
	t.Writes = t.Created + t.Updated + t.Disabled + t.Deleted + r.MembersAdded + r.MembersRemoved
	t.Succeeded = t.Writes + t.Unchanged
	return t
}

// TotalFailed is every failure of the cycle: users, groups, memberships and manager links.
func (r *Report) TotalFailed() int { return r.Totals().Failed }

// MemberChange is the member changes a dry run would send to one group, members named by userName.
type MemberChange struct {
	Group, TargetID string
	Add, Remove     []string
}
