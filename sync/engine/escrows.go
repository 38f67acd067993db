package engine

import (
	"fmt"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
)

// recordEscrows keeps the objects that failed this cycle as escrows, so that incremental cycles read
// and retry them although they did not change in the directory, and drops the escrows of objects that
// succeeded.
func (e *Engine) recordEscrows(rep *Report, kind store.Kind, objs []plan.Object) error {
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
		if failed[f.SourceID] || f.SourceID == "" || f.Kind != string(kind) {
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
	for _, o := range objs {
		if _, had := prev[o.SourceID]; had && !failed[o.SourceID] {
			if err := e.st.DeleteEscrow(kind, o.SourceID); err != nil {
				return fmt.Errorf("clear escrow: %w", err)
			}
			held--
		}
	}
	rep.Escrowed += held
	return nil
}
