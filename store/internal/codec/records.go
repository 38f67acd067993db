package codec

import (
	"encoding/json"
	"time"
)

// Cycle is one run of the engine, for `scimsync status`, metrics after a restart and quarantine decisions
// that look at recent cycles (https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart lastExecution, countSuccessiveCompleteFailures).
type Cycle struct {
	ID string
	// Kind is "initial" or "incremental".
	Kind              string
	Started, Finished time.Time

	// Object counts by outcome.
	Created, Updated, Disabled, Deleted, Unchanged, Skipped, Failed int

	// Requests counts SCIM requests sent.
	Requests    int64
	Error       string
	Quarantined bool
}

// Escrow is a failed object operation waiting for a retry (https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works): it survives a restart so the
// backoff continues instead of hammering the target again.
type Escrow struct {
	Kind     Kind
	SourceID string
	// Op is the operation that failed (create, update, disable, delete, members, manager, ...).
	Op                                 string
	Attempts                           int
	FirstFailed, LastFailed, NextRetry time.Time
	// ErrorClass is the error taxonomy class (e.g. "transient", "conflict"), for the retry decision
	// and the escrow-threshold counts of quarantine; Error is the message.
	ErrorClass, Error string
}

// Quarantine is the job's quarantine state (https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status, Graph synchronizationQuarantine), persisted so a
// daemon restart neither lifts a quarantine nor restarts its 28-day series.
type Quarantine struct {
	// Reason is the Graph reason code, e.g. EncounteredQuarantineException, TooManyDeletes.
	Reason                                 string
	SeriesBegan, CurrentBegan, NextAttempt time.Time
	// SeriesCount counts re-evaluations in this series.
	SeriesCount int
	Error       string
	// NotifiedReason is the reason last emailed, so an email goes out once per quarantine and again
	// only when the reason changes.
	NotifiedReason string
}

// StagedOp is a disable or delete held back by the accidental-deletion threshold (https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions) until an
// admin runs `scimsync allow-deletes` or restarts the job.
type StagedOp struct {
	Kind     Kind
	SourceID string
	TargetID string
	// Op is "disable" or "delete".
	Op string
	// Unmanage is set on the disable of an object that left the scope: once sent, scimsync stops
	// managing the object, exactly as when the disable is sent without staging.
	Unmanage bool `json:",omitempty"`
	StagedAt time.Time
}

// AbortStreak counts the consecutive cycles that could not run (Graph or the target unreachable), so that
// a long outage quarantines the job and emails the admin while one blip does not (sync/quarantine). It is
// kept apart from Quarantine because it is counted while the job is healthy.
type AbortStreak struct {
	Count int
	// Since is when the first aborted cycle of the streak started.
	Since     time.Time
	LastError string
}

// TargetDialect is what scimsync learned about how the target departs from Entra's request shapes
// (see the compatibility modes in docs/scim.md). It is a fact about the target, not about the sync, so
// Restart keeps it; it names the target URL it was learned from, and the caller drops it when the
// job points at another target.
type TargetDialect struct {
	TargetURL string
	// ElementAdds: the target rejects an add on a value-filtered path that matches nothing and
	// takes a new element of the multi-valued attribute instead.
	ElementAdds bool
	LearnedAt   time.Time
}

// SnapshotFormat is the version of the Snapshot layout this build writes and reads.
const SnapshotFormat = 1

// Snapshot is a job's whole state in a backend-neutral form, the document of `scimsync state export`.
// Links travel in their binary record form (LinkRecord), since JSON would lose the Go types of their
// Values; the OAuth grant travels as stored, so an encrypted refresh token stays encrypted.
type Snapshot struct {
	Format      int                            `json:"format"`
	Fingerprint string                         `json:"fingerprint,omitempty"`
	Watermarks  map[string]string              `json:"watermarks,omitempty"`
	Meta        map[string][]byte              `json:"meta,omitempty"`
	Links       []LinkRecord                   `json:"anchors,omitempty"`
	Escrows     []Escrow                       `json:"escrows,omitempty"`
	Staged      []StagedOp                     `json:"staged,omitempty"`
	Quarantine  *Quarantine                    `json:"quarantine,omitempty"`
	AbortStreak *AbortStreak                   `json:"abortStreak,omitempty"`
	Dialect     *TargetDialect                 `json:"dialect,omitempty"`
	Grant       json.RawMessage                `json:"grant,omitempty"`
	Sets        map[string]map[string][]string `json:"sets,omitempty"`
	// Cycles are oldest first, so restoring them in order keeps the history's order.
	Cycles []Cycle    `json:"cycles,omitempty"`
	Log    []LogEntry `json:"log,omitempty"`
}

// LinkRecord is one anchor in its stored binary form.
type LinkRecord struct {
	Kind     Kind   `json:"kind"`
	SourceID string `json:"sourceId"`
	Record   []byte `json:"record"`
}
