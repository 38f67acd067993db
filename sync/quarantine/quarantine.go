// Package quarantine is the job-level circuit breaker of the provisioning service (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status and https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions): after
// each cycle Judge decides from the cycle's outcome whether the job enters, stays in or leaves quarantine, and
// Due decides whether a cycle may run at all. It is pure: no I/O, the clock is an argument, and the caller
// persists the returned store.Quarantine and sends the emails.
//
// The decision for one cycle (first matching row wins):
//
//	 cycle outcome                                   | reason
//	-------------------------------------------------+--------------------------------------
//	 Fatal wraps targetauth.ErrRevoked or            | AuthorizationExpiredOrRevoked
//	   ErrNotAuthorized                              |
//	 Fatal wraps scimclient.ErrUnauthorized or       | EncounteredQuarantineException
//	   ErrCompliance                                 |   (regardless of any count)
//	 Aborted (or another Fatal error), the AbortLimit | CycleAborted
//	   th in a row and AbortFloor since the first    |
//	 Aborted, or another Fatal error                 | none: an aborted attempt (see below)
//	 TooManyDeletes                                  | TooManyDeletes
//	 object failures > 40,000                        | EncounteredTotalEscrowThreshold
//	 object + reference failures > 60,000            | EncounteredBaseEscrowThreshold
//	 object failures >= 5,000 and > 40 % of this     | EncounteredEscrowProportionThreshold
//	   cycle's object events                         |
//	 otherwise                                       | none: a successful cycle
//
// And what that does to the job:
//
//	 before        | this cycle           | after                               | Event
//	---------------+----------------------+-------------------------------------+-----------------
//	 not quar.     | success or aborted   | not quarantined                     | None
//	 not quar.     | reason R             | quarantined R, new series           | Entered
//	 quar. R       | success              | lifted (TooManyDeletes: kept)       | Lifted
//	 quar. R       | reason R or aborted  | kept, SeriesCount+1                 | StillQuarantined
//	 quar. R       | reason S != R        | S, series kept, SeriesCount+1       | ReasonChanged
//	 quar.         | anything but success | no retry left in the 28 days        | Stopped
package quarantine

import (
	"errors"
	"fmt"
	"time"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/targetauth"
)

// Graph's synchronizationQuarantine reasons, stored verbatim in store.Quarantine.Reason so that `status`
// and the emails speak the same language as the Entra portal and an admin can search Microsoft's docs.
const (
	// ReasonQuarantineException: the target cannot be used at all (invalid credentials, missing grants,
	// a target that breaks the SCIM protocol). Counting failures would only delay the inevitable.
	ReasonQuarantineException = "EncounteredQuarantineException"
	// ReasonEscrowProportion: more than 40 % of a cycle's provisioning events failed.
	ReasonEscrowProportion = "EncounteredEscrowProportionThreshold"
	// ReasonTotalEscrow: more than 40,000 object failures, reference failures not counted.
	ReasonTotalEscrow = "EncounteredTotalEscrowThreshold"
	// ReasonBaseEscrow: more than 60,000 failures counting reference failures (manager, group member).
	// Graph lists the enum value without saying which threshold it names; we use it for the absolute one
	// because it is the base count of every escrow, references included.
	ReasonBaseEscrow = "EncounteredBaseEscrowThreshold"
	// ReasonTooManyDeletes: the cycle held deletions back because of the accidental-deletion threshold;
	// it is an admin hold, so only `scimsync allow-deletes` or `scimsync restart` end it.
	ReasonTooManyDeletes = "TooManyDeletes"
	// ReasonCycleAborted is scimsync's own (Graph has no such value): AbortLimit cycles in a row could not
	// run at all, over at least AbortFloor. The service quarantines a job it "cannot connect" to; we wait
	// for a streak so that one outage blip neither quarantines nor emails.
	ReasonCycleAborted = "CycleAborted"
	// ReasonAuthorization is scimsync's own: the target's OAuth 2.0 authorization expired or was revoked
	// (the provider answered invalid_grant to a refresh), or `scimsync authorize` was never run. Only an
	// admin running `scimsync authorize` can fix it, so it gets its own reason and email.
	ReasonAuthorization = "AuthorizationExpiredOrRevoked"
)

