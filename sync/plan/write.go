package plan

import "strings"

// Write is one planned request, for a target that takes many in one call (SCIM Bulk): the engine
// hands a wave of them over at once and settles each result as it settles a single request's.
type Write struct {
	// Op is Create, Update or Delete (an adopt's or a disable's attribute changes are an Update).
	Op       Op
	TargetID string
	// Values are a Create's flat values; Attrs an Update's changes.
	Values map[string]any
	Attrs  []AttrChange
}

// WriteResult is a Write's outcome: the id a Create made, or the error the single request would have
// given, so plan.Recover decides alike for both.
type WriteResult struct {
	TargetID string
	Err      error
}

// WriteOf is the request a planned change sends; send is false for an adopt with nothing to change
// (and for an op that sends nothing).
func WriteOf(c Change) (w Write, send bool) {
	switch c.Op {
	case Create:
		return Write{Op: Create, Values: c.Values}, true
	case Adopt:
		if len(c.Attrs) == 0 {
			return Write{}, false
		}
		return Write{Op: Update, TargetID: c.TargetID, Attrs: c.Attrs}, true
	case Update, Disable:
		return Write{Op: Update, TargetID: c.TargetID, Attrs: c.Attrs}, true
	case Delete:
		return Write{Op: Delete, TargetID: c.TargetID}, true
	}
	return Write{}, false
}

// Inactive reports whether values set the active flag to false (an adopted account of a user who is
// disabled in the source), so the link is recorded as disabled and the user stays out of its groups.
func Inactive(values map[string]any, active string) bool {
	if active == "" {
		return false
	}
	switch v := values[active].(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(v, "false")
	}
	return false
}
