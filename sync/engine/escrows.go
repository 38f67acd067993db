package engine

import (
	"fmt"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
)

// recordEscrows keeps the objects that failed this cycle as escrows, so that incremental cycles read
// and retry them although they did not change in the directory, and drops the escrows of objects that
// succeeded: those planned (objs) and those whose references or members were settled (done). A failed
// manager link is escrowed under its user, a failed member change under its group.
func (e *Engine) recordEscrows(rep *Report, kind store.Kind, objs []plan.Object, done ...string) error {
	all, err := e.st.Escrows()
	if err != nil {
		return fmt.Errorf("read escrows: %w", err)
	}
	prev := map[string]store.Escrow{}
	for _, es := range all {
		if es.Kind == kind {
			prev[es.SourceID] = es
		}
	}
	failed := map[string]bool{}
	now := e.o.Now()
	var put []store.Escrow
	for _, f := range rep.Failures {
		if failed[f.SourceID] || f.SourceID == "" || escrowKind(f.Kind) != kind {
			continue
		}
		failed[f.SourceID] = true
		var last *store.Escrow
		if es, had := prev[f.SourceID]; had {
			last = &es
		}
		class := escrow.Classify(f.Cause())
		if f.Cause() == nil {
			class = escrow.InvalidData
		}
		put = append(put, escrow.Next(last, kind, f.SourceID, f.Op, class, f.Err, now))
	}
	if err := e.st.PutEscrows(put...); err != nil {
		return fmt.Errorf("record escrows: %w", err)
	}
	// held ends up as the escrows kept after this cycle: the earlier ones not cleared, plus the new.
	held := len(prev)
	for id := range failed {
		if _, had := prev[id]; !had {
			held++
		}
	}
	cleared := map[string]bool{}
	clear := func(id string) error {
		if _, had := prev[id]; !had || failed[id] || cleared[id] {
			return nil
		}
		cleared[id] = true
		if err := e.st.DeleteEscrow(kind, id); err != nil {
			return fmt.Errorf("clear escrow: %w", err)
		}
		held--
		return nil
	}
	for _, o := range objs {
		if err := clear(o.SourceID); err != nil {
			return err
		}
	}
	for _, id := range done {
		if err := clear(id); err != nil {
			return err
		}
	}
	rep.Escrowed += held
	return nil
}

// escrowKind is the object a failure is escrowed under: references under their user, member changes
// under their group.
func escrowKind(failureKind string) store.Kind {
	switch failureKind {
	case string(store.KindUser), kindManager:
		return store.KindUser
	case string(store.KindGroup), kindMembership:
		return store.KindGroup
	}
	return ""
}