// The abort streak: both must hold, so a daemon restarted in a loop (many cycles in minutes) and a slow
// schedule (one cycle a day) each need a real, lasting outage. With the default 40-minute schedule the
// fourth aborted cycle, two hours after the first, quarantines the job.
const (
	AbortLimit = 3
	AbortFloor = 2 * time.Hour
)

// The escrow thresholds of https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status ("subject to change, but works roughly as described"). They are
// constants rather than settings because the point is to behave like the service an admin already knows.
const (
	// MinFailures is the count below which the proportion is not evaluated, so a small tenant where 3
	// of 5 users fail is not quarantined for a handful of bad records.
	MinFailures = 5000
	// ProportionPercent: a cycle whose object events failed in more than this share quarantines the job.
	ProportionPercent = 40
	// TotalFailures: more object failures than this quarantine the job whatever the proportion.
	TotalFailures = 40000
	// BaseFailures: more failures than this, references included, quarantine the job; references are
	// otherwise ignored because one broken manager link can fail thousands of reports at once.
	BaseFailures = 60000
)

// Lifetime is how long a quarantine series may last before the job stops for good: "the retries will go on
// for 28 days after the first failure after which the escrow entry is removed and the job is disabled".
const Lifetime = 28 * 24 * time.Hour

// Outcome is what the judge needs to know about one finished (or failed) cycle. The engine fills it from
// its per-object results; counts are provisioning events, so one object with two failed steps is one event.
type Outcome struct {
	// Succeeded and Failed count this cycle's object events (create, update, disable, delete of a user or
	// group). ReferenceFailed counts failed reference events (manager link, group member); successful
	// reference events are not counted anywhere, so the 40 % proportion ignores references on both sides.
	Succeeded, Failed, ReferenceFailed int
	// Escrowed and EscrowedReferences count the escrows held after the cycle, retried ones and those not
	// yet due. The 40,000 and 60,000 thresholds use the larger of these and this cycle's failures.
	Escrowed, EscrowedReferences int
	// Fatal is a failure that stopped the cycle. Only credentials (scimclient.ErrUnauthorized) and SCIM
	// compliance (scimclient.ErrCompliance) quarantine; any other Fatal error is treated as Aborted.
	Fatal error
	// TooManyDeletes reports that deletions are staged because of the deletion threshold. The engine should
	// report it on every cycle while staged deletions wait for the admin, not only on the one that staged.
	TooManyDeletes bool
	// Aborted means the cycle could not run (Graph outage, the target unreachable, shutdown). Nothing was
	// learned about the target, so one alone never enters quarantine; in quarantine it counts as a
	// failed attempt, so an outage does not keep a job quarantined past its 28 days. A streak of them
	// quarantines the job with ReasonCycleAborted (see Streak).
	Aborted bool
	// Err is the error that stopped an aborted cycle, for the quarantine's Error. When it says the state
	// file is damaged (store.ErrCorrupt) the cycle does not count in the streak: the caller reports a
	// damaged file at once, and waiting cannot fix it.
	Err error
	// Streak is the stored streak of aborted cycles before this one.
	Streak store.AbortStreak
}

// NextStreak is the streak to store after the cycle: one longer when it aborted, empty when it ran,
// unchanged when the state file is damaged.
func NextStreak(out Outcome, now time.Time) store.AbortStreak {
	if _, _, aborted := assess(Outcome{Fatal: out.Fatal, Aborted: out.Aborted}); !aborted {
		return store.AbortStreak{}
	}
	if errors.Is(out.Err, store.ErrCorrupt) {
		return out.Streak
	}
	next := out.Streak
	if next.Count == 0 || next.Since.IsZero() {
		next.Since = now
	}
	next.Count++
	next.LastError = ""
	if out.Err != nil {
		next.LastError = out.Err.Error()
	} else if out.Fatal != nil {
		next.LastError = out.Fatal.Error()
	}
	return next
}

// streakReason says whether the streak including this cycle quarantines the job.
func streakReason(out Outcome, now time.Time) (detail string, ok bool) {
	s := NextStreak(out, now)
	if s.Count < AbortLimit || now.Sub(s.Since) < AbortFloor || errors.Is(out.Err, store.ErrCorrupt) {
		return "", false
	}
	return fmt.Sprintf("%d cycles in a row since %s could not run; last error: %s", s.Count, stamp(s.Since), s.LastError), true
}

