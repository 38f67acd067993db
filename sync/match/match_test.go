package match

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/sync/plan"
)

// finder holds target objects by their values and counts queries and listings.
type finder struct {
	mu             sync.Mutex
	objs           []plan.Candidate
	queries, lists int
}

func (f *finder) Find(_ context.Context, path, value string, _ []string) ([]plan.Candidate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	var out []plan.Candidate
	for _, c := range f.objs {
		if s, _ := c.Values[path].(string); strings.EqualFold(s, value) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *finder) List(_ context.Context, _ []string, fn func(plan.Candidate) error) error {
	f.lists++
	for _, c := range f.objs {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func objects(names ...string) []plan.Object {
	var out []plan.Object
	for _, n := range names {
		out = append(out, plan.Object{SourceID: n, InScope: true, Enabled: true, Values: map[string]any{"userName": n + "@x", "externalId": n}})
	}
	return out
}

func TestMatchByQueryOrByOneListingAlike(t *testing.T) {
	target := []plan.Candidate{
		{TargetID: "t1", Values: map[string]any{"userName": "ANN@x"}},
		{TargetID: "t2", Values: map[string]any{"userName": "bob@x"}},
		{TargetID: "t3", Values: map[string]any{"userName": "bob@X"}},
		{TargetID: "t4", Values: map[string]any{"externalId": "cy"}},
	}
	objs := objects("ann", "bob", "cy", "dan", "linked")
	links := map[string]plan.Link{"linked": {TargetID: "t9", Managed: true}}
	for _, threshold := range []int{100, 1} {
		f := &finder{objs: target}
		m := &Matcher{Finder: f, Kind: "user", Order: []string{"userName", "externalId"}, Concurrency: 2, ListThreshold: threshold, Log: zap.NewNop()}
		got, err := m.Match(context.Background(), objs, links)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got["linked"]; ok || len(got) != 4 {
			t.Errorf("threshold %d: looked up %v, want the 4 unlinked objects", threshold, got)
		}
		if l := got["ann"]; len(l.Candidates) != 1 || l.Candidates[0].TargetID != "t1" || l.By != "userName" {
			t.Errorf("threshold %d: ann = %+v, want t1 by userName (case-insensitive)", threshold, l)
		}
		if l := got["bob"]; len(l.Candidates) != 2 {
			t.Errorf("threshold %d: bob = %+v, want both duplicates", threshold, l)
		}
		if l := got["cy"]; len(l.Candidates) != 1 || l.By != "externalId" {
			t.Errorf("threshold %d: cy = %+v, want t4 by the second attribute", threshold, l)
		}
		if l := got["dan"]; len(l.Candidates) != 0 || l.Err != nil {
			t.Errorf("threshold %d: dan = %+v, want nothing found", threshold, l)
		}
		if threshold == 1 && (f.lists != 1 || f.queries != 0) {
			t.Errorf("many objects: %d listings, %d queries; want one listing", f.lists, f.queries)
		}
	}
}

func TestMatchWithoutMatchingAttribute(t *testing.T) {
	m := &Matcher{Finder: &finder{}, Kind: "group", Concurrency: 1, Log: zap.NewNop()}
	if _, err := m.Match(context.Background(), objects("a"), nil); !errors.Is(err, ErrNoAttribute) {
		t.Fatalf("err = %v, want ErrNoAttribute", err)
	}
}

// A session decides once for all its parts: above the threshold in all, one listing serves every part
// (no part alone is above it); below it, each part queries its own objects.
func TestSessionListsOnceForAllParts(t *testing.T) {
	target := []plan.Candidate{{TargetID: "t1", Values: map[string]any{"userName": "ann@x"}},
		{TargetID: "t4", Values: map[string]any{"userName": "dan@x"}}}
	objs := objects("ann", "bob", "cy", "dan")
	links := map[string]plan.Link{}
	for _, tc := range []struct {
		threshold, lists, queries int
	}{{threshold: 3, lists: 1, queries: 0}, {threshold: 4, lists: 0, queries: 4}} {
		f := &finder{objs: target}
		m := &Matcher{Finder: f, Kind: "user", Order: []string{"userName"}, Concurrency: 1, ListThreshold: tc.threshold, Log: zap.NewNop()}
		if n := m.Need(objs, links); n != 4 {
			t.Fatalf("need %d, want 4", n)
		}
		s, err := m.Start(context.Background(), m.Need(objs, links), m.Wanted(objs, links))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]string{}
		for _, part := range [][]plan.Object{objs[:2], objs[2:]} {
			got, err := s.Match(context.Background(), part, links)
			if err != nil {
				t.Fatal(err)
			}
			for id, l := range got {
				if len(l.Candidates) > 0 {
					found[id] = l.Candidates[0].TargetID
				}
			}
		}
		if found["ann"] != "t1" || found["dan"] != "t4" || len(found) != 2 {
			t.Errorf("threshold %d: found %v", tc.threshold, found)
		}
		if f.lists != tc.lists || f.queries != tc.queries {
			t.Errorf("threshold %d: %d listings, %d queries; want %d and %d", tc.threshold, f.lists, f.queries, tc.lists, tc.queries)
		}
	}
}

// A listing keeps only the accounts an object that needs a lookup may match, and every lookup finds
// what the whole listing would: the results are checked against the finder's own query (a scan of
// every account), whatever form each object's values are in.
func TestListingKeepsOnlyWhatObjectsMayMatch(t *testing.T) {
	var target []plan.Candidate
	for i := range 200 {
		target = append(target, plan.Candidate{TargetID: fmt.Sprintf("t%d", i), Values: map[string]any{"userName": fmt.Sprintf("User%d@X", i)}})
	}
	target = append(target, plan.Candidate{TargetID: "ext", Values: map[string]any{"externalId": "only-by-external"}},
		plan.Candidate{TargetID: "twin", Values: map[string]any{"userName": "user7@x"}})
	order := []string{"userName", "externalId"}
	mk := func(id, userName, externalID string) plan.Object {
		return plan.Object{SourceID: id, InScope: true, Enabled: true, Values: map[string]any{"userName": userName, "externalId": externalID}}
	}
	objs := []plan.Object{
		mk("a", "user7@x", "a"),                 // two accounts, different case
		mk("b", "nobody@x", "only-by-external"), // found by the second path
		mk("c", "user9@x", "c"),                 // linked: needs no lookup
		mk("d", "nobody2@x", "d"),               // nothing to find
		mk("e", "USER11@x", "e"),                // its values packed, keys kept
	}
	objs[4].MatchKeys = Keys(order, objs[4].Values)
	objs[4].Values = nil
	links := map[string]plan.Link{"c": {TargetID: "t9", Managed: true}}

	f := &finder{objs: target}
	m := &Matcher{Finder: f, Kind: "user", Order: order, Read: order, Concurrency: 1, ListThreshold: 0, Log: zap.NewNop()}
	want := m.Wanted(objs, links)
	s, err := m.Start(context.Background(), m.Need(objs, links), want)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, byValue := range s.idx {
		for _, cs := range byValue {
			for _, c := range cs {
				kept[c.TargetID] = true
			}
		}
	}
	if wantKept := map[string]bool{"t7": true, "twin": true, "ext": true, "t11": true}; !reflect.DeepEqual(kept, wantKept) {
		t.Errorf("listing kept %v, want %v", kept, wantKept)
	}
	objs[4].Values = map[string]any{"userName": "USER11@x", "externalId": "e"} // for the reference query below
	got, err := s.Match(context.Background(), objs, links)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.SourceID == "c" {
			if _, ok := got["c"]; ok {
				t.Error("a linked object was looked up")
			}
			continue
		}
		ref := m.Query(context.Background(), o)
		if g := got[o.SourceID]; g.By != ref.By || !reflect.DeepEqual(ids(g.Candidates), ids(ref.Candidates)) {
			t.Errorf("%s: listing found %s %v, a query %s %v", o.SourceID, g.By, ids(g.Candidates), ref.By, ids(ref.Candidates))
		}
	}

	// Packed values without their keys: nothing can be said, the whole listing is kept.
	objs[4].Values, objs[4].MatchKeys = nil, nil
	if w := m.Wanted(objs, links); w != nil {
		t.Errorf("Wanted without the keys of a packed object = %v, want nil (keep all)", w)
	}
}

func ids(cs []plan.Candidate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.TargetID)
	}
	sort.Strings(out)
	return out
}

