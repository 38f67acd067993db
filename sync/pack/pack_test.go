package pack

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/sync/plan"
)

func TestObjectsRoundTrip(t *testing.T) {
	vals := map[string]any{"userName": "a@x", "active": true, "roles": []string{"r"}}
	create := map[string]any{"userName": "a@x", "active": true, "roles": []string{"r"}, "password": "[generated]"}
	failed := errors.New("mapping failed")
	objs := []plan.Object{
		{SourceID: "same", Values: vals, CreateValues: vals},
		{SourceID: "differs", Values: vals, CreateValues: create},
		{SourceID: "failed", Err: failed},
		{SourceID: "gone", HardDeleted: true},
	}
	for _, sameCreate := range []bool{true, false} {
		in := append([]plan.Object(nil), objs...)
		if !sameCreate {
			Objects(in, false)
		} else {
			Objects(in[:1], true)
			Objects(in[1:], false)
		}
		for i, o := range in {
			if o.Values != nil || o.CreateValues != nil {
				t.Fatalf("%s: maps kept after packing", o.SourceID)
			}
			if (o.Packed != nil) != (i < 2) {
				t.Fatalf("%s: packed %v", o.SourceID, o.Packed != nil)
			}
		}
		UnpackObjects(in)
		if !reflect.DeepEqual(in[0].Values, vals) || !reflect.DeepEqual(in[0].CreateValues, vals) ||
			!reflect.DeepEqual(in[1].Values, vals) || !reflect.DeepEqual(in[1].CreateValues, create) {
			t.Errorf("sameCreate=%v: unpacked %+v", sameCreate, in[:2])
		}
		if in[2].Err != failed || in[2].Values != nil || in[0].Packed != nil {
			t.Errorf("sameCreate=%v: %+v", sameCreate, in)
		}
	}
}

func TestDamagedObjectFailsAlone(t *testing.T) {
	objs := []plan.Object{{SourceID: "bad", Identity: "bad@x", Packed: []byte{2, 0xff}}, {SourceID: "ok"}}
	Objects(objs[1:], true)
	UnpackObjects(objs)
	if objs[0].Err == nil || !strings.Contains(objs[0].Err.Error(), "bad@x") || objs[0].Packed != nil {
		t.Errorf("damaged object: %+v", objs[0])
	}
	if objs[1].Err != nil {
		t.Errorf("the other object failed: %v", objs[1].Err)
	}
}

func TestChangesPackOnlyWhatIsSent(t *testing.T) {
	vals := map[string]any{"userName": "a@x"}
	cs := []plan.Change{{Op: plan.Create, Values: vals}, {Op: plan.Unchanged, Values: vals}, {Op: plan.Disable, Values: vals},
		{Op: plan.Skip, Values: vals}}
	Changes(cs, Unpacked{})
	if cs[0].Packed == nil || cs[0].Values != nil || cs[2].Packed == nil || cs[1].Packed != nil || cs[1].Values == nil ||
		cs[3].Packed != nil {
		t.Fatalf("packed %+v", cs)
	}
	for i := range cs {
		if err := UnpackChange(&cs[i]); err != nil || !reflect.DeepEqual(cs[i].Values, vals) || cs[i].Packed != nil {
			t.Errorf("change %d: %+v, %v", i, cs[i], err)
		}
	}
	bad := plan.Change{Identity: "bad@x", Packed: []byte{2, 0xff}}
	if err := UnpackChange(&bad); err == nil || !strings.Contains(err.Error(), "bad@x") {
		t.Errorf("damaged change: %v", err)
	}
}

