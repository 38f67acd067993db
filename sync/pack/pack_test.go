package pack

import (
	"errors"
	"reflect"
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
	Changes(cs)
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
