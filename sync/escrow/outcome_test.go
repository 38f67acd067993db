package escrow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/sync/escrow"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/quarantine"
)

func TestOutcomeOfAWrite(t *testing.T) {
	wrap := func(kind error) error { return fmt.Errorf("create user ann: %w", &scimclient.Error{Kind: kind}) }
	for _, tc := range []struct {
		err  error
		want plan.Outcome
	}{
		{nil, plan.Succeeded},
		{wrap(scimclient.ErrUnauthorized), plan.Fatal},
		{wrap(scimclient.ErrCompliance), plan.Fatal},
		{wrap(scimclient.ErrConflict), plan.Conflict},
		{wrap(scimclient.ErrNotFound), plan.NotFound},
		{wrap(scimclient.ErrInvalid), plan.Rejected},
		{wrap(scimclient.ErrTransient), plan.Ambiguous},
		{wrap(scimclient.ErrThrottled), plan.Ambiguous},
		{context.Canceled, plan.Ambiguous},
		{errors.New("connection reset"), plan.Ambiguous},
	} {
		if got := escrow.Outcome(tc.err); got != tc.want {
			t.Errorf("Outcome(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if (escrow.Outcome(tc.err) == plan.Fatal) != (tc.err != nil && quarantine.IsFatal(tc.err)) {
			t.Errorf("Outcome(%v) and quarantine.IsFatal disagree", tc.err)
		}
	}
}
