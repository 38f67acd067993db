package managers

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/scimsync/scimsync/store"
)

// state is the stored links; it counts single reads and fails a test that forbids them.
type state struct {
	links   map[string]store.Link
	reads   int
	noReads bool
}

func (s *state) Links(store.Kind) (map[string]store.Link, error) { return maps.Clone(s.links), nil }

func (s *state) Link(_ store.Kind, id string) (store.Link, bool, error) {
	s.reads++
	if s.noReads {
		return store.Link{}, false, errors.New("the state was read for " + id)
	}
	l, ok := s.links[id]
	return l, ok, nil
}

func user(id, target, manager, have string) store.Link {
	l := store.Link{Kind: store.KindUser, SourceID: id, TargetID: target, Managed: true, ManagerID: manager}
	if have != "" {
		l.Values = map[string]any{"manager": have}
	}
	return l
}

// TestChanges checks which users get their manager set or cleared, and when the state is read for a
// manager the cycle did not load: only when the cycle considers the users it evaluated (not all),
// since otherwise every stored link is at hand and a manager missing from them has none.
func TestChanges(t *testing.T) {
	boss := user("boss", "t-boss", "", "")
	stored := map[string]store.Link{
		"boss": boss,
		"ann":  user("ann", "t-ann", "boss", ""),
		"bob":  user("bob", "t-bob", "ghost", ""),      // manager out of scope: never linked
		"cid":  user("cid", "t-cid", "", "t-old"),      // manager removed in the directory
		"dan":  user("dan", "t-dan", "boss", "t-boss"), // already set
	}
	cycle := func(ids ...string) map[string]store.Link {
		m := map[string]store.Link{}
		for _, id := range ids {
			m[id] = stored[id]
		}
		return m
	}
	tests := []struct {
		name          string
		ids           []string
		links         map[string]store.Link
		all, complete bool
		noReads       bool
		want          []string
		reads         int
	}{
		{name: "full cycle: every link loaded, nothing read", ids: []string{"ann", "bob", "cid", "dan"},
			links: cycle("boss", "ann", "bob", "cid", "dan"), all: true, complete: true, noReads: true,
			want: []string{"ann set t-boss", "cid clear"}},
		{name: "a user newly linked in an incremental cycle: the stored links are read whole", ids: []string{"ann"},
			links: cycle("ann"), all: true, noReads: true,
			want: []string{"ann set t-boss", "cid clear"}},
		{name: "incremental, only the users evaluated: their manager is read", ids: []string{"ann", "bob"},
			links: cycle("ann", "bob"),
			want:  []string{"ann set t-boss"}, reads: 2},
		{name: "incremental, manager loaded by the cycle", ids: []string{"ann", "cid"},
			links: cycle("ann", "cid", "boss"),
			want:  []string{"ann set t-boss", "cid clear"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &state{links: stored, noReads: tt.noReads}
			work, err := Changes(st, "manager", tt.ids, tt.links, tt.all, tt.complete)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range work {
				if c.Attr.New == nil {
					got = append(got, c.Link.SourceID+" clear")
				} else {
					got = append(got, fmt.Sprintf("%s set %v", c.Link.SourceID, c.Attr.New))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes %q, want %q", got, tt.want)
			}
			if st.reads != tt.reads {
				t.Errorf("%d reads of single links, want %d", st.reads, tt.reads)
			}
		})
	}
}
