// Package escrow is the per-object failure policy (https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works): which class a failed operation falls
// in, what the engine does about it, and when the object is tried again. It is pure: the engine persists
// the store.Escrow records and passes the clock in.
//
//	 Class        | Entra error code                        | Action        | next retry after attempt n
//	--------------+-----------------------------------------+---------------+---------------------------
//	 Throttled    | TooManyRequests                         | Retry         | next cycle
//	 Transient    | InternalServerError, Timeout            | Retry         | next cycle
//	 Unauthorized | Unauthorized, InsufficientRights        | QuarantineJob | next cycle the job runs
//	 Compliance   | SystemForCrossDomainIdentityManagement- | QuarantineJob | next cycle the job runs
//	              |   ServiceIncompatible, NotImplemented   |               |
//	 Conflict     | EntryConflict                           | Rematch       | next cycle, 2 h, 4 h, 8 h,
//	 NotFound     | InvalidAnchor                           | Rematch       |   16 h, then every 24 h
//	 InvalidData  | InvalidData, DuplicateTargetEntries     | Retry         |   (same)
//	 Unknown      | Unknown                                 | Retry         |   (same)
//
// Every escrow is dropped 28 days after its first failure, whatever its class.
package escrow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
)

// ErrInvalidData marks failures the engine finds before or instead of a SCIM request (a mapping expression
// that cannot be evaluated, a required attribute without value): the engine wraps it so that they are
// classified like a 400 from the target, since only a change of data or mappings can fix them.
var ErrInvalidData = errors.New("invalid data")

// ErrDuplicateTargetEntries marks a match that found several target accounts. It wraps ErrInvalidData
// (an admin must fix the data) and has its own name because Entra logs it as DuplicateTargetEntries.
var ErrDuplicateTargetEntries = fmt.Errorf("%w: several target accounts match", ErrInvalidData)

// Class is the error taxonomy of one failed object operation; the engine decides from it alone, never
// from error text, and stores its String in store.Escrow.ErrorClass.
type Class int

// The classes, from the scimclient error kinds plus the engine's own ErrInvalidData.
const (
	// Unknown is the zero value so a class never set does not pass for a known one.
	Unknown Class = iota
	// Throttled: the target asked us to slow down (429 after the client's own retries).
	Throttled
	// Transient: 5xx, timeouts, connection errors; the next attempt will likely work.
	Transient
	// Conflict: 409, the account already exists under a uniqueness attribute.
	Conflict
	// NotFound: 404 on a cached target id (Entra's InvalidAnchor): the account was deleted behind us.
	NotFound
	// Unauthorized: 401/403; no object can succeed until the credentials are fixed.
	Unauthorized
	// Compliance: the target broke the SCIM protocol; no object can succeed until it is fixed.
	Compliance
	// InvalidData: the request content is wrong for the target (400 invalid value, a mapping that cannot
	// be evaluated, several matching accounts); it fails the same way until the data or mappings change.
	InvalidData
)

// classNames are Entra's error codes (howto-analyze-provisioning-logs.md), so the provisioning log and
// `status` read like the portal's. InvalidData has no single Entra code; the name is ours.
var classNames = [...]string{
	Unknown:      "Unknown",
	Throttled:    "TooManyRequests",
	Transient:    "InternalServerError",
	Conflict:     "EntryConflict",
	NotFound:     "InvalidAnchor",
	Unauthorized: "Unauthorized",
	Compliance:   "SystemForCrossDomainIdentityManagementServiceIncompatible",
	InvalidData:  "InvalidData",
}

// String returns the class's Entra error code, the form stored in store.Escrow.ErrorClass.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// ParseClass reads back a stored ErrorClass, so escrows written by an earlier cycle (or an earlier build)
// are judged by the same policy; anything unrecognised is Unknown, which is retried with backoff.
func ParseClass(s string) Class {
	for c, name := range classNames {
		if name == s {
			return Class(c)
		}
	}
	return Unknown
}

// Classify sorts a failure into its class with errors.Is, so any wrapping by the engine is fine. Job-level
// kinds are checked first: an error that is both (errors.Join) must quarantine rather than be retried.
// A deadline is a timeout like any other; a nil or unrecognised error is Unknown.
func Classify(err error) Class {
	switch {
	case err == nil:
		return Unknown
	case errors.Is(err, scimclient.ErrUnauthorized):
		return Unauthorized
	case errors.Is(err, scimclient.ErrCompliance):
		return Compliance
	case errors.Is(err, scimclient.ErrThrottled):
		return Throttled
	case errors.Is(err, scimclient.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		return Transient
	case errors.Is(err, scimclient.ErrConflict):
		return Conflict
	case errors.Is(err, scimclient.ErrNotFound):
		return NotFound
	case errors.Is(err, scimclient.ErrInvalid), errors.Is(err, ErrInvalidData):
		return InvalidData
	}
	return Unknown
}

// Code is the most specific Entra error code for a failure, for the provisioning log entry: it tells a
// timeout from a 500 and a 403 from a 401, which the class (and thus the policy) deliberately does not.
func Code(err error) string {
	// A request cut short by cancellation (shutdown, or the cycle aborting) says nothing about the
	// target; calling it a timeout would send an admin looking for a slow target.
	if errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return "Cancelled"
	}
	c := Classify(err)
	var se *scimclient.Error
	hasStatus := errors.As(err, &se)
	switch c {
	case Transient:
		if errors.Is(err, context.DeadlineExceeded) || (hasStatus && (se.Status == 0 || se.Status == http.StatusRequestTimeout)) {
			return "Timeout"
		}
	case Unauthorized:
		if hasStatus && se.Status == http.StatusForbidden {
			return "InsufficientRights"
		}
	case Compliance:
		if hasStatus && se.Status == http.StatusNotImplemented {
			return "NotImplemented"
		}
	case InvalidData:
		if errors.Is(err, ErrDuplicateTargetEntries) {
			return "DuplicateTargetEntries"
		}
	}
	return c.String()
}

