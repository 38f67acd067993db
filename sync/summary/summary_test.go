package summary

import (
	"errors"
	"testing"

	"github.com/scimsync/scimsync/sync/plan"
)

func TestTotalsAddUsersGroupsAndReferences(t *testing.T) {
	r := &Report{}
	for _, op := range []plan.Op{plan.Create, plan.Create, plan.Adopt, plan.Update, plan.Disable, plan.Delete, plan.Unchanged, plan.Skip} {
		r.Counts.Add(op, false)
	}
	r.Counts.Add(plan.Create, true)
	for _, op := range []plan.Op{plan.Create, plan.Adopt, plan.Update, plan.Delete, plan.Unchanged, plan.Unchanged} {
		r.Groups.Add(op, false)
	}
	r.MembersAdded, r.MembersRemoved, r.OtherFailed = 5, 2, 3
	got := r.Totals()
	// Counted by hand: users 2 created, 1 matched + 1 updated, 1 disabled, 1 deleted, 1 unchanged, 1
	// skipped, 1 failed; groups 1 created, 1 matched + 1 updated, 1 deleted, 2 unchanged.
	want := Totals{Created: 3, Updated: 4, Disabled: 1, Deleted: 2, Unchanged: 3, Skipped: 1, Failed: 4,
		Writes: 3 + 4 + 1 + 2 + 5 + 2, Succeeded: 3 + 4 + 1 + 2 + 5 + 2 + 3}
	if got != want {
		t.Errorf("totals = %+v\nwant     %+v", got, want)
	}
	if r.TotalFailed() != 4 || r.Totals().Writes != want.Writes {
		t.Errorf("TotalFailed %d, Writes %d", r.TotalFailed(), r.Totals().Writes)
	}
}

func TestFailureKeepsItsCause(t *testing.T) {
	cause := errors.New("409")
	f := NewFailure(SubjectManager, "u1", "ann@x", "link manager", "conflict", cause)
	if !errors.Is(f.Cause(), cause) || f.Err != "conflict" || f.Kind != SubjectManager {
		t.Errorf("failure = %+v", f)
	}
	if NewFailure(SubjectUser, "u1", "ann@x", "Match", "no mapping", nil).Cause() != nil {
		t.Error("a plan-level failure has a cause")
	}
}
