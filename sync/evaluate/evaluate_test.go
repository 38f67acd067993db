package evaluate

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
)

const mgrPath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"

func table(t testing.TB) *mapping.Table {
	t.Helper()
	active, err := mapping.Compile("Not([IsSoftDeleted])", mapping.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &mapping.Table{Mappings: []mapping.Mapping{
		{Target: "userName", Kind: mapping.Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: mapping.Expression, Expr: active, Type: mapping.TypeBoolean},
		{Target: mgrPath, Kind: mapping.Direct, Attribute: "manager", Type: mapping.TypeReference},
	}}
}

func u(id, upn string, enabled bool, removed directory.Removal) directory.User {
	return directory.User{ID: id, Removed: removed, ManagerKnown: true, Attributes: mapping.AttributeMap{
		"userPrincipalName": mapping.Str(upn), "accountEnabled": mapping.Bool(enabled), "manager": mapping.Str("m"),
	}}
}

func TestUsersScopeAndIsSoftDeleted(t *testing.T) {
	ev := New(table(t), nil, nil, nil, &mapping.Env{})
	users := []directory.User{
		u("a", "ann@x", true, directory.NotRemoved),
		u("b", "bob@x", false, directory.NotRemoved),
		u("c", "cy@x", true, directory.NotRemoved),
		u("d", "dan@x", true, directory.SoftDeleted),
		{ID: "e", Removed: directory.HardDeleted},
	}
	objs, refs := ev.Users(users, map[string]bool{"a": true, "b": true, "d": true}, nil, true)
	type want struct {
		inScope, enabled, hard bool
		active                 any
	}
	wants := map[string]want{
		"a": {true, true, false, true},
		"b": {true, false, false, false}, // disabled: in scope, deactivated
		"c": {false, true, false, false}, // not assigned
		"d": {true, false, false, false}, // soft-deleted
		"e": {false, false, true, nil},
	}
	for _, o := range objs {
		w := wants[o.SourceID]
		if o.InScope != w.inScope || o.Enabled != w.enabled || o.HardDeleted != w.hard || o.Values["active"] != w.active {
			t.Errorf("%s: in scope %v, enabled %v, hard %v, active %v; want %+v", o.SourceID, o.InScope, o.Enabled, o.HardDeleted, o.Values["active"], w)
		}
		if _, ref := o.Values[mgrPath]; ref {
			t.Errorf("%s: a reference is exported before it is resolved", o.SourceID)
		}
	}
	if m, known := refs.Manager("a", ev.RefPaths()); !known || m != "m" {
		t.Errorf("a's manager = %q, %v; want m, known", m, known)
	}
	if _, known := refs.Manager("e", ev.RefPaths()); known {
		t.Error("a hard-deleted user has known references")
	}
}

func TestMissingUsersAreSoftDeleted(t *testing.T) {
	ev := New(table(t), nil, nil, nil, &mapping.Env{})
	objs := ev.Missing([]string{"gone"})
	if len(objs) != 1 || !objs[0].InScope || objs[0].Enabled || objs[0].Values["active"] != false {
		t.Fatalf("missing = %+v, want in scope, not enabled, active false (a disable, never a delete)", objs)
	}
}

func TestDrainEvaluatesLikeUsersAndClearsWhatItEvaluated(t *testing.T) {
	ev := New(table(t), nil, nil, nil, &mapping.Env{})
	// Two chunks and a part: every user evaluated once, in order, whatever the chunk it falls in.
	n := 2*drainChunk + 7
	users := make([]directory.User, n)
	for i := range users {
		users[i] = u(fmt.Sprintf("u%05d", i), fmt.Sprintf("user%d@x", i), i%3 != 0, directory.NotRemoved)
	}
	wantObjs, wantRefs := ev.Users(users, nil, nil, true)
	list := directory.ListOf(users...)
	objs, refs := ev.Drain(&list, nil, nil, true, nil)
	if len(objs) != n || len(refs) != len(wantRefs) {
		t.Fatalf("%d objects, %d refs; want %d and %d", len(objs), len(refs), n, len(wantRefs))
	}
	for i := range objs {
		g, w := objs[i], wantObjs[i]
		if g.SourceID != w.SourceID || g.Enabled != w.Enabled || g.Values["userName"] != w.Values["userName"] ||
			g.Values["active"] != w.Values["active"] || refs[g.SourceID][0] != "m" {
			t.Fatalf("object %d: %+v, want %+v (refs %v)", i, g, w, refs[g.SourceID])
		}
	}
	for i := range list.Len() {
		if x := list.At(i); x.ID != users[i].ID || x.Attributes != nil {
			t.Fatalf("user %d kept after it was evaluated: %+v", i, x)
		}
	}
}

// Drain unpacks every user of a chunk into one reused map (UserList.AtInto): a value of one user left
// in it would be exported for the next. Neighbouring users here differ in which attributes they have,
// so each expected value is worked out from the user's own attributes alone.
func TestDrainKeepsNoAttributeOfOneUserForAnother(t *testing.T) {
	tbl := table(t) // userName, active, the manager
	tbl.Mappings = append(tbl.Mappings,
		mapping.Mapping{Target: "dept", Kind: mapping.Direct, Attribute: "department"},
		mapping.Mapping{Target: "externalId", Kind: mapping.Direct, Attribute: "objectId"},
		mapping.Mapping{Target: "roles", Kind: mapping.Direct, Attribute: "appRoleAssignments", Type: mapping.TypeMulti},
		mapping.Mapping{Target: "nickName", Kind: mapping.Direct, Attribute: "mailNickname", Flow: mapping.OnCreate})
	ev := New(tbl, nil, nil, nil, &mapping.Env{})
	n := 2*drainChunk + 31
	users := make([]directory.User, n)
	assigned, roles := map[string]bool{}, map[string][]string{}
	for i := range users {
		id := fmt.Sprintf("u%05d", i)
		a := mapping.AttributeMap{"userPrincipalName": mapping.Str(id + "@x")}
		if i%3 == 0 {
			a["department"] = mapping.Str(fmt.Sprint("dept", i))
		}
		if i%2 == 0 {
			a["manager"] = mapping.Str(fmt.Sprint("m", i))
		}
		if i%5 == 0 {
			a["objectId"] = mapping.Str(fmt.Sprint("own", i))
		}
		if i%7 == 0 {
			a["accountEnabled"] = mapping.Bool(false)
		}
		if i%6 == 1 {
			a["mailNickname"] = mapping.Str(fmt.Sprint("nick", i))
		}
		if i%4 == 0 {
			roles[id] = []string{fmt.Sprint("role", i)}
		}
		if i%11 != 0 {
			assigned[id] = true
		}
		users[i] = directory.User{ID: id, Attributes: a}
	}
	list := directory.ListOf(users...)
	objs, refs := ev.Drain(&list, assigned, roles, true, nil)
	if len(objs) != n {
		t.Fatalf("%d objects, want %d", len(objs), n)
	}
	for i, o := range objs {
		id := users[i].ID
		want := map[string]any{"userName": id + "@x", "active": i%7 != 0 && i%11 != 0, "externalId": id}
		if i%3 == 0 {
			want["dept"] = fmt.Sprint("dept", i)
		}
		if i%5 == 0 {
			want["externalId"] = fmt.Sprint("own", i)
		}
		if i%4 == 0 {
			want["roles"] = []string{fmt.Sprint("role", i)}
		}
		gotRoles, _ := o.Values["roles"].([]string)
		if len(gotRoles) == 0 {
			delete(o.Values, "roles") // no roles: an empty list or none, both send nothing
		}
		if o.SourceID != id || !reflect.DeepEqual(o.Values, want) {
			t.Fatalf("user %d: %s %v, want %v", i, o.SourceID, o.Values, want)
		}
		if i%6 == 1 {
			want["nickName"] = fmt.Sprint("nick", i) // on create only
		}
		if c, _ := o.CreateValues["roles"].([]string); len(c) == 0 {
			delete(o.CreateValues, "roles")
		}
		if !reflect.DeepEqual(o.CreateValues, want) {
			t.Fatalf("user %d: create values %v, want %v", i, o.CreateValues, want)
		}
		wantMgr := ""
		if i%2 == 0 {
			wantMgr = fmt.Sprint("m", i)
		}
		if m, known := refs.Manager(id, ev.RefPaths()); !known || m != wantMgr {
			t.Fatalf("user %d: manager %q (known %v), want %q", i, m, known, wantMgr)
		}
	}
}