// Event tells the caller what changed, so it can log, count metrics and email exactly once per change.
type Event int

// The events Judge returns.
const (
	// None: the job was not quarantined and still is not.
	None Event = iota
	// Entered: a new quarantine series began; email the admin.
	Entered
	// ReasonChanged: still quarantined for another reason; email again, as the service does.
	ReasonChanged
	// StillQuarantined: the retry failed the same way (or could not run); the backoff continues.
	StillQuarantined
	// Lifted: the cycle succeeded; resume the normal schedule and clear the stored quarantine.
	Lifted
	// Stopped: the retry failed and no retry is left within Lifetime; the job stays stopped until
	// `scimsync restart`. Every failing evaluation of a stopped job reports it again.
	Stopped
)

var eventNames = [...]string{"none", "entered", "reason-changed", "still-quarantined", "lifted", "stopped"}

// String gives the event a stable name for logs and metric labels.
func (e Event) String() string {
	if e < 0 || int(e) >= len(eventNames) {
		return fmt.Sprintf("Event(%d)", int(e))
	}
	return eventNames[e]
}

// IsFatal reports whether a cycle error quarantines the job regardless of counts. It is exported so the
// engine can decide with the same rule whether to stop a cycle early rather than fail every object.
func IsFatal(err error) bool {
	return errors.Is(err, scimclient.ErrUnauthorized) || errors.Is(err, scimclient.ErrCompliance)
}

// IsAbort reports whether a cycle error means the target stopped answering (the SCIM client's circuit
// breaker opened): the engine stops the cycle at once and reports it as aborted, which never quarantines
// by itself, instead of failing every remaining object one timeout at a time.
func IsAbort(err error) bool {
	return errors.Is(err, scimclient.ErrTargetUnreachable)
}

// assess reduces an outcome to a reason and the text for store.Quarantine.Error. aborted is true when the
// cycle taught us nothing; reason is "" for a successful cycle.
func assess(out Outcome) (reason, detail string, aborted bool) {
	if out.Fatal != nil && (errors.Is(out.Fatal, targetauth.ErrRevoked) || errors.Is(out.Fatal, targetauth.ErrNotAuthorized)) {
		return ReasonAuthorization, "authorization expired or revoked: " + out.Fatal.Error(), false
	}
	if out.Fatal != nil && IsFatal(out.Fatal) {
		return ReasonQuarantineException, out.Fatal.Error(), false
	}
	if out.Aborted || out.Fatal != nil {
		return "", "", true
	}
	if out.TooManyDeletes {
		return ReasonTooManyDeletes, "deletions held back by the accidental-deletion threshold; " +
			"run `scimsync allow-deletes` to process them or `scimsync restart` to reject them", false
	}
	objects := max(out.Failed, out.Escrowed)
	all := objects + max(out.ReferenceFailed, out.EscrowedReferences)
	events := out.Succeeded + out.Failed
	switch {
	case objects > TotalFailures:
		return ReasonTotalEscrow, fmt.Sprintf("%d objects failed (more than %d)", objects, TotalFailures), false
	case all > BaseFailures:
		return ReasonBaseEscrow, fmt.Sprintf("%d failures including references (more than %d)", all, BaseFailures), false
	case out.Failed >= MinFailures && out.Failed*100 > events*ProportionPercent:
		return ReasonEscrowProportion, fmt.Sprintf("%d of %d provisioning events failed (more than %d%%)",
			out.Failed, events, ProportionPercent), false
	}
	return "", "", false
}

