package engine

import (
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// Report and Counts are the summary of a cycle (see package summary).
type (
	Report = summary.Report
	Counts = summary.Counts
)

// logEntry is a change's provisioning-log entry, when it is logged (see record.Logged).
func (e *Engine) logEntry(rep *Report, k *objectKind, c plan.Change, err error, staged bool) (store.LogEntry, bool) {
	if !record.Logged(c, staged) {
		return store.LogEntry{}, false
	}
	return e.entry(rep, k, c, err, staged), true
}

// entry is a change's provisioning-log entry (see record.Entry).
func (e *Engine) entry(rep *Report, k *objectKind, c plan.Change, err error, staged bool) store.LogEntry {
	return record.Entry(rep.CycleID, e.o.Now(), k.store, c, err, staged)
}

// referenceEntry logs a manager link or a group membership change.
func (e *Engine) referenceEntry(rep *Report, kind store.Kind, sourceID, identity, targetID, what string, props []store.Property, err error) store.LogEntry {
	return record.Reference{CycleID: rep.CycleID, Time: e.o.Now(), Kind: kind, SourceID: sourceID, Identity: identity,
		TargetID: targetID, What: what, Modified: props}.Entry(err)
}
