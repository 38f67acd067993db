package members

import (
	"context"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
	"github.com/scimsync/scimsync/sync/read"
	"github.com/scimsync/scimsync/sync/record"
	"github.com/scimsync/scimsync/sync/summary"
)

// groups is a target whose groups hold member ids; listed false makes it leave members out of its
// answers, as some targets do.
type groups struct {
	mu              sync.Mutex
	held            map[string][]string
	listed          bool
	adds, removes   [][]string
	asked, requests int
}

func (g *groups) Members(_ context.Context, id string, ask []string) ([]string, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	if g.listed {
		return append([]string(nil), g.held[id]...), true, nil
	}
	var out []string
	for _, a := range ask {
		g.asked++
		for _, h := range g.held[id] {
			if h == a {
				out = append(out, a)
			}
		}
	}
	return out, false, nil
}

func (g *groups) AddMembers(_ context.Context, id string, ids []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	g.adds = append(g.adds, ids)
	g.held[id] = append(g.held[id], ids...)
	return nil
}

func (g *groups) RemoveMembers(_ context.Context, id string, ids []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	g.removes = append(g.removes, ids)
	return nil
}

type noProgress struct{}

func (noProgress) Start(string, int)     {}
func (noProgress) Done(int)              {}
func (noProgress) Outcome(plan.Op, bool) {}

func setup(t *testing.T, tgt *groups, dry bool) (*Step, Input) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	users := map[string]store.Link{}
	for _, u := range []string{"a", "b", "c"} {
		users[u] = store.Link{Kind: store.KindUser, SourceID: u, TargetID: "t-" + u, Managed: true}
	}
	users["off"] = store.Link{Kind: store.KindUser, SourceID: "off", TargetID: "t-off", Managed: true, Disabled: true}
	for _, a := range users {
		if err := st.PutLinks(a); err != nil {
			t.Fatal(err)
		}
	}
	grp := store.Link{Kind: store.KindGroup, SourceID: "g", TargetID: "tg", Managed: true, MatchedBy: "displayName"}
	s := &Step{Target: tgt, State: st, Rec: record.New(st, now, zap.NewNop(), dry), Progress: noProgress{}, Log: zap.NewNop(),
		Now: now, Concurrency: 2, BatchSize: 1, DryRun: dry}
	in := Input{Snap: &read.Snapshot{Full: true, Members: map[string][]string{"g": {"a", "b", "off"}}},
		Objects: []plan.Object{{SourceID: "g", InScope: true, Enabled: true}},
		Groups:  map[string]store.Link{"g": grp}, Users: users}
	return s, in
}

func TestMembersAreReadFromTheTargetThatDoesNotListThem(t *testing.T) {
	// The target holds a (wanted), the disabled user's account and someone scimsync does not manage.
	tgt := &groups{held: map[string][]string{"tg": {"t-a", "t-off", "t-stranger"}}}
	s, in := setup(t, tgt, false)
	rep := &summary.Report{CycleID: "c1"}
	settled, err := s.Sync(context.Background(), rep, in)
	if err != nil {
		t.Fatal(err)
	}
	// a and b are wanted: a is confirmed held, b is added; nothing is removed, because the target did
	// not list its members and the record named none of them (off's account stays: unknown held).
	if len(tgt.adds) != 1 || tgt.adds[0][0] != "t-b" || len(tgt.removes) != 0 || tgt.asked != 2 {
		t.Errorf("adds %v, removes %v, asked %d", tgt.adds, tgt.removes, tgt.asked)
	}
	if len(settled) != 1 || rep.MembersAdded != 1 || rep.MembersRemoved != 0 {
		t.Errorf("settled %v, report %+v", settled, rep)
	}
	got := in.Groups["g"].Members
	sort.Strings(got)
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("recorded members = %v, want a b", got)
	}
}

func TestListedMembersOnlyOursAreRemovedAndDryRunSendsNothing(t *testing.T) {
	for _, dry := range []bool{false, true} {
		tgt := &groups{listed: true, held: map[string][]string{"tg": {"t-a", "t-off", "t-stranger", "t-c"}}}
		s, in := setup(t, tgt, dry)
		rep := &summary.Report{CycleID: "c1"}
		if _, err := s.Sync(context.Background(), rep, in); err != nil {
			t.Fatal(err)
		}
		// Wanted a, b. Held: a; off (managed, disabled: removed); c (managed, no longer a member:
		// removed); stranger (not managed: kept). Batches of one.
		if rep.MembersAdded != 1 || rep.MembersRemoved != 2 {
			t.Errorf("dry %v: report %+v", dry, rep)
		}
		if dry {
			if tgt.requests != 1 || len(rep.PlannedMembers) != 1 || len(rep.PlannedMembers[0].Remove) != 2 {
				t.Errorf("dry run: %d requests, planned %+v; want only the read", tgt.requests, rep.PlannedMembers)
			}
			continue
		}
		if len(tgt.removes) != 2 || len(tgt.adds) != 1 {
			t.Errorf("removes %v, adds %v", tgt.removes, tgt.adds)
		}
	}
}
