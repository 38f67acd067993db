package escrow

import (
	"errors"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/sync/plan"
)

// Outcome classifies a write's error for plan.Recover. A credentials or compliance failure (what
// quarantine.IsFatal calls fatal) is Fatal; a definite answer of the target is Conflict, NotFound or
// Rejected; anything else (5xx, 429 after retries, timeouts, resets, cancellation) is Ambiguous: the
// write may have been applied.
func Outcome(err error) plan.Outcome {
	switch {
	case err == nil:
		return plan.Succeeded
	case errors.Is(err, scimclient.ErrUnauthorized), errors.Is(err, scimclient.ErrCompliance):
		return plan.Fatal
	case errors.Is(err, scimclient.ErrConflict):
		return plan.Conflict
	case errors.Is(err, scimclient.ErrNotFound):
		return plan.NotFound
	case Classify(err) == InvalidData:
		return plan.Rejected
	}
	return plan.Ambiguous
}