// Remedy is what the engine does with a failed object beyond recording it.
type Remedy int

// The remedies Action returns.
const (
	// Retry: escrow the object and try the same operation again when the escrow is due.
	Retry Remedy = iota
	// Rematch: forget the cached target id and send the object through matching again (adopting an
	// account found, creating one otherwise), in this cycle or, via an escrow due at once, the next.
	Rematch
	// QuarantineJob: stop the cycle and quarantine the job; the object is escrowed so it is retried as
	// soon as the job runs again.
	QuarantineJob
)

var remedyNames = [...]string{"retry", "rematch", "quarantine-job"}

// String names the remedy for logs.
func (r Remedy) String() string {
	if r < 0 || int(r) >= len(remedyNames) {
		return fmt.Sprintf("Remedy(%d)", int(r))
	}
	return remedyNames[r]
}

// Action maps a class to the engine's remedy, following the reference:
//   - Throttled, Transient: "automatically retried" / "automatically retried in 40 minutes".
//   - Unauthorized, Compliance: invalid credentials and "SCIM compliance issue" are quarantine reasons
//     "regardless of failure counts" (§2); retrying object by object would only fail every object.
//   - NotFound (InvalidAnchor): the cached target id points at an account deleted in the target; retrying
//     the same request can never work, so the link is dropped and the object matched or created again.
//   - Conflict (EntryConflict): the account exists already; matching finds it and adopts it instead of
//     creating a duplicate, which is what the service does with a pre-existing account (§1.4).
//   - InvalidData, Unknown: "the operation is retried in the next sync cycle ... gradually scaling back
//     the frequency of retries" (§1.7), in case the data or mappings are fixed meanwhile.
func Action(c Class) Remedy {
	switch c {
	case Unauthorized, Compliance:
		return QuarantineJob
	case NotFound, Conflict:
		return Rematch
	}
	return Retry
}

// Lifetime is how long an object is retried: "the retries will go on for 28 days after the first failure
// after which the escrow entry is removed" (§2). Past it the failure stays in the provisioning log, and a
// later change of the object in the source, or `scimsync restart`, provisions it again.
const Lifetime = 28 * 24 * time.Hour

// MaxBackoff caps the growing interval: the service retries at least daily, as in quarantine (§2).
const MaxBackoff = 24 * time.Hour

// Backoff is the wait after the attempt-th consecutive failure. Throttling and transient errors, and the
// job-level classes, are not the object's fault, so they are due again at the next cycle (the reference's
// "retried in 40 minutes" is one default cycle). The others double from 2 h after a first retry at the next
// cycle, so an object that cannot succeed costs the target at most one request a day.
func Backoff(c Class, attempt int) time.Duration {
	switch c {
	case Throttled, Transient, Unauthorized, Compliance:
		return 0
	}
	if attempt <= 1 {
		return 0
	}
	d := time.Hour << min(attempt-1, 5) // 2, 4, 8, 16, 32 h: capped below
	return min(d, MaxBackoff)
}

// Next records one more failure of an object's operation. The series belongs to the object, not to the
// operation or class: FirstFailed is kept and the interval follows the attempt count even when the failing
// operation or class changes, so flapping between errors cannot reset the backoff or the 28 days.
// A NextRetry equal to now means due at the next cycle.
func Next(prev *store.Escrow, kind store.Kind, sourceID, op string, c Class, errText string, now time.Time) store.Escrow {
	e := store.Escrow{Kind: kind, SourceID: sourceID, Op: op, Attempts: 1, FirstFailed: now}
	if prev != nil {
		e.Attempts = prev.Attempts + 1
		if !prev.FirstFailed.IsZero() {
			e.FirstFailed = prev.FirstFailed
		}
	}
	e.LastFailed = now
	e.NextRetry = now.Add(Backoff(c, e.Attempts))
	e.ErrorClass, e.Error = c.String(), errText
	return e
}

// DueAt reports whether the engine should retry the object in a cycle starting at now. Check Expired
// first: an expired escrow is due but should be dropped instead.
func DueAt(e store.Escrow, now time.Time) bool {
	return !now.Before(e.NextRetry)
}

// Expired reports that the object has failed for 28 days: the engine deletes the escrow and stops retrying,
// as the service removes the escrow entry.
func Expired(e store.Escrow, now time.Time) bool {
	return !e.FirstFailed.IsZero() && !now.Before(e.FirstFailed.Add(Lifetime))
}
