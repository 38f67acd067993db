package engine

import (
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// recordEscrows keeps the objects of kind that failed this cycle as escrows and drops the escrows of
// objects that succeeded: those planned (planned) and those whose references or members were
// settled (done). A failed manager link is escrowed under its user, a failed member change under its group.
// Escrows the read found expired are dropped (see record.Recorder.Escrows).
func (e *Engine) recordEscrows(rep *Report, kind store.Kind, expired []store.Escrow, planned []string, done ...string) error {
	var failures []record.Failure
	for _, f := range rep.Failures {
		if escrowKind(f.Kind) == kind {
			failures = append(failures, record.Failure{SourceID: f.SourceID, Op: f.Op, Err: f.Err, Cause: f.Cause()})
		}
	}
	ids := make([]string, 0, len(planned)+len(done))
	ids = append(append(ids, planned...), done...)
	held, err := e.rec.Escrows(kind, failures, ids, expired)
	rep.Escrowed += held
	return err
}

// escrowKind is the object a failure is escrowed under: references under their user, member changes
// under their group. A failed manager link's escrow makes the next cycle read the user again and retry
// the link; a failed member change's, the group's members.
func escrowKind(s summary.Subject) store.Kind {
	switch s {
	case summary.SubjectUser, summary.SubjectManager:
		return store.KindUser
	case summary.SubjectGroup, summary.SubjectMembership:
		return store.KindGroup
	}
	return ""
}
