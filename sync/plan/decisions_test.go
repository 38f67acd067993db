package plan

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	ours := map[string]bool{"t1": true, "t2": true, "t3": true, "t4": true}
	tests := []struct {
		name             string
		want, held       []string
		ours             map[string]bool
		add, remove, rep []string
	}{
		{name: "empty group gets every wanted member", want: []string{"t2", "t1"}, ours: ours, add: []string{"t1", "t2"}},
		{name: "nothing to do", want: []string{"t1", "t2"}, held: []string{"t2", "t1"}, ours: ours},
		{name: "only the missing member is added", want: []string{"t1", "t2", "t3"}, held: []string{"t1"}, ours: ours, add: []string{"t2", "t3"}},
		{name: "our member not wanted is removed", want: []string{"t1"}, held: []string{"t1", "t2"}, ours: ours, remove: []string{"t2"}},
		{name: "a member someone else added is left alone", want: []string{"t1"}, held: []string{"t1", "x9"}, ours: ours},
		{name: "duplicate entries are repaired", want: []string{"t1", "t2"}, held: []string{"t1", "t1", "t2", "t2", "t2"}, ours: ours,
			add: []string{"t1", "t2"}, remove: []string{"t1", "t2"}, rep: []string{"t1", "t2"}},
		{name: "duplicate of an unwanted member of ours is removed once", want: nil, held: []string{"t3", "t3"}, ours: ours, remove: []string{"t3"}},
		{name: "duplicate of someone else's member is left alone", want: []string{"t1"}, held: []string{"t1", "x9", "x9"}, ours: ours},
		{name: "wanted listed twice is added once", want: []string{"t1", "t1"}, ours: ours, add: []string{"t1"}},
		{name: "empty target id is ignored", want: []string{""}, ours: ours},
		{name: "re-enabled member back with the rest", want: []string{"t1", "t4"}, held: []string{"t1"}, ours: ours, add: []string{"t4"}},
		{name: "disabled member leaves", want: []string{"t1"}, held: []string{"t1", "t4"}, ours: ours, remove: []string{"t4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Members(MemberInput{Want: tt.want, Held: tt.held, Ours: tt.ours})
			if !reflect.DeepEqual(got.Add, tt.add) || !reflect.DeepEqual(got.Remove, tt.remove) || !reflect.DeepEqual(got.Repaired, tt.rep) {
				t.Fatalf("got add %v remove %v repaired %v; want add %v remove %v repaired %v", got.Add, got.Remove, got.Repaired, tt.add, tt.remove, tt.rep)
			}
			if got.Empty() != (len(tt.add)+len(tt.remove) == 0) {
				t.Fatalf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestMembersOrigin(t *testing.T) {
	tests := []struct {
		created, initial, recorded, uncertain bool
		want                                  MembersSource
	}{
		{created: true, initial: true, want: KnownEmpty},
		{created: true, uncertain: true, want: KnownEmpty},
		{recorded: true, want: FromRecord},
		{initial: true, recorded: true, want: FromTarget},
		{recorded: false, want: FromTarget},
		{recorded: true, uncertain: true, want: FromTarget},
	}
	for _, tt := range tests {
		if got := MembersOrigin(tt.created, tt.initial, tt.recorded, tt.uncertain); got != tt.want {
			t.Errorf("MembersOrigin(created=%v initial=%v recorded=%v uncertain=%v) = %v, want %v", tt.created, tt.initial, tt.recorded, tt.uncertain, got, tt.want)
		}
	}
}

func TestReference(t *testing.T) {
	linked := ReferenceInput{Linked: true, Managed: true}
	with := func(f func(*ReferenceInput)) ReferenceInput { in := linked; f(&in); return in }
	tests := []struct {
		name string
		in   ReferenceInput
		want ReferenceOp
	}{
		{"not linked", ReferenceInput{SourceHasManager: true, ManagerKnown: true, WantTarget: "m"}, RefKeep},
		{"unmanaged", ReferenceInput{Linked: true, SourceHasManager: true, ManagerKnown: true, WantTarget: "m"}, RefKeep},
		{"disabled keeps its manager", with(func(i *ReferenceInput) {
			i.Disabled, i.SourceHasManager, i.ManagerKnown, i.WantTarget = true, true, true, "m"
		}), RefKeep},
		{"new manager is set", with(func(i *ReferenceInput) { i.SourceHasManager, i.ManagerKnown, i.WantTarget = true, true, "m" }), RefSet},
		{"changed manager is set", with(func(i *ReferenceInput) {
			i.SourceHasManager, i.ManagerKnown, i.WantTarget, i.Have = true, true, "m2", "m1"
		}), RefSet},
		{"same manager is kept", with(func(i *ReferenceInput) {
			i.SourceHasManager, i.ManagerKnown, i.WantTarget, i.Have = true, true, "m", "m"
		}), RefKeep},
		{"manager not provisioned waits", with(func(i *ReferenceInput) { i.SourceHasManager, i.Have = true, "m1" }), RefKeep},
		{"manager removed in source is cleared", with(func(i *ReferenceInput) { i.Have = "m1" }), RefClear},
		{"no manager anywhere", linked, RefKeep},
	}
	for _, tt := range tests {
		if got := Reference(tt.in); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRecover(t *testing.T) {
	tests := []struct {
		op      Op
		members bool
		out     Outcome
		create  bool
		want    Step
	}{
		{Create, false, Succeeded, true, Record},
		{Create, false, Conflict, true, Rematch},
		{Create, false, Ambiguous, true, Escrow},
		{Create, false, Rejected, true, Escrow},
		{Create, false, Fatal, true, Stop},
		{Update, false, NotFound, true, Rematch},
		{Update, false, NotFound, false, Escrow},
		{Update, false, Ambiguous, true, Escrow},
		{Adopt, false, NotFound, true, Escrow},
		{Disable, false, NotFound, true, Forget},
		{Delete, false, NotFound, false, Forget},
		{Delete, false, Ambiguous, false, Escrow},
		{Update, true, Ambiguous, true, EscrowObserve},
		{Update, true, Rejected, true, EscrowObserve},
		{Update, true, NotFound, true, EscrowObserve},
		{Update, true, Fatal, true, Stop},
		{Update, true, Succeeded, true, Record},
	}
	for _, tt := range tests {
		if got := Recover(tt.op, tt.members, tt.out, tt.create); got != tt.want {
			t.Errorf("Recover(%v, members=%v, %v, create=%v) = %v, want %v", tt.op, tt.members, tt.out, tt.create, got, tt.want)
		}
	}
}

func TestGuard(t *testing.T) {
	mk := func(ops ...Op) []Change {
		out := make([]Change, len(ops))
		for i, op := range ops {
			out[i] = Change{Op: op, SourceID: string(rune('a' + i))}
		}
		return out
	}
	tests := []struct {
		name          string
		threshold     int
		users, groups []Op
		held          int
		wantUsers     []Op
		wantGroups    []Op
	}{
		{"off", 0, []Op{Disable, Delete}, []Op{Delete}, 0, []Op{Disable, Delete}, []Op{Delete}},
		{"below the threshold", 4, []Op{Disable, Delete, Update}, []Op{Delete}, 0, []Op{Disable, Delete, Update}, []Op{Delete}},
		{"users and groups count together", 3, []Op{Disable, Update, Delete}, []Op{Delete, Create}, 3,
			[]Op{Skip, Update, Skip}, []Op{Skip, Create}},
		{"exactly the threshold holds", 2, []Op{Disable, Disable}, nil, 2, []Op{Skip, Skip}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, groups := mk(tt.users...), mk(tt.groups...)
			before := append(append([]Change(nil), users...), groups...)
			if got := Guard(tt.threshold, users, groups); got != tt.held {
				t.Fatalf("held %d, want %d", got, tt.held)
			}
			check := func(list []Change, want []Op, offset int) {
				for i, c := range list {
					if c.Op != want[i] {
						t.Fatalf("change %s: op %v, want %v", c.SourceID, c.Op, want[i])
					}
					orig := before[offset+i].Op
					if c.Op == Skip && (orig == Disable || orig == Delete) {
						if !c.Staged() || c.Held != orig {
							t.Fatalf("change %s: held %v, staged %v; want held %v", c.SourceID, c.Held, c.Staged(), orig)
						}
					} else if c.Staged() {
						t.Fatalf("change %s staged but not held", c.SourceID)
					}
				}
			}
			check(users, tt.wantUsers, 0)
			check(groups, tt.wantGroups, len(users))
		})
	}
}

func TestWavesPutCreatesAfterTheirManager(t *testing.T) {
	// c reports to b reports to a, all created; d's manager m is not created this cycle; x and y
	// manage each other; u is an update whose manager a is created (updates never wait).
	mgr := map[string]string{"a": "", "b": "a", "c": "b", "d": "m", "x": "y", "y": "x", "u": "a"}
	var work []Change
	for _, id := range []string{"c", "b", "a", "d", "x", "y"} {
		work = append(work, Change{SourceID: id, Op: Create})
	}
	work = append(work, Change{SourceID: "u", Op: Update})
	got := Waves(work, func(id string) string { return mgr[id] })
	var names [][]string
	for _, w := range got {
		var ids []string
		for _, c := range w {
			ids = append(ids, c.SourceID)
		}
		names = append(names, ids)
	}
	// The x/y cycle is cut after 64 steps at the latest: both land in some wave, each exactly once.
	seen := map[string]int{}
	for _, w := range names {
		for _, id := range w {
			seen[id]++
		}
	}
	depth := func(id string) int {
		for i, w := range names {
			if slices.Contains(w, id) {
				return i
			}
		}
		return -1
	}
	if len(seen) != 7 || seen["x"] != 1 || seen["y"] != 1 || depth("a") != 0 || depth("b") != 1 || depth("c") != 2 ||
		depth("d") != 0 || depth("u") != 0 {
		t.Errorf("waves %v", names)
	}
	// Within a wave the order of work is kept: a, d and u came in that order.
	if w0 := strings.Join(slices.DeleteFunc(slices.Clone(names[0]), func(id string) bool { return id == "x" || id == "y" }), " "); w0 != "a d u" {
		t.Errorf("wave 0 without the cycle is %q, want \"a d u\" (the order of work)", w0)
	}
	if one := Waves(work, nil); len(one) != 1 || len(one[0]) != len(work) {
		t.Errorf("without managers: %d waves", len(one))
	}
}

func TestOpSends(t *testing.T) {
	var sent []string
	for op := Unchanged; op <= Skip; op++ {
		if op.Sends() {
			sent = append(sent, op.String())
		}
	}
	if got := strings.Join(sent, " "); got != "create match update disable delete" {
		t.Errorf("ops sent: %s", got)
	}
}
