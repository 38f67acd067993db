// Package status is what `scimsync status`, /status and /status.json show of a job: the cycle in
// progress (Live, fed by the engine), the stored state (Read), their text and HTML renderings, and the
// local socket through which the CLI asks the running daemon (Ask).
package status

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/quarantine"
)

// Snapshot is everything `scimsync status`, `status -o json`, /status and /status.json show, in
// one shape whether it comes from the running daemon (live, from memory) or from the state file (no
// daemon runs). Field names are the JSON contract documented in docs/operations.md.
type Snapshot struct {
	Job        string    `json:"job"`
	Config     string    `json:"config"`
	StatePath  string    `json:"statePath"`
	From       string    `json:"from"` // FromDaemon or FromStateFile
	Now        time.Time `json:"now"`
	StateError string    `json:"stateError,omitempty"`
	// Lease is who holds the job's lease, for a state in PostgreSQL (statuslease.go).
	Lease *Lease `json:"lease,omitempty"`
	// Auth describes the target's authentication (bearer, client credentials, or the authorization's state).
	Auth string `json:"auth,omitempty"`

	// Phase is "idle" or the phase the running cycle is in (engine.Phases).
	Phase     string                 `json:"phase"`
	Running   bool                   `json:"running"`
	CycleID   string                 `json:"cycleId,omitempty"`
	StartedAt *time.Time             `json:"startedAt,omitempty"`
	Phases    map[string]PhaseStatus `json:"phases"`
	// The counts of the running cycle so far, or of the daemon's last cycle when idle.
	Created  int `json:"created"`
	Matched  int `json:"matched"`
	Updated  int `json:"updated"`
	Disabled int `json:"disabled"`
	Deleted  int `json:"deleted"`
	Failed   int `json:"failed"`

	NextCycle   *time.Time `json:"nextCycle,omitempty"`
	NextKind    string     `json:"nextKind"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`

	Status       string            `json:"status"` // Active, Quarantine or Stopped
	Quarantine   *quarantineStatus `json:"quarantine,omitempty"`
	Aborted      *abortStatus      `json:"aborted,omitempty"`
	LinkedUsers  int               `json:"linkedUsers"`
	LinkedGroups int               `json:"linkedGroups"`
	Dialect      *dialectStatus    `json:"dialect,omitempty"`
	Escrows      []escrowStatus    `json:"escrows"`
	Staged       int               `json:"staged"`
	StagedOps    []stagedStatus    `json:"stagedOps"`
	Cycles       []cycleStatus     `json:"cycles"`
}

// The stored records as the status shows them, in the JSON casing of the rest of the snapshot.
type (
	abortStatus struct {
		Count     int       `json:"count"`
		Since     time.Time `json:"since"`
		LastError string    `json:"lastError"`
	}
	dialectStatus struct {
		TargetURL   string    `json:"targetUrl"`
		ElementAdds bool      `json:"elementAdds"`
		LearnedAt   time.Time `json:"learnedAt"`
	}
	escrowStatus struct {
		Kind       string    `json:"kind"`
		SourceID   string    `json:"sourceId"`
		Op         string    `json:"op"`
		Attempts   int       `json:"attempts"`
		FirstFail  time.Time `json:"firstFailed"`
		NextRetry  time.Time `json:"nextRetry"`
		ErrorClass string    `json:"errorClass"`
		Error      string    `json:"error"`
	}
	stagedStatus struct {
		Kind     string    `json:"kind"`
		SourceID string    `json:"sourceId"`
		TargetID string    `json:"targetId"`
		Op       string    `json:"op"`
		StagedAt time.Time `json:"stagedAt"`
	}
	cycleStatus struct {
		ID          string     `json:"id"`
		Kind        string     `json:"kind"`
		Started     time.Time  `json:"started"`
		Finished    *time.Time `json:"finished,omitempty"`
		Created     int        `json:"created"`
		Updated     int        `json:"updated"`
		Disabled    int        `json:"disabled"`
		Deleted     int        `json:"deleted"`
		Unchanged   int        `json:"unchanged"`
		Skipped     int        `json:"skipped"`
		Failed      int        `json:"failed"`
		Requests    int64      `json:"requests"`
		Error       string     `json:"error,omitempty"`
		Quarantined bool       `json:"quarantined"`
	}
)

