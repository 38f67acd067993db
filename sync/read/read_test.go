package read

import (
	"context"
	"errors"
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