// TestListingKeepsCopies: a listed candidate's strings may share the bytes of its whole page (the SCIM
// client decodes pages with jsonmap), so the index keeps copies of what it keeps: a page is not held
// for the rest of the cycle by one account of it.
func TestListingKeepsCopies(t *testing.T) {
	page := strings.Repeat("x", 1<<16) + "ID-7user7@xgroupvalue"
	at := strings.Index(page, "ID-7")
	c := plan.Candidate{TargetID: page[at : at+4], Values: map[string]any{
		"userName": page[at+4 : at+11], "roles": []any{map[string]any{"value": page[at+16 : at+21]}}}}
	objs := []plan.Object{{SourceID: "a", InScope: true, Enabled: true, Values: map[string]any{"userName": "USER7@x"}}}
	m := &Matcher{Finder: &finder{objs: []plan.Candidate{c}}, Kind: "user", Order: []string{"userName"}, Read: []string{"userName", "roles"},
		Concurrency: 1, ListThreshold: 0, Log: zap.NewNop()}
	s, err := m.Start(context.Background(), m.Need(objs, nil), m.Wanted(objs, nil))
	if err != nil {
		t.Fatal(err)
	}
	kept := s.idx["userName"]["user7@x"]
	if len(kept) != 1 || !reflect.DeepEqual(kept[0], c) {
		t.Fatalf("kept %#v, want a copy of %#v", kept, c)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(page)))
	inPage := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(page))
	}
	role := kept[0].Values["roles"].([]any)[0].(map[string]any)["value"].(string)
	for _, s := range []string{kept[0].TargetID, kept[0].Values["userName"].(string), role} {
		if inPage(s) {
			t.Errorf("%q still points into the page", s)
		}
	}
}
