package members

import (
	"fmt"
	"testing"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

func TestDryLinks(t *testing.T) {
	links := map[string]store.Link{
		"on":   {Kind: store.KindUser, SourceID: "on", TargetID: "t-on", Managed: true},
		"off":  {Kind: store.KindUser, SourceID: "off", TargetID: "t-off", Managed: true, Disabled: true},
		"gone": {Kind: store.KindUser, SourceID: "gone", TargetID: "t-gone", Managed: true},
		"same": {Kind: store.KindUser, SourceID: "same", TargetID: "t-same", Managed: true},
	}
	changes := []plan.Change{
		{Op: plan.Disable, SourceID: "on"},
		{Op: plan.Update, SourceID: "off"},
		{Op: plan.Delete, SourceID: "gone"},
		{Op: plan.Update, SourceID: "same"},
		{Op: plan.Adopt, SourceID: "found", TargetID: "t-found"},
		{Op: plan.Create, SourceID: "new"},
		{Op: plan.Disable, SourceID: "never-linked"},
	}
	got, changed := DryLinks(changes, links)
	want := map[string]string{ // id -> target id / disabled, as the cycle would leave them
		"on": "t-on/true", "off": "t-off/false", "gone": "/false", "same": "t-same/false", "found": "t-found/false",
	}
	for id, w := range want {
		if a := got[id]; fmt.Sprintf("%s/%v", a.TargetID, a.Disabled) != w {
			t.Errorf("%s: %s/%v, want %s", id, a.TargetID, a.Disabled, w)
		}
	}
	if _, ok := got["new"]; ok {
		t.Error("a user still to create has no link yet")
	}
	if fmt.Sprint(changed) != "map[found:true gone:true off:true on:true]" {
		t.Errorf("changed %v", changed)
	}
	if links["on"].Disabled || links["off"].Disabled != true {
		t.Error("the stored links were modified")
	}
}
