package match

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

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
		s, err := m.Start(context.Background(), m.Need(objs, links))
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