// Judge turns one cycle's outcome into the next quarantine state. prev is the stored quarantine (nil when
// the job is healthy); the result is what to store (nil: clear it). now should be the cycle's start, so a
// long cycle does not skip a scheduled retry. NotifiedReason is carried over untouched: the caller sets it
// after emailing, which is how "one email per quarantine and one per changed reason" survives restarts.
func Judge(prev *store.Quarantine, out Outcome, now time.Time) (*store.Quarantine, Event) {
	reason, detail, aborted := assess(out)
	if prev == nil {
		if aborted {
			if d, ok := streakReason(out, now); ok {
				q := &store.Quarantine{Reason: ReasonCycleAborted, SeriesBegan: now, CurrentBegan: now, Error: d}
				q.NextAttempt = NextAttempt(*q)
				return q, Entered
			}
		}
		if aborted || reason == "" {
			return nil, None
		}
		q := &store.Quarantine{Reason: reason, SeriesBegan: now, CurrentBegan: now, Error: detail}
		q.NextAttempt = NextAttempt(*q)
		return q, Entered
	}
	q := *prev
	ev := StillQuarantined
	switch {
	case aborted && prev.Reason == ReasonCycleAborted:
		// Still unreachable: keep the latest error in view.
		if d, ok := streakReason(out, now); ok {
			q.Error = d
		}
	case aborted:
		// Nothing learned: the reason and its error stand.
	case prev.Reason == ReasonTooManyDeletes:
		// An admin hold: other failures are recorded, but only allow-deletes or restart end it.
		if reason != "" && reason != ReasonTooManyDeletes {
			q.Error = detail
		}
	case reason == "":
		return nil, Lifted
	case reason != prev.Reason:
		q.Reason, q.Error = reason, detail
		ev = ReasonChanged
	default:
		q.Error = detail
	}
	q.CurrentBegan = now
	q.SeriesCount++
	q.NextAttempt = NextAttempt(q)
	if Exhausted(q) {
		ev = Stopped
	}
	return &q, ev
}

// NextAttempt is the reference's retry schedule: 6 h, 12 h and 24 h after the first failure, then every
// 24 h. It returns the first slot after the last evaluation (CurrentBegan), so a manual sync or a late
// retry moves on to the next slot and a daemon that was down does not replay the missed ones in a burst.
func NextAttempt(q store.Quarantine) time.Time {
	if q.SeriesBegan.IsZero() {
		return time.Time{}
	}
	since := max(q.CurrentBegan.Sub(q.SeriesBegan), 0)
	for _, slot := range []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if since < slot {
			return q.SeriesBegan.Add(slot)
		}
	}
	const day = 24 * time.Hour
	return q.SeriesBegan.Add((since/day + 1) * day)
}

// Expired reports that the quarantine series is 28 days old, when the service disables the job: from then
// on no scheduled cycle runs until `scimsync restart`.
func Expired(q store.Quarantine, now time.Time) bool {
	return !q.SeriesBegan.IsZero() && !now.Before(q.SeriesBegan.Add(Lifetime))
}

// Exhausted reports that no scheduled retry is left before the series expires, i.e. the last daily retry
// (day 27) failed. The job is stopped from that moment; status shows it and Judge reports Stopped.
func Exhausted(q store.Quarantine) bool {
	return !q.SeriesBegan.IsZero() && !NextAttempt(q).Before(q.SeriesBegan.Add(Lifetime))
}

// Due decides whether a cycle may run now. A scheduled cycle runs only at the backoff slots, so a broken
// target sees four attempts on the first day and one a day after; a manual `scimsync sync` always runs,
// because an admin who just fixed the credentials wants to know now. why is a sentence for logs and the CLI.
func Due(q *store.Quarantine, now time.Time, manual bool) (run bool, why string) {
	if q == nil {
		return true, "not quarantined"
	}
	stopped := Expired(*q, now) || Exhausted(*q)
	switch {
	case manual && stopped:
		return true, fmt.Sprintf("manual cycle runs although the job stopped after its quarantine (%s) began %s",
			q.Reason, stamp(q.SeriesBegan))
	case manual:
		return true, fmt.Sprintf("manual cycle runs despite the quarantine (%s); next scheduled attempt %s",
			q.Reason, stamp(NextAttempt(*q)))
	case stopped:
		return false, fmt.Sprintf("job stopped: quarantined (%s) since %s with no retry left in %d days; "+
			"run `scimsync restart` to resume", q.Reason, stamp(q.SeriesBegan), int(Lifetime/(24*time.Hour)))
	}
	next := NextAttempt(*q)
	if now.Before(next) {
		return false, fmt.Sprintf("quarantined (%s): next attempt %s", q.Reason, stamp(next))
	}
	return true, fmt.Sprintf("quarantine retry %d (%s)", q.SeriesCount+1, q.Reason)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
