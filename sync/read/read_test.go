package read

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/store"
)

// memState is a read-only state in memory: the read step has no way to write.
type memState struct {
	marks   map[string]string
	sets    map[string]map[string][]string
	escrows []store.Escrow
}

func (m *memState) Watermark(name string) (string, error) { return m.marks[name], nil }
func (m *memState) Sets(name string) (map[string][]string, error) {
	return m.sets[name], nil
}
func (m *memState) Escrows() ([]store.Escrow, error) { return m.escrows, nil }
func (m *memState) Link(store.Kind, string) (store.Link, bool, error) {
	return store.Link{}, false, nil
}
func (m *memState) Links(store.Kind) (map[string]store.Link, error) { return nil, nil }

type dir struct {
	delta []directory.User
	all   []directory.User
	asked []string
	err   error
}

func (d *dir) Users(_ context.Context, _ []string, link string) (*directory.UserRound, error) {
	if link == "" {
		return &directory.UserRound{Users: directory.ListOf(d.all...), Full: true, DeltaLink: "l2"}, nil
	}
	return &directory.UserRound{Users: directory.ListOf(d.delta...), DeltaLink: "l2"}, nil
}

func (d *dir) UsersByID(_ context.Context, _ []string, ids []string) ([]directory.User, error) {
	d.asked = append(d.asked, ids...)
	if d.err != nil {
		return nil, d.err
	}
	var out []directory.User
	for _, id := range ids {
		out = append(out, directory.User{ID: id})
	}
	return out, nil
}

func (d *dir) Groups(context.Context, []string, string) (*directory.GroupRound, error) {
	return &directory.GroupRound{Full: true}, nil
}

func (d *dir) AppRoleAssignedTo(context.Context, string) ([]directory.Assignment, error) {
	return nil, nil
}

func TestIncrementalReadRetriesDueEscrowsAndReportsExpiredOnes(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st := &memState{marks: map[string]string{"users": "l1"}, escrows: []store.Escrow{
		{Kind: store.KindUser, SourceID: "due", FirstFailed: now.Add(-time.Hour), NextRetry: now.Add(-time.Minute)},
		{Kind: store.KindUser, SourceID: "later", FirstFailed: now.Add(-time.Hour), NextRetry: now.Add(time.Hour)},
		{Kind: store.KindUser, SourceID: "old", FirstFailed: now.Add(-29 * 24 * time.Hour), NextRetry: now},
	}}
	d := &dir{delta: []directory.User{{ID: "changed"}}}
	r := &Reader{Dir: d, State: st, Now: func() time.Time { return now }, Log: zap.NewNop()}
	snap, err := r.Read(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Full || !reflect.DeepEqual(d.asked, []string{"due"}) {
		t.Errorf("full = %v, read by id %v; want an incremental round and the due escrow read by id", snap.Full, d.asked)
	}
	if snap.Users.Len() != 2 || len(snap.Expired) != 1 || snap.Expired[0].SourceID != "old" || !snap.IsExpired(st.escrows[2]) {
		t.Errorf("users %v, expired %v", snap.Users.All(), snap.Expired)
	}
}

func TestReadErrorAborts(t *testing.T) {
	st := &memState{marks: map[string]string{"users": "l1"}, escrows: []store.Escrow{
		{Kind: store.KindUser, SourceID: "due", FirstFailed: time.Unix(0, 0), NextRetry: time.Unix(0, 0)}}}
	r := &Reader{Dir: &dir{err: errors.New("503")}, State: st, Now: func() time.Time { return time.Unix(3600, 0) }, Log: zap.NewNop()}
	if _, err := r.Read(context.Background(), false); !errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v, want ErrAborted", err)
	}
}

func TestAssignedUsersDirectAndThroughGroups(t *testing.T) {
	as := []directory.Assignment{
		{PrincipalID: "u1", PrincipalType: "User", AppRole: "Admin"},
		{PrincipalID: "g1", PrincipalType: "Group", AppRole: "User"},
		{PrincipalID: "g1", PrincipalType: "Group", AppRole: "Admin"},
	}
	users, roles := AssignedUsers(as, map[string][]string{"g1": {"u1", "u2"}, "g2": {"u3"}})
	if !reflect.DeepEqual(SortedKeys(users), []string{"u1", "u2"}) {
		t.Errorf("assigned = %v, want u1 u2 (g2 is not assigned)", SortedKeys(users))
	}
	want := map[string][]string{"u1": {"Admin", "User"}, "u2": {"Admin", "User"}}
	if !reflect.DeepEqual(roles, want) {
		t.Errorf("roles = %v, want %v", roles, want)
	}
	if got := RoleEntries(roles); !reflect.DeepEqual(got, []string{"u1=Admin,User", "u2=Admin,User"}) {
		t.Errorf("entries = %v", got)
	}
	if got := diffRoles([]string{"u1=Admin,User", "u9=User"}, roles); !reflect.DeepEqual(SortedKeys(got), []string{"u2", "u9"}) {
		t.Errorf("changed roles = %v, want u2 (new) and u9 (gone)", SortedKeys(got))
	}
}

// linkState holds user links; it counts one-link reads, and reads links packed when packed is set.
type linkState struct {
	memState
	links       map[string]store.Link
	linkReads   int
	packedReads [][]string
}

func (l *linkState) Link(_ store.Kind, id string) (store.Link, bool, error) {
	l.linkReads++
	a, ok := l.links[id]
	return a, ok, nil
}

type packedState struct{ *linkState }

func (p packedState) LinksPacked(store.Kind) (map[string]store.Link, error) {
	return nil, errors.New("not this")
}
func (p packedState) LinksPackedOf(_ store.Kind, ids []string) (map[string]store.Link, error) {
	p.packedReads = append(p.packedReads, ids)
	out := map[string]store.Link{}
	for _, id := range ids {
		if a, ok := p.links[id]; ok {
			out[id] = a
		}
	}
	return out, nil
}

// TestManagedReadsLinksInChunks: which users have a managed link is read a chunk of links at a time
// from a state that reads them packed, one link at a time from any other, with the same answer.
func TestManagedReadsLinksInChunks(t *testing.T) {
	links := map[string]store.Link{}
	var ids []string
	want := map[string]bool{}
	for i := range managedChunk + 10 {
		id := fmt.Sprintf("u%05d", i)
		ids = append(ids, id)
		switch i % 3 { // linked and managed, linked but released, never linked
		case 0:
			links[id] = store.Link{Kind: store.KindUser, SourceID: id, TargetID: "t" + id, Managed: true}
			want[id] = true
		case 1:
			links[id] = store.Link{Kind: store.KindUser, SourceID: id, TargetID: "t" + id}
		}
	}
	plain := &linkState{links: links}
	got, err := managed(plain, ids)
	if err != nil || plain.linkReads != len(ids) {
		t.Fatalf("plain state: %v, %d reads", err, plain.linkReads)
	}
	packed := packedState{&linkState{links: links}}
	gotPacked, err := managed(packed, ids)
	if err != nil || packed.linkReads != 0 || len(packed.packedReads) != 2 || len(packed.packedReads[0]) != managedChunk {
		t.Fatalf("packed state: %v, %d one-link reads, chunks %d", err, packed.linkReads, len(packed.packedReads))
	}
	for name, m := range map[string]map[string]bool{"plain": got, "packed": gotPacked} {
		for _, id := range ids {
			if m[id] != want[id] {
				t.Fatalf("%s: %s managed = %v, want %v", name, id, m[id], want[id])
			}
		}
	}
}
