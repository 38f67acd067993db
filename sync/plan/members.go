package plan

import "sort"

// Group memberships are decided here, not while sending: the engine gives the wanted members, what the
// target group holds (read from the target, or as recorded after the last successful change) and which
// target accounts scimsync is responsible for, and sends exactly the change this returns.
//
// The decision table for one user u and one provisioned group (first matching row wins):
//
//	 u wanted in the group | target holds u | u is scimsync's | change
//	-----------------------+----------------+-----------------+---------------------------------------------
//	 yes                   | no             | -               | Add
//	 yes                   | once           | -               | nothing
//	 yes                   | twice or more  | -               | Remove, then Add (repairs duplicate entries)
//	 no                    | yes            | yes             | Remove
//	 no                    | yes            | no              | nothing (a member someone else added)
//	 no                    | no             | -               | nothing
//
// u is wanted when it is a direct member of the source group, provisioned (linked and managed) and
// enabled. A user that is disabled or soft-deleted in the source, or leaves the scope, is deprovisioned,
// and Entra treats every deprovisioning event alike: the account is deactivated and taken out of its
// groups. Re-enabled, the user is wanted again and added back in the same cycle, so after any cycle the
// target group holds exactly the source group's provisioned, enabled members plus members scimsync does
// not manage.

// MemberInput is what Members decides from. All ids are target ids.
type MemberInput struct {
	// Want are the target ids of the users the group should hold.
	Want []string
	// Held are the target ids the target group holds, one entry per occurrence (a target that accepted the
	// same member twice lists it twice).
	Held []string
	// Ours are the target ids of the accounts scimsync manages or managed until this cycle: only those are
	// ever removed.
	Ours map[string]bool
}

// MemberChange is the difference to send, as target ids, sorted. Remove is sent before Add.
type MemberChange struct {
	Add, Remove []string
	// Repaired lists the members held more than once: they are in both Remove and Add.
	Repaired []string
}

// Empty reports whether nothing needs sending.
func (c MemberChange) Empty() bool { return len(c.Add) == 0 && len(c.Remove) == 0 }

// Members computes the membership change of one group.
func Members(in MemberInput) MemberChange {
	held := make(map[string]int, len(in.Held))
	for _, id := range in.Held {
		held[id]++
	}
	want := make(map[string]bool, len(in.Want))
	var out MemberChange
	for _, id := range in.Want {
		if id == "" || want[id] {
			continue
		}
		want[id] = true
		switch n := held[id]; {
		case n == 0:
			out.Add = append(out.Add, id)
		case n > 1:
			out.Remove = append(out.Remove, id)
			out.Add = append(out.Add, id)
			out.Repaired = append(out.Repaired, id)
		}
	}
	for id := range held {
		if !want[id] && in.Ours[id] {
			out.Remove = append(out.Remove, id)
		}
	}
	sort.Strings(out.Add)
	sort.Strings(out.Remove)
	sort.Strings(out.Repaired)
	return out
}

// MembersSource says where the held members of a group must come from before Members can decide.
type MembersSource uint8

const (
	// FromRecord: the members recorded after the last successful change are what the target holds.
	FromRecord MembersSource = iota
	// FromTarget: what the target holds is not known for sure; read the group's members from it.
	FromTarget
	// KnownEmpty: the group was created empty in this cycle.
	KnownEmpty
)

// MembersOrigin decides whether the record can be trusted. It cannot in an initial cycle (the state may
// have been lost or rebuilt), when no record exists (a group adopted rather than created), and when a
// change of the group's members may have reached the target without its answer reaching scimsync (an
// escrow is held: a failure, a timeout, or a process killed mid-change, which leaves the pending marker).
func MembersOrigin(createdNow, initial, recorded, uncertain bool) MembersSource {
	switch {
	case createdNow:
		return KnownEmpty
	case initial || !recorded || uncertain:
		return FromTarget
	}
	return FromRecord
}
