package plan

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
