package plan

// Outcome classifies the answer to one write, as far as recovery is concerned.
type Outcome uint8

const (
	// Succeeded: the target confirmed the write.
	Succeeded Outcome = iota
	// Conflict: the target says the object exists already (409 on a create).
	Conflict
	// NotFound: the target object is gone (404 on an update, disable or delete).
	NotFound
	// Ambiguous: the write may or may not have been applied (a 5xx, a timeout, a reset connection, a
	// cancelled request): only reading the target tells.
	Ambiguous
	// Rejected: the target refused the write and applied nothing (4xx other than 404/409/429).
	Rejected
	// Fatal: credentials or compliance; the cycle stops.
	Fatal
)

// Step is what the engine does next with an object after a write's outcome.
type Step uint8

const (
	// Record the result and move on.
	Record Step = iota
	// Rematch: look the object up again by its matching attributes; adopt a single match, report
	// duplicates as a failure, and (for an update whose object is gone, when creates are allowed) create
	// it again when nothing matches.
	Rematch
	// Forget: the object is gone from the target, which is what the change wanted; drop or keep the link
	// as the change says, without failing.
	Forget
	// Escrow: fail the object for this cycle and retry it in a later one; a later cycle matches before it
	// creates, so an ambiguous create never becomes a duplicate.
	Escrow
	// EscrowObserve: like Escrow, and the object's members must be read from the target before the
	// next change of them (the change may have been applied).
	EscrowObserve
	// Stop: end the cycle (the judge quarantines the job).
	Stop
)

// Recover decides the next step after a write. The table:
//
//	 op              | outcome   | step
//	-----------------+-----------+---------------------------------------------------------------
//	 any             | succeeded | record
//	 any             | fatal     | stop
//	 create          | conflict  | rematch (adopt what exists: a lost answer, or someone else's create)
//	 update          | not found | rematch (InvalidAnchor: adopt or create again), escrow when creates are off
//	 disable, delete | not found | forget (already gone: nothing left to disable or delete)
//	 members         | any fail  | escrow, and read the group's members from the target next time
//	 other           | other     | escrow
func Recover(op Op, members bool, out Outcome, createAllowed bool) Step {
	switch {
	case out == Succeeded:
		return Record
	case out == Fatal:
		return Stop
	case members:
		return EscrowObserve
	case op == Create && out == Conflict:
		return Rematch
	case op == Update && out == NotFound && createAllowed:
		return Rematch
	case (op == Disable || op == Delete) && out == NotFound:
		return Forget
	}
	return Escrow
}