const (
	FromDaemon    = "daemon"
	FromStateFile = "state file"
	PhaseIdle     = "idle"
	// stagedShown bounds the staged operations a snapshot lists (the count is always complete).
	stagedShown = 50
)

// PhaseStatus is one phase of the running (or last) cycle.
type PhaseStatus struct {
	// ID is the phase's key in Snapshot.Phases, set for the HTML page.
	ID    string `json:"-"`
	Label string `json:"label"`
	// State is "pending", "running", "done", "stopped" (the cycle ended during it) or "not run".
	State string `json:"state"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// quarantineStatus is the quarantine with what it means in plain words.
type quarantineStatus struct {
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
	NextAttempt time.Time `json:"nextAttempt"`
	Stopped     bool      `json:"stopped"`
	Cause       string    `json:"cause,omitempty"`
	Meaning     string    `json:"meaning"`
	Action      string    `json:"action"`
}

// phaseLabels are the phases as an admin reads them.
var phaseLabels = map[string]string{
	engine.PhaseReading: "reading Graph", engine.PhaseMatching: "matching", engine.PhaseUsers: "users",
	engine.PhaseGroups: "groups", engine.PhaseMemberships: "memberships", engine.PhaseManagers: "managers",
}

func PhaseLabel(p string) string {
	if l, ok := phaseLabels[p]; ok {
		return l
	}
	return p
}

// quarantineMeaning says in plain words why the job is quarantined and what ends it; the reason codes
// are Graph's synchronizationQuarantine values (see sync/quarantine).
func quarantineMeaning(q store.Quarantine, stopped bool) (meaning, action string) {
	switch q.Reason {
	case quarantine.ReasonQuarantineException:
		meaning = "The target app refused scimsync in a way that retrying cannot fix (for example an expired or wrong token, missing permissions, or an answer that breaks the SCIM protocol)."
	case quarantine.ReasonEscrowProportion:
		meaning = "More than 40% of the objects a cycle processed failed."
	case quarantine.ReasonTotalEscrow:
		meaning = "More than 40,000 objects are failing."
	case quarantine.ReasonBaseEscrow:
		meaning = "More than 60,000 changes are failing, manager and group-member references included."
	case quarantine.ReasonTooManyDeletes:
		meaning = "A cycle wanted to disable or delete at least as many accounts as the deletion threshold allows; those changes are held, nothing was disabled or deleted."
		return meaning, "Review them with `scimsync logs --action StagedDelete`, then send them with `scimsync allow-deletes` (or drop them with `scimsync restart`)."
	case quarantine.ReasonCycleAborted:
		meaning = "Several cycles in a row could not run at all: Microsoft Graph or the target was unreachable, or a credential was refused."
	default:
		meaning = "scimsync stopped provisioning this job."
	}
	if stopped {
		return meaning, "Provisioning has stopped: fix the cause, then run `scimsync restart`."
	}
	return meaning, "scimsync retries on its own, less often each time; after fixing the cause, `scimsync sync` retries at once and lifts the quarantine when it succeeds."
}

// Read reads the stored part of the status from an open state file.
func Read(cfg *config.Config, st store.State, n int, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Job: cfg.Name, Config: cfg.File, StatePath: cfg.StatePath, From: FromStateFile, Now: now.UTC(),
		Phase: PhaseIdle, Phases: map[string]PhaseStatus{}, Status: "Active"}
	q, err := st.Quarantine()
	if err != nil {
		return nil, err
	}
	if q != nil {
		stopped := quarantine.Expired(*q, now) || quarantine.Exhausted(*q)
		qs := &quarantineStatus{Reason: q.Reason, Since: q.SeriesBegan, NextAttempt: quarantine.NextAttempt(*q), Stopped: stopped, Cause: q.Error}
		qs.Meaning, qs.Action = quarantineMeaning(*q, stopped)
		s.Quarantine, s.Status = qs, "Quarantine"
		if stopped {
			s.Status = "Stopped"
		}
	}
	if a, err := st.AbortStreak(); err == nil && a.Count > 0 && q == nil {
		s.Aborted = &abortStatus{Count: a.Count, Since: a.Since, LastError: a.LastError}
	}
	if s.LinkedUsers, err = st.CountLinks(store.KindUser); err != nil {
		return nil, err
	}
	if s.LinkedGroups, err = st.CountLinks(store.KindGroup); err != nil {
		return nil, err
	}
	escrows, err := st.Escrows()
	if err != nil {
		return nil, err
	}
	s.Escrows = make([]escrowStatus, 0, len(escrows))
	for _, e := range escrows {
		s.Escrows = append(s.Escrows, escrowStatus{Kind: string(e.Kind), SourceID: e.SourceID, Op: e.Op, Attempts: e.Attempts,
			FirstFail: e.FirstFailed, NextRetry: e.NextRetry, ErrorClass: e.ErrorClass, Error: e.Error})
	}
	staged, err := st.StagedOps()
	if err != nil {
		return nil, err
	}
	s.Staged, s.StagedOps = len(staged), make([]stagedStatus, 0, min(len(staged), stagedShown))
	for _, o := range staged[:min(len(staged), stagedShown)] {
		s.StagedOps = append(s.StagedOps, stagedStatus{Kind: string(o.Kind), SourceID: o.SourceID, TargetID: o.TargetID, Op: o.Op, StagedAt: o.StagedAt})
	}
	wm, err := st.Watermark("users")
	if err != nil {
		return nil, err
	}
	s.NextKind = "initial (no watermark)"
	if wm != "" {
		s.NextKind = "incremental"
	}
	if d, err := st.TargetDialect(); err != nil {
		return nil, err
	} else if d != nil && d.ElementAdds {
		s.Dialect = &dialectStatus{TargetURL: d.TargetURL, ElementAdds: true, LearnedAt: d.LearnedAt}
	}
	cycles, err := st.Cycles(n)
	if err != nil {
		return nil, err
	}
	s.Cycles = make([]cycleStatus, 0, len(cycles))
	for _, c := range cycles {
		cs := cycleStatus{ID: c.ID, Kind: c.Kind, Started: c.Started, Created: c.Created, Updated: c.Updated, Disabled: c.Disabled,
			Deleted: c.Deleted, Unchanged: c.Unchanged, Skipped: c.Skipped, Failed: c.Failed, Requests: c.Requests, Error: c.Error, Quarantined: c.Quarantined}
		if !c.Finished.IsZero() {
			f := c.Finished
			cs.Finished = &f
			if c.Error == "" && !c.Quarantined && s.LastSuccess == nil {
				s.LastSuccess = &f
			}
		}
		s.Cycles = append(s.Cycles, cs)
	}
	return s, nil
}

// Print renders the status page from the state file.
func Print(w io.Writer, cfg *config.Config, st store.State, n int, now time.Time) error {
	s, err := Read(cfg, st, n, now)
	if err != nil {
		return err
	}
	return WriteText(w, s, n)
}

// WriteText is the terminal rendering of a snapshot.
func WriteText(w io.Writer, s *Snapshot, n int) error {
	fmt.Fprintf(w, "job        %s\nconfig     %s\nstate      %s\n", s.Job, s.Config, s.StatePath)
	if s.StateError != "" {
		fmt.Fprintf(w, "           the daemon could not read the state file: %s\n", s.StateError)
	}
	switch q := s.Quarantine; {
	case q == nil:
		fmt.Fprintf(w, "status     Active\n")
	case q.Stopped:
		fmt.Fprintf(w, "status     Stopped: quarantined (%s) since %s; run `scimsync restart` after fixing the cause\n", q.Reason, Stamp(q.Since))
	default:
		fmt.Fprintf(w, "status     Quarantine: %s since %s, next attempt %s\n", q.Reason, Stamp(q.Since), Stamp(q.NextAttempt))
	}
	if q := s.Quarantine; q != nil {
		if q.Cause != "" {
			fmt.Fprintf(w, "           cause: %s\n", q.Cause)
		}
		fmt.Fprintf(w, "           %s\n           %s\n", q.Meaning, q.Action)
	}
	writeLease(w, s.Lease)
	if s.Auth != "" {
		fmt.Fprintf(w, "auth       %s\n", s.Auth)
	}
	if a := s.Aborted; a != nil {
		fmt.Fprintf(w, "aborted    the last %d cycle(s) since %s could not run (%d in a row over %s quarantine the job): %s\n",
			a.Count, Stamp(a.Since), quarantine.AbortLimit, quarantine.AbortFloor, OneLine(a.LastError, 120))
	}
	if s.From == FromDaemon {
		writeLiveText(w, s)
	}
	next := s.NextKind
	if s.NextCycle != nil {
		next += ", at " + Stamp(*s.NextCycle)
	}
	fmt.Fprintf(w, "next cycle %s\n", next)
	if s.LastSuccess != nil {
		fmt.Fprintf(w, "last ok    %s\n", Stamp(*s.LastSuccess))
	}
	fmt.Fprintf(w, "linked     %d users, %d groups\n", s.LinkedUsers, s.LinkedGroups)
	if d := s.Dialect; d != nil {
		fmt.Fprintf(w, "dialect    %s (learned %s from %s)\n", scimclient.Dialect{ElementAdds: true}, Stamp(d.LearnedAt), d.TargetURL)
	}
	fmt.Fprintf(w, "escrows    %d\n", len(s.Escrows))
	for i, e := range s.Escrows {
		if i == 5 {
			fmt.Fprintf(w, "           ... and %d more (scimsync logs --status Failure)\n", len(s.Escrows)-i)
			break
		}
		fmt.Fprintf(w, "           %s %s: %s after %d attempts (%s), next retry %s\n", e.Kind, e.SourceID, e.Op, e.Attempts, e.ErrorClass, Stamp(e.NextRetry))
	}
	if s.Staged > 0 {
		fmt.Fprintf(w, "staged     %d disables/deletes held by the deletion threshold: review with `scimsync logs --action StagedDelete`, apply with `scimsync allow-deletes`\n", s.Staged)
	}
	cs := s.Cycles[:min(len(s.Cycles), max(n, 0))]
	if len(cs) == 0 {
		fmt.Fprintln(w, "cycles     none yet")
		return nil
	}
	fmt.Fprintln(w, "\nlast cycles:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "started\tkind\ttook\tcreated\tupdated\tdisabled\tdeleted\tunchanged\tfailed\tnote")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", Stamp(c.Started), c.Kind, cycleTook(c),
			c.Created, c.Updated, c.Disabled, c.Deleted, c.Unchanged, c.Failed, OneLine(cycleNote(c), 80))
	}
	return tw.Flush()
}

// writeLiveText is the daemon's live part: the running cycle phase by phase.
func writeLiveText(w io.Writer, s *Snapshot) {
	if !s.Running {
		fmt.Fprintf(w, "cycle      idle\n")
		return
	}
	fmt.Fprintf(w, "cycle      %s running since %s: %s\n", s.CycleID, Stamp(*s.StartedAt), PhaseLabel(s.Phase))
	for _, p := range engine.Phases {
		ps, ok := s.Phases[p]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "           %-13s %-8s %s\n", ps.Label, ps.State, phaseCount(ps))
	}
	fmt.Fprintf(w, "           so far: %d created, %d matched, %d updated, %d disabled, %d deleted, %d failed\n",
		s.Created, s.Matched, s.Updated, s.Disabled, s.Deleted, s.Failed)
}

// phaseCount is "12/40", or "" for a phase whose size is not known ahead (reading Graph).
func phaseCount(p PhaseStatus) string {
	if p.Total == 0 && p.Done == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", p.Done, p.Total)
}

func cycleTook(c cycleStatus) string {
	if c.Finished == nil {
		return "-"
	}
	return c.Finished.Sub(c.Started).Round(time.Millisecond).String()
}

func cycleNote(c cycleStatus) string {
	if c.Error == "" && c.Quarantined {
		return "quarantined"
	}
	return c.Error
}

// Lease is who may run a job whose state is in PostgreSQL: the replica (or the single `run`, or
// an admin command) holding its lease, and until when unless renewed.
type Lease struct {
	Holder  string    `json:"holder"`
	Until   time.Time `json:"until"`
	Token   int64     `json:"token"`
	Expired bool      `json:"expired"`
	// Error is why the lease could not be read; the rest of the status stands.
	Error string `json:"error,omitempty"`
}

// writeLease prints the lease line of `status`.
func writeLease(w io.Writer, l *Lease) {
	switch {
	case l == nil:
	case l.Error != "":
		fmt.Fprintf(w, "held by    unknown: %s\n", l.Error)
	case l.Expired:
		fmt.Fprintf(w, "held by    nobody (last %s, until %s): the next replica to claim it runs it\n", l.Holder, Stamp(l.Until))
	default:
		fmt.Fprintf(w, "held by    %s until %s unless renewed (token %d)\n", l.Holder, Stamp(l.Until), l.Token)
	}
}