// A create whose body is the map UnpackObjects decoded keeps the bytes it came from; a body replaced
// since (a manager merged in), another op, or a change that is not the object's is packed anew.
func TestChangesReuseTheBytesOfAnUnchangedCreateBody(t *testing.T) {
	vals := map[string]any{"userName": "a@x", "active": true}
	create := map[string]any{"userName": "a@x", "active": true, "password": "[generated]"}
	objs := []plan.Object{
		{SourceID: "same", Values: vals, CreateValues: vals},
		{SourceID: "differs", Values: vals, CreateValues: create},
		{SourceID: "merged", Values: vals, CreateValues: vals},
		{SourceID: "update", Values: vals, CreateValues: vals},
		{SourceID: "moved", Values: vals, CreateValues: vals},
		{SourceID: "failed", Err: errors.New("mapping failed")},
	}
	Objects(objs, false)
	orig := make([][]byte, len(objs))
	for i, o := range objs {
		orig[i] = o.Packed
		if o.PackedCreate != nil {
			orig[i] = o.PackedCreate
		}
	}
	u := UnpackObjects(objs)
	mgr := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
	merged := plan.Merged(objs[2].CreateValues, map[string]any{mgr: "t-boss"})
	cs := []plan.Change{
		{Op: plan.Create, SourceID: "same", Values: objs[0].CreateValues},
		{Op: plan.Create, SourceID: "differs", Values: objs[1].CreateValues},
		{Op: plan.Create, SourceID: "merged", Values: merged},
		{Op: plan.Update, SourceID: "update", Values: objs[3].Values},
		{Op: plan.Create, SourceID: "not moved", Values: objs[4].CreateValues},
		{Op: plan.Skip, SourceID: "failed"},
	}
	Changes(cs, u)
	for i, reused := range []bool{true, true, false, false, false} {
		c := cs[i]
		if c.Values != nil || c.Packed == nil {
			t.Fatalf("%s: not packed: %+v", c.SourceID, c)
		}
		if same := &c.Packed[0] == &orig[i][0]; same != reused {
			t.Errorf("%s: bytes reused %v, want %v", c.SourceID, same, reused)
		}
	}
	wants := []map[string]any{vals, create, {"userName": "a@x", "active": true, mgr: "t-boss"}, vals, vals}
	for i, want := range wants {
		if err := UnpackChange(&cs[i]); err != nil || !reflect.DeepEqual(cs[i].Values, want) {
			t.Errorf("%s: %v (%v), want %v", cs[i].SourceID, cs[i].Values, err, want)
		}
	}
}

// BenchmarkPlannedCreates is the packing round of a planned create: unpack for planning, pack for
// the apply step, unpack to send.
func BenchmarkPlannedCreates(b *testing.B) {
	vals := map[string]any{"active": true, "roles": []string{"a"}}
	for i := range 18 {
		vals[fmt.Sprintf("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:attr%d", i)] = fmt.Sprint("value number ", i)
	}
	objs := make([]plan.Object, 1000)
	for b.Loop() {
		b.StopTimer()
		for i := range objs {
			objs[i] = plan.Object{SourceID: fmt.Sprint(i), Values: vals, CreateValues: vals}
		}
		Objects(objs, true)
		b.StartTimer()
		u := UnpackObjects(objs)
		cs := make([]plan.Change, len(objs))
		for i, o := range objs {
			cs[i] = plan.Change{Op: plan.Create, SourceID: o.SourceID, Values: o.CreateValues}
		}
		Changes(cs, u)
		for i := range cs {
			if err := UnpackChange(&cs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Only an unchanged change whose hash is its link's lets go of its values: one whose hash moved (a
// case-only difference) still records them, and changes that send keep theirs.
func TestDropUnchangedKeepsWhatIsRecorded(t *testing.T) {
	vals := map[string]any{"userName": "a@x"}
	links := map[string]plan.Link{"same": {Hash: "h1"}, "moved": {Hash: "h0"}, "upd": {Hash: "h1"}}
	cs := []plan.Change{
		{SourceID: "same", Op: plan.Unchanged, Hash: "h1", Values: vals},
		{SourceID: "moved", Op: plan.Unchanged, Hash: "h1", Values: vals},
		{SourceID: "nolink", Op: plan.Unchanged, Hash: "h1", Values: vals},
		{SourceID: "nohash", Op: plan.Unchanged, Values: vals},
		{SourceID: "upd", Op: plan.Update, Hash: "h1", Values: vals},
	}
	DropUnchanged(cs, links)
	for i, dropped := range []bool{true, false, false, false, false} {
		if got := cs[i].Values == nil; got != dropped {
			t.Errorf("%s: values dropped %v, want %v", cs[i].SourceID, got, dropped)
		}
	}
}

func TestIDsOf(t *testing.T) {
	objs := []plan.Object{{SourceID: "a"}, {SourceID: "b", Pending: true}, {SourceID: "c"}, {SourceID: "d", Pending: true}}
	ids := IDsOf(objs)
	if !slices.Equal(ids.All, []string{"a", "b", "c", "d"}) || !slices.Equal(ids.Pending, []string{"b", "d"}) {
		t.Fatalf("IDsOf = %+v", ids)
	}
	if ids := IDsOf(nil); len(ids.All) != 0 || ids.Pending != nil {
		t.Fatalf("IDsOf(nil) = %+v", ids)
	}
}
