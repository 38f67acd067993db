package plan

import "slices"

// ReferenceInput is one provisioned user's manager reference: what the source says and what was last
// sent.
type ReferenceInput struct {
	// Managed, Disabled and Linked describe the user's own link: only managed, active, linked users get
	// reference updates (a disabled account keeps what it had).
	Managed, Disabled, Linked bool
	// ManagerKnown is false when the source named a manager that scimsync does not provision (out of
	// scope, or failed): the link waits until the manager is provisioned.
	ManagerKnown bool
	// SourceHasManager is true when the source names a manager at all.
	SourceHasManager bool
	// WantTarget is the target id of the manager when the manager is provisioned.
	WantTarget string
	// Have is the manager target id last sent for this user ("" for none).
	Have string
}

// ReferenceOp is what to do with one user's manager reference.
type ReferenceOp uint8

const (
	// RefKeep: nothing to send.
	RefKeep ReferenceOp = iota
	// RefSet: set the reference to Want (an Add when Have is empty, else a Replace).
	RefSet
	// RefClear: the source has no manager any more; clear it in the target.
	RefClear
)

// Reference decides one user's manager link. The table (first matching row wins):
//
//	 user link                 | source manager                    | change
//	---------------------------+-----------------------------------+------------------------------
//	 not linked/managed, or    | -                                 | keep (nothing is ours to send)
//	   disabled                |                                   |
//	 linked                    | provisioned, differs from sent    | set
//	 linked                    | provisioned, same as sent         | keep
//	 linked                    | named but not provisioned         | keep (linked once provisioned)
//	 linked                    | none, something was sent          | clear
//	 linked                    | none, nothing was sent            | keep
func Reference(in ReferenceInput) ReferenceOp {
	switch {
	case !in.Linked || !in.Managed || in.Disabled:
		return RefKeep
	case in.SourceHasManager && in.ManagerKnown && in.WantTarget != "" && in.WantTarget != in.Have:
		return RefSet
	case !in.SourceHasManager && in.Have != "":
		return RefClear
	}
	return RefKeep
}

// Waves orders the apply step's work so that users created in this cycle come after their manager:
// wave 0 holds everything that does not wait for a manager created in the same cycle, wave n the
// creates whose manager is in wave n-1, each in the order of work. A manager cycle (A manages B
// manages A) is cut and linked afterwards. managerOf names a user's manager ("" for none); nil when
// no manager is mapped (one wave). The waves are parts of work, reordered in place: at 100,000 users
// a copy of the changes would hold a second set of them while the first is sent.
func Waves(work []Change, managerOf func(id string) string) [][]Change {
	if managerOf == nil {
		return [][]Change{work}
	}
	creating := map[string]bool{}
	for _, c := range work {
		if c.Op == Create {
			creating[c.SourceID] = true
		}
	}
	depth := map[string]int{}
	var depthOf func(id string, seen int) int
	depthOf = func(id string, seen int) int {
		if d, ok := depth[id]; ok {
			return d
		}
		mgr := managerOf(id)
		d := 0
		if creating[mgr] && mgr != id && seen < 64 {
			d = depthOf(mgr, seen+1) + 1
		}
		depth[id] = d
		return d
	}
	// A stable counting sort by depth: dest is where each change goes, then the permutation is
	// applied in place, each change moved once.
	dest := make([]int, len(work))
	var counts []int
	for i, c := range work {
		d := 0
		if c.Op == Create {
			d = depthOf(c.SourceID, 0)
		}
		for len(counts) <= d {
			counts = append(counts, 0)
		}
		counts[d]++
		dest[i] = d
	}
	starts := make([]int, len(counts)+1)
	for d, n := range counts {
		starts[d+1] = starts[d] + n
	}
	next := slices.Clone(starts[:len(counts)])
	for i, d := range dest {
		dest[i] = next[d]
		next[d]++
	}
	for i := range work {
		for dest[i] != i {
			j := dest[i]
			work[i], work[j] = work[j], work[i]
			dest[i], dest[j] = dest[j], dest[i]
		}
	}
	out := make([][]Change, len(counts))
	for d := range counts {
		out[d] = work[starts[d]:starts[d+1]:starts[d+1]]
	}
	return out
}
