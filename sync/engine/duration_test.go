package engine

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/store"
)

// TestProvisioningLogDuration: each provisioning-log entry carries the time its object's requests took,
// read from the engine's clock. The target advances the injected clock by a known amount per request
// (ann's create 1.5 s, bob's create 0.25 s; ann's later update 0.4 s), so the expected durations
// follow from the requests, not from the code that measures them; an object with no request logs 0.
func TestProvisioningLogDuration(t *testing.T) {
	ann, bob := fuser("d-ann", "ann@contoso.com", "Engineer"), fuser("d-bob", "bob@contoso.com", "Engineer")
	h := newHarness(t, ann, bob)
	for _, u := range []directory.User{ann, bob} {
		h.dir.assignments = append(h.dir.assignments, directory.Assignment{PrincipalID: u.ID, PrincipalType: "User"})
	}
	cost := map[string]time.Duration{"ann@contoso.com": 1500 * time.Millisecond, "bob@contoso.com": 250 * time.Millisecond}
	h.setFault(func(r *http.Request, name string) *scimserver.Fault {
		switch {
		case r.Method == http.MethodPost:
			h.advance(cost[name])
		case r.Method == http.MethodPatch:
			h.advance(400 * time.Millisecond)
		}
		return nil
	})
	e := h.engine(goodToken, func(o *Options) { o.Scope = ScopeAssigned })
	c1 := h.mustRun(e, false).Report

	h.dir.find(t, ann.ID).Attributes["jobTitle"] = mapping.Str("Lead")
	h.dir.touch(ann.ID)
	c2 := h.mustRun(e, false).Report

	got := map[string]int64{}
	entries, err := h.st.QueryLog(store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range entries {
		got[cycleName(le.CycleID, c1.CycleID, c2.CycleID)+" "+strings.TrimSuffix(le.Identity, "@contoso.com")+" "+le.Action] = le.DurationMs
	}
	want := map[string]int64{"1 ann Create": 1500, "1 bob Create": 250, "2 ann Update": 400}
	if len(got) != len(want) {
		t.Errorf("log entries %v, want %v", got, want)
	}
	for k, w := range want {
		if d, ok := got[k]; !ok || d != w {
			t.Errorf("%s: DurationMs = %d (present %v), want %d", k, d, ok, w)
		}
	}
}

func cycleName(id, c1, c2 string) string {
	switch id {
	case c1:
		return "1"
	case c2:
		return "2"
	}
	return "?"
}

// TestProvisioningLogDurationGroups: a group's create and its member change carry the time of their own
// requests (POST /Groups 0.1 s, the member PATCH 0.3 s, advanced on the injected clock by the target).
func TestProvisioningLogDurationGroups(t *testing.T) {
	ann, bob := fuser("g-ann", "ann@contoso.com", "Engineer"), fuser("g-bob", "bob@contoso.com", "Engineer")
	h := newHarness(t, ann, bob)
	h.dir.groups = []directory.Group{{ID: "g-team", Attributes: mapping.AttributeMap{"displayName": mapping.Str("Team")},
		Members: []directory.Member{{ID: ann.ID, Type: "user"}, {ID: bob.ID, Type: "user"}}}}
	h.setFault(func(r *http.Request, _ string) *scimserver.Fault {
		if strings.Contains(r.URL.Path, "/Groups") {
			switch r.Method {
			case http.MethodPost:
				h.advance(100 * time.Millisecond)
			case http.MethodPatch:
				h.advance(300 * time.Millisecond)
			}
		}
		return nil
	})
	e := h.engine(goodToken, func(o *Options) {
		o.Groups = &mapping.Table{Mappings: []mapping.Mapping{
			{Target: "displayName", Kind: mapping.Direct, Attribute: "displayName", Matching: 1},
			{Target: "externalId", Kind: mapping.Direct, Attribute: "objectId"},
		}}
	})
	rep := h.mustRun(e, false).Report
	if rep.Groups.Created != 1 || rep.MembersAdded != 2 {
		t.Fatalf("setup: groups %+v, members added %d", rep.Groups, rep.MembersAdded)
	}
	entries, err := h.st.QueryLog(store.LogQuery{Object: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, le := range entries {
		key := le.Action
		for _, s := range le.Steps {
			if s.Name == "referenceResolution" {
				key = s.Description
			}
		}
		got[key] = le.DurationMs
	}
	want := map[string]int64{"Create": 100, "add 2 members": 300}
	if len(got) != len(want) || got["Create"] != want["Create"] || got["add 2 members"] != want["add 2 members"] {
		t.Errorf("group log durations %v, want %v", got, want)
	}
}
