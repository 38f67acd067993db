package plan

import (
	"errors"
	"reflect"
	"testing"
)

func TestPlanDecisionTable(t *testing.T) {
	full := Policy{Create: true, Update: true, Delete: true, Active: "active"}
	inScope := func(v map[string]any) Object {
		return Object{SourceID: "u1", Identity: "ann@contoso.com", InScope: true, Enabled: true, Values: v, CreateValues: v}
	}
	base := map[string]any{"userName": "ann@contoso.com", "active": true, "title": "Engineer"}
	link := Link{TargetID: "t1", Managed: true, Values: base, Hash: ValuesHash(base)}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := Merged(m, nil)
		out[k] = v
		return out
	}
	tests := []struct {
		name     string
		obj      Object
		link     *Link
		lookup   *Lookup
		policy   Policy
		wantOp   Op
		wantAttr []AttrChange
		failed   bool
	}{
		{name: "mapping error fails the object", obj: Object{SourceID: "u1", InScope: true, Enabled: true, Err: errors.New("CDate: bad date")}, policy: full, wantOp: Skip, failed: true},
		{name: "new user is created", obj: inScope(base), lookup: &Lookup{}, policy: full, wantOp: Create},
		{name: "create action off", obj: inScope(base), lookup: &Lookup{}, policy: Policy{Update: true}, wantOp: Skip},
		{name: "disabled new user is never provisioned", obj: Object{SourceID: "u1", InScope: true, Enabled: false, Values: base}, lookup: &Lookup{}, policy: full, wantOp: Skip},
		{name: "disabled user whose account exists gets it deactivated", obj: Object{SourceID: "u1", InScope: true, Enabled: false, Values: with(base, "active", false)},
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "t9", Values: base}}}, policy: full, wantOp: Adopt,
			wantAttr: []AttrChange{{Path: "active", Old: true, New: false}}},
		{name: "disabled user with two accounts is skipped, not failed", obj: Object{SourceID: "u1", InScope: true, Enabled: false, Values: base},
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "a"}, {TargetID: "b"}}}, policy: full, wantOp: Skip},
		{name: "existing account is adopted with a diff", obj: inScope(base),
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "t9", Values: map[string]any{"userName": "ann@contoso.com", "active": true, "title": "Intern"}}}},
			policy: full, wantOp: Adopt, wantAttr: []AttrChange{{Path: "title", Old: "Intern", New: "Engineer"}}},
		{name: "adopt with case-only difference sends nothing", obj: inScope(base),
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "t9", Values: map[string]any{"userName": "ANN@contoso.com", "active": "True", "title": "engineer"}}}},
			policy: full, wantOp: Adopt},
		{name: "two target accounts match", obj: inScope(base), lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "a"}, {TargetID: "b"}}}, policy: full, wantOp: Skip, failed: true},
		{name: "lookup failure", obj: inScope(base), lookup: &Lookup{Err: errors.New("timeout")}, policy: full, wantOp: Skip, failed: true},
		{name: "linked and unchanged", obj: inScope(base), link: &link, policy: full, wantOp: Unchanged},
		{name: "linked and changed title", obj: inScope(with(base, "title", "Lead")), link: &link, policy: full, wantOp: Update,
			wantAttr: []AttrChange{{Path: "title", Old: "Engineer", New: "Lead"}}},
		{name: "new attribute is an Add", obj: inScope(with(base, "locale", "de-DE")), link: &link, policy: full, wantOp: Update,
			wantAttr: []AttrChange{{Path: "locale", New: "de-DE", Add: true}}},
		{name: "null source value is not sent", obj: inScope(map[string]any{"userName": "ann@contoso.com", "active": true}), link: &link, policy: full, wantOp: Unchanged},
		{name: "update action off", obj: inScope(with(base, "title", "Lead")), link: &link, policy: Policy{Create: true, Active: "active"}, wantOp: Skip},
		{name: "disabled in source disables", obj: Object{SourceID: "u1", InScope: true, Enabled: false, Values: with(base, "active", false)}, link: &link, policy: full, wantOp: Disable,
			wantAttr: []AttrChange{{Path: "active", Old: true, New: false}}},
		{name: "out of scope disables", obj: Object{SourceID: "u1", InScope: false, ScopeReason: "unassigned", Enabled: true, Values: with(base, "active", false)}, link: &link, policy: full, wantOp: Disable,
			wantAttr: []AttrChange{{Path: "active", Old: true, New: false}}},
		{name: "out of scope with skipOutOfScopeDeletions", obj: Object{SourceID: "u1", InScope: false, Values: with(base, "active", false)}, link: &link,
			policy: Policy{Create: true, Update: true, Delete: true, Active: "active", SkipOutOfScopeDeletions: true}, wantOp: Skip},
		{name: "out of scope and already disabled", obj: Object{SourceID: "u1", InScope: false, Values: with(base, "active", false)},
			link: &Link{TargetID: "t1", Managed: true, Values: with(base, "active", false), Hash: ValuesHash(with(base, "active", false))}, policy: full, wantOp: Unchanged},
		{name: "out of scope other changes do not flow", obj: Object{SourceID: "u1", InScope: false, Values: with(with(base, "active", false), "title", "X")},
			link: &Link{TargetID: "t1", Managed: true, Values: with(base, "active", false), Hash: ValuesHash(with(base, "active", false))}, policy: full, wantOp: Skip},
		{name: "out of scope never managed", obj: Object{SourceID: "u1", InScope: false, Values: base}, policy: full, wantOp: Skip},
		{name: "out of scope, create pending, account found: disabled", obj: Object{SourceID: "u1", InScope: false, Pending: true, Values: with(base, "active", false)},
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "t9", Values: base}}}, policy: full, wantOp: Disable,
			wantAttr: []AttrChange{{Path: "active", Old: true, New: false}}},
		{name: "out of scope, create pending, nothing found", obj: Object{SourceID: "u1", InScope: false, Pending: true, Values: with(base, "active", false)},
			lookup: &Lookup{}, policy: full, wantOp: Skip},
		{name: "out of scope, no create pending: a matching account is not ours", obj: Object{SourceID: "u1", InScope: false, Values: with(base, "active", false)},
			lookup: &Lookup{By: "userName", Candidates: []Candidate{{TargetID: "t9", Values: base}}}, policy: full, wantOp: Skip},
		{name: "out of scope unmanaged link is untouched", obj: Object{SourceID: "u1", InScope: false, Values: with(base, "active", false)}, link: &Link{TargetID: "t1", Managed: false, Values: base}, policy: full, wantOp: Skip},
		{name: "hard delete with Delete on", obj: Object{SourceID: "u1", HardDeleted: true}, link: &link, policy: full, wantOp: Delete},
		{name: "hard delete with Delete off", obj: Object{SourceID: "u1", HardDeleted: true}, link: &link, policy: Policy{Create: true, Update: true}, wantOp: Skip},
		{name: "hard delete of an unmanaged object", obj: Object{SourceID: "u1", HardDeleted: true}, policy: full, wantOp: Skip},
		{name: "group out of scope is deleted", obj: Object{SourceID: "u1", InScope: false, Enabled: true, Values: base}, link: &link,
			policy: Policy{Create: true, Update: true, Delete: true, DeleteOutOfScope: true}, wantOp: Delete},
		{name: "group out of scope with Delete off", obj: Object{SourceID: "u1", InScope: false, Enabled: true, Values: base}, link: &link,
			policy: Policy{Create: true, Update: true, DeleteOutOfScope: true}, wantOp: Skip},
		{name: "group out of scope with skipOutOfScopeDeletions", obj: Object{SourceID: "u1", InScope: false, Enabled: true, Values: base}, link: &link,
			policy: Policy{Create: true, Update: true, Delete: true, DeleteOutOfScope: true, SkipOutOfScopeDeletions: true}, wantOp: Skip},
		{name: "re-enabled user is reactivated", obj: inScope(base),
			link: &Link{TargetID: "t1", Managed: true, Values: with(base, "active", false), Hash: ValuesHash(with(base, "active", false))}, policy: full, wantOp: Update,
			wantAttr: []AttrChange{{Path: "active", Old: false, New: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Objects: []Object{tc.obj}, Links: map[string]Link{}, Lookups: map[string]Lookup{}, Policy: tc.policy}
			if tc.link != nil {
				in.Links["u1"] = *tc.link
			}
			if tc.lookup != nil {
				in.Lookups["u1"] = *tc.lookup
			}
			got := Plan(in)
			if len(got) != 1 {
				t.Fatalf("got %d changes", len(got))
			}
			c := got[0]
			if c.Op != tc.wantOp {
				t.Fatalf("op = %v (%s), want %v", c.Op, c.Reason, tc.wantOp)
			}
			if c.Failed != tc.failed {
				t.Errorf("failed = %v, want %v", c.Failed, tc.failed)
			}
			if !reflect.DeepEqual(c.Attrs, tc.wantAttr) {
				t.Errorf("attrs = %#v, want %#v", c.Attrs, tc.wantAttr)
			}
			if c.Unmanage != (c.Op == Disable && !tc.obj.InScope) {
				t.Errorf("unmanage = %v for %v of an object in scope %v", c.Unmanage, c.Op, tc.obj.InScope)
			}
			if (c.Op == Create || c.Op == Update || c.Op == Adopt || c.Op == Disable) && c.Hash != ValuesHash(c.Values) {
				t.Errorf("hash does not match values")
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b      any
		caseExact bool
		want      bool
	}{
		{"Ann", "ann", false, true},
		{"Ann", "ann", true, false},
		{true, "True", false, true},
		{false, "true", false, false},
		{int64(3), float64(3), false, true},
		{[]string{"a", "b"}, []any{"a", "b"}, false, true},
		{[]string{"a", "b"}, []any{"b", "a"}, false, false},
		{"x", nil, false, false},
		{nil, nil, false, true},
	}
	for _, tc := range tests {
		if got := Equal(tc.a, tc.b, tc.caseExact); got != tc.want {
			t.Errorf("Equal(%#v, %#v, %v) = %v", tc.a, tc.b, tc.caseExact, got)
		}
	}
}

func TestValuesHashIsStableAcrossNumberTypes(t *testing.T) {
	a := ValuesHash(map[string]any{"n": int64(3), "l": []string{"x"}, "b": true})
	b := ValuesHash(map[string]any{"b": true, "l": []any{"x"}, "n": float64(3)})
	if a != b {
		t.Fatalf("hash differs: %s vs %s", a, b)
	}
	if a == ValuesHash(map[string]any{"n": int64(4), "l": []string{"x"}, "b": true}) {
		t.Fatal("hash ignores a changed value")
	}
}
