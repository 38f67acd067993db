package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/graph/directory"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/plan"
)

// fakeDir is an in-memory directory with delta semantics: a round from a link returns only the users
// marked changed since the previous round.
type fakeDir struct {
	users       []directory.User
	assignments []directory.Assignment
	groups      []directory.Group
	changed     map[string]bool
	err         error
	byIDErr     error
	rounds      int
}

func (d *fakeDir) change(id string) {
	if d.changed == nil {
		d.changed = map[string]bool{}
	}
	d.changed[id] = true
}

func (d *fakeDir) Users(_ context.Context, _ []string, link string) (*directory.UserRound, error) {
	if d.err != nil {
		return nil, d.err
	}
	d.rounds++
	next := fmt.Sprintf("link-%d", d.rounds)
	if link == "" {
		d.changed = nil
		return &directory.UserRound{Users: directory.ListOf(d.users...), Full: true, DeltaLink: next}, nil
	}
	var out []directory.User
	for _, u := range d.users {
		if d.changed[u.ID] {
			out = append(out, u)
		}
	}
	d.changed = nil
	return &directory.UserRound{Users: directory.ListOf(out...), DeltaLink: next}, nil
}

func (d *fakeDir) UsersByID(_ context.Context, _ []string, ids []string) ([]directory.User, error) {
	if d.byIDErr != nil {
		return nil, d.byIDErr
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []directory.User
	for _, u := range d.users {
		if want[u.ID] {
			out = append(out, u)
		}
	}
	return out, nil
}

func (d *fakeDir) Groups(_ context.Context, _ []string, link string) (*directory.GroupRound, error) {
	gs := make([]directory.Group, len(d.groups))
	for i, g := range d.groups {
		g.MembersKnown = true
		gs[i] = g
	}
	return &directory.GroupRound{Groups: gs, Full: true, DeltaLink: "g-1"}, nil
}

func (d *fakeDir) AppRoleAssignedTo(context.Context, string) ([]directory.Assignment, error) {
	return d.assignments, nil
}

// fakeTarget is an in-memory target of users in the engine's terms (flat values by path), that counts
// requests and can lose a create's answer. It implements Objects, as the SCIM adapter does.
type fakeTarget struct {
	mu      sync.Mutex
	users   map[string]map[string]any
	next    int
	creates int
	patches int
	queries int
	lists   int
	deletes int
	// updates holds, per target id, the attribute changes of every update.
	updates map[string][][]plan.AttrChange
	// loseCreate makes the next create succeed in the target but return an error to the caller.
	loseCreate bool
}

func newFakeTarget() *fakeTarget {
	return &fakeTarget{users: map[string]map[string]any{}, updates: map[string][][]plan.AttrChange{}}
}

// target is the fake as the engine's Target (users only).
func (f *fakeTarget) target() Target { return Target{Users: f} }

func (f *fakeTarget) writes() int { return f.creates + f.patches + f.deletes }

func (f *fakeTarget) found(u map[string]any, read []string) plan.Candidate {
	c := plan.Candidate{TargetID: u["id"].(string), Values: map[string]any{}}
	for _, p := range read {
		if v, ok := u[p]; ok && v != nil {
			c.Values[p] = v
		}
	}
	return c
}

func (f *fakeTarget) Find(_ context.Context, path, value string, read []string) ([]plan.Candidate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	var out []plan.Candidate
	for _, u := range f.users {
		if v, ok := u[path]; ok && strings.EqualFold(fmt.Sprint(v), value) {
			out = append(out, f.found(u, read))
		}
	}
	return out, nil
}

func (f *fakeTarget) List(_ context.Context, read []string, fn func(plan.Candidate) error) error {
	f.mu.Lock()
	f.lists++
	all := make([]plan.Candidate, 0, len(f.users))
	for _, u := range f.users {
		all = append(all, f.found(u, read))
	}
	f.mu.Unlock()
	for _, c := range all {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeTarget) Create(_ context.Context, values map[string]any) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	for _, u := range f.users {
		if strings.EqualFold(fmt.Sprint(u["userName"]), fmt.Sprint(values["userName"])) {
			return "", &scimclient.Error{Kind: scimclient.ErrConflict, Status: 409, Method: "POST", Path: "/Users"}
		}
	}
	f.next++
	id := fmt.Sprintf("t%d", f.next)
	u := map[string]any{"id": id}
	for k, v := range values {
		u[k] = v
	}
	f.users[id] = u
	if f.loseCreate {
		f.loseCreate = false
		return "", &scimclient.Error{Kind: scimclient.ErrTransient, Method: "POST", Path: "/Users", Detail: "connection reset"}
	}
	return id, nil
}

func (f *fakeTarget) Update(_ context.Context, id string, changes []plan.AttrChange) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.patches++
	if _, ok := f.users[id]; !ok {
		return &scimclient.Error{Kind: scimclient.ErrNotFound, Status: 404}
	}
	f.updates[id] = append(f.updates[id], changes)
	return nil
}

func (f *fakeTarget) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes++
	delete(f.users, id)
	return nil
}

func gongLikeTable(t *testing.T) *mapping.Table {
	t.Helper()
	active, err := mapping.Compile("Not([IsSoftDeleted])", mapping.CompileOptions{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return &mapping.Table{Mappings: []mapping.Mapping{
		{Target: "userName", Kind: mapping.Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "active", Kind: mapping.Expression, Expr: active, Type: mapping.TypeBoolean},
		{Target: "title", Kind: mapping.Direct, Attribute: "jobTitle"},
		{Target: "name.givenName", Kind: mapping.Direct, Attribute: "givenName"},
		{Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", Kind: mapping.Direct, Attribute: "manager", Type: mapping.TypeReference},
	}}
}

func user(id, upn, title, manager string, enabled bool) directory.User {
	attrs := mapping.AttributeMap{
		"objectId":          mapping.Str(id),
		"userPrincipalName": mapping.Str(upn),
		"givenName":         mapping.Str(strings.Split(upn, "@")[0]),
		"accountEnabled":    mapping.Bool(enabled),
	}
	if title != "" {
		attrs["jobTitle"] = mapping.Str(title)
	}
	if manager != "" {
		attrs["manager"] = mapping.Str(manager)
	}
	return directory.User{ID: id, Attributes: attrs, ManagerKnown: true}
}

func newEngine(t *testing.T, dir Directory, users Objects, st *store.Store, scope string) *Engine {
	t.Helper()
	return New(dir, Target{Users: users}, st, Options{
		Users: gongLikeTable(t), Scope: scope, ServicePrincipalID: "sp",
		Policy: plan.Policy{Create: true, Update: true, Delete: true}, Concurrency: 4,
		ListThreshold: 2, Fingerprint: "fp1",
	})
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestInitialCycleCreatesThenSecondCycleWritesNothing(t *testing.T) {
	// C manages B manages A, listed in the order A, B, C so that managers come after their reports.
	dir := &fakeDir{users: []directory.User{
		user("a", "ann@contoso.com", "Engineer", "b", true),
		user("b", "bob@contoso.com", "Lead", "c", true),
		user("c", "cy@contoso.com", "CTO", "", true),
		user("d", "dan@contoso.com", "Intern", "", false),
	}}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	rep, err := e.Cycle(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 3 || rep.Skipped != 1 || rep.Failed != 0 {
		t.Fatalf("report = %+v", rep)
	}
	// Every user's manager is linked by target id, whatever the order.
	byUPN := map[string]map[string]any{}
	for _, u := range tgt.users {
		byUPN[u["userName"].(string)] = u
	}
	links, _ := st.Links(store.KindUser)
	mgr := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
	if got := links["a"].Values[mgr]; got != links["b"].TargetID {
		t.Errorf("ann's manager = %v, want bob's target id %s", got, links["b"].TargetID)
	}
	if got := links["b"].Values[mgr]; got != links["c"].TargetID {
		t.Errorf("bob's manager = %v, want cy's target id %s", got, links["c"].TargetID)
	}
	if _, ok := byUPN["dan@contoso.com"]; ok {
		t.Error("a disabled user was provisioned")
	}
	// Managers come first (waves by manager depth), so each report's create body holds its manager
	// and no PATCH follows; the bodies are the values recorded.
	if got := byUPN["ann@contoso.com"][mgr]; got != links["b"].TargetID || byUPN["bob@contoso.com"][mgr] != links["c"].TargetID {
		t.Errorf("create bodies: ann's manager %v, bob's %v; want %s and %s", got, byUPN["bob@contoso.com"][mgr],
			links["b"].TargetID, links["c"].TargetID)
	}
	if _, ok := byUPN["cy@contoso.com"][mgr]; ok || tgt.patches != 0 {
		t.Errorf("cy's body has a manager (%v) or managers were patched (%d)", byUPN["cy@contoso.com"], tgt.patches)
	}

	before, queries := tgt.writes(), tgt.queries+tgt.lists
	rep, err = e.Cycle(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.writes() != before || tgt.queries+tgt.lists != queries {
		t.Fatalf("quiet incremental cycle sent requests: %+v", rep)
	}
	if rep.Kind != "incremental" || rep.Read != 0 {
		t.Fatalf("second cycle report = %+v", rep)
	}
	// A forced initial cycle re-evaluates everyone and still sends nothing.
	rep, err = e.Cycle(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.writes() != before || rep.Unchanged != 3 || rep.Kind != "initial" {
		t.Fatalf("initial re-run wrote %d times: %+v", tgt.writes()-before, rep)
	}
}

func TestAttributeChangeIsMinimalPatch(t *testing.T) {
	dir := &fakeDir{users: []directory.User{user("a", "ann@contoso.com", "Engineer", "", true)}}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	if _, err := e.Cycle(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	dir.users[0].Attributes["jobTitle"] = mapping.Str("Staff Engineer")
	dir.change("a")
	rep, err := e.Cycle(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Updated != 1 {
		t.Fatalf("report = %+v", rep)
	}
	links, _ := st.Links(store.KindUser)
	ups := tgt.updates[links["a"].TargetID]
	if len(ups) != 1 || len(ups[0]) != 1 || ups[0][0] != (plan.AttrChange{Path: "title", Old: "Engineer", New: "Staff Engineer"}) {
		t.Fatalf("updates = %#v", ups)
	}
}

func TestPreExistingAccountIsAdoptedNotDuplicated(t *testing.T) {
	dir := &fakeDir{users: []directory.User{user("a", "ann@contoso.com", "Engineer", "", true)}}
	tgt := newFakeTarget()
	tgt.users["x1"] = scimclient.Resource{"id": "x1", "userName": "Ann@Contoso.com", "title": "Old"}
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	rep, err := e.Cycle(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Adopted != 1 || tgt.creates != 0 || len(tgt.users) != 1 {
		t.Fatalf("report = %+v, creates = %d", rep, tgt.creates)
	}
	if a, _, _ := st.Link(store.KindUser, "a"); a.TargetID != "x1" || !a.Managed {
		t.Fatalf("anchor = %+v", a)
	}
}

func TestLostCreateAnswerDoesNotDuplicate(t *testing.T) {
	dir := &fakeDir{users: []directory.User{user("a", "ann@contoso.com", "Engineer", "", true)}}
	tgt := newFakeTarget()
	tgt.loseCreate = true
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	rep, _ := e.Cycle(context.Background(), true)
	if rep.Failed != 1 {
		t.Fatalf("first cycle = %+v", rep)
	}
	// The account exists in the target but not in our state: the next cycle must find it.
	rep, err := e.Cycle(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(tgt.users) != 1 || rep.Adopted != 1 {
		t.Fatalf("users = %d, report = %+v", len(tgt.users), rep)
	}
}

func TestReadErrorAbortsBeforeAnyWrite(t *testing.T) {
	dir := &fakeDir{err: errors.New("graph: 503")}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	_, err := e.Cycle(context.Background(), true)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v", err)
	}
	if tgt.writes()+tgt.queries+tgt.lists != 0 {
		t.Fatal("the target was contacted")
	}
	if wm, _ := st.Watermark("users"); wm != "" {
		t.Fatal("watermark advanced")
	}
}

func TestAssignedScope(t *testing.T) {
	dir := &fakeDir{
		users: []directory.User{
			user("a", "ann@contoso.com", "", "", true),
			user("b", "bob@contoso.com", "", "", true),
			user("c", "cy@contoso.com", "", "", true),
			user("n", "nested@contoso.com", "", "", true),
		},
		assignments: []directory.Assignment{{PrincipalID: "a", PrincipalType: "User"}, {PrincipalID: "g1", PrincipalType: "Group"}},
		groups: []directory.Group{
			{ID: "g1", Members: []directory.Member{{ID: "b", Type: "user"}, {ID: "g2", Type: "group"}}},
			{ID: "g2", Members: []directory.Member{{ID: "n", Type: "user"}}},
		},
	}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAssigned)
	rep, err := e.Cycle(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || rep.Skipped != 2 {
		t.Fatalf("report = %+v", rep)
	}
}

// TestAppRoleAssignmentsComputed: the computed appRoleAssignments attribute holds the roles a user has
// in the app (directly and through assigned groups), and a role change alone updates the user.
func TestAppRoleAssignmentsComputed(t *testing.T) {
	single, err := mapping.Compile("SingleAppRoleAssignment([appRoleAssignments])", mapping.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := mapping.Compile(`Join(",", AppRoleAssignmentsComplex([appRoleAssignments]))`, mapping.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	table := &mapping.Table{Mappings: []mapping.Mapping{
		{Target: "userName", Kind: mapping.Direct, Attribute: "userPrincipalName", Matching: 1},
		{Target: "title", Kind: mapping.Expression, Expr: single},
		{Target: "nickName", Kind: mapping.Expression, Expr: all},
	}}
	dir := &fakeDir{
		users: []directory.User{user("a", "ann@contoso.com", "", "", true), user("b", "bob@contoso.com", "", "", true)},
		assignments: []directory.Assignment{
			{PrincipalID: "a", PrincipalType: "User", AppRole: "User"},
			{PrincipalID: "g1", PrincipalType: "Group", AppRole: "Admin"},
			{PrincipalID: "b", PrincipalType: "User"}, // default access: no role
		},
		groups: []directory.Group{{ID: "g1", Members: []directory.Member{{ID: "a", Type: "user"}}}},
	}
	tgt := newFakeTarget()
	st := openStore(t)
	e := New(dir, tgt.target(), st, Options{Users: table, Scope: ScopeAssigned, ServicePrincipalID: "sp", Fingerprint: "f",
		Policy: plan.Policy{Create: true, Update: true}})
	if _, err := e.Cycle(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	byName := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, u := range tgt.users {
			out[u["userName"].(string)] = u
		}
		return out
	}
	users := byName()
	if got := users["ann@contoso.com"]["title"]; got != "Admin" {
		t.Errorf("ann's single role = %v, want Admin (first of Admin, User)", got)
	}
	if got := users["ann@contoso.com"]["nickName"]; got != "Admin,User" {
		t.Errorf("ann's roles = %v, want Admin,User", got)
	}
	if _, ok := users["bob@contoso.com"]["title"]; ok {
		t.Errorf("bob has no role but got title %v", users["bob@contoso.com"]["title"])
	}
	// Bob is given the Admin role: nothing else changed in the directory, yet he is updated.
	dir.assignments[2].AppRole = "Admin"
	rep, err := e.Cycle(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Updated != 1 || byName()["bob@contoso.com"] == nil {
		t.Fatalf("role change: %+v", rep)
	}
	links, _ := st.Links(store.KindUser)
	if got := links["b"].Values["title"]; got != "Admin" {
		t.Errorf("bob's title after the role change = %v", got)
	}
}

// The read step writes nothing, even when it finds an escrow past its 28 days: a cycle that aborts
// after it leaves the state as it was, and the escrow is dropped when a cycle is recorded.
func TestReadWritesNothingAndExpiredEscrowsGoWhenRecorded(t *testing.T) {
	dir := &fakeDir{users: []directory.User{user("a", "ann@contoso.com", "Engineer", "", true), user("b", "bob@contoso.com", "Lead", "", true)}}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	if _, err := e.Cycle(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	seed := []store.Escrow{
		{Kind: store.KindUser, SourceID: "a", Op: "Update", Attempts: 2, FirstFailed: now.Add(-time.Hour), NextRetry: now.Add(-time.Minute)},
		{Kind: store.KindUser, SourceID: "b", Op: "Update", Attempts: 30, FirstFailed: now.Add(-29 * 24 * time.Hour), NextRetry: now.Add(-time.Minute)},
	}
	if err := st.PutEscrows(seed...); err != nil {
		t.Fatal(err)
	}
	dir.byIDErr = errors.New("graph: 503")
	if _, err := e.Cycle(context.Background(), false); !errors.Is(err, ErrAborted) {
		t.Fatalf("cycle error = %v, want ErrAborted", err)
	}
	if got, _ := st.Escrows(); len(got) != 2 {
		t.Fatalf("escrows after an aborted read = %+v, want both untouched", got)
	}
	dir.byIDErr = nil
	rep, err := e.Cycle(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Escrows(); len(got) != 0 || rep.Escrowed != 0 {
		t.Fatalf("escrows after a recorded cycle = %+v (report %d), want none: a retried, b expired", got, rep.Escrowed)
	}
}

// The cycle keeps user links slim once recorded; a manager linked afterwards (here a manager cycle,
// which the create waves cut) must still be recorded with every value sent, or the next full cycle
// would find differences that are not there.
func TestManagerLinkedAfterCreatesKeepsEveryStoredValue(t *testing.T) {
	dir := &fakeDir{users: []directory.User{
		user("x", "xia@contoso.com", "Lead", "y", true),
		user("y", "yan@contoso.com", "Head", "x", true),
	}}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	rep, err := e.Cycle(context.Background(), true)
	if err != nil || rep.Created != 2 || rep.Linked == 0 {
		t.Fatalf("cycle: %v; %+v", err, rep)
	}
	links, err := st.Links(store.KindUser)
	if err != nil {
		t.Fatal(err)
	}
	mgr := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
	for id, other := range map[string]string{"x": "y", "y": "x"} {
		v := links[id].Values
		if v["title"] == nil || v["name.givenName"] == nil || v["userName"] == nil || v["active"] != true || v[mgr] != links[other].TargetID {
			t.Errorf("stored values of %s: %v", id, v)
		}
	}
	before := tgt.writes()
	if rep, err = e.Cycle(context.Background(), true); err != nil || tgt.writes() != before || rep.Unchanged != 2 {
		t.Fatalf("initial re-run wrote %d times (%v): %+v", tgt.writes()-before, err, rep)
	}
}

// fullRoundAfter runs an initial cycle over users, lets spoil change the stored link of "a", runs a
// full round, and checks that it sent nothing and left every link as the first cycle wrote it.
func fullRoundAfter(t *testing.T, users []directory.User, spoil func(a store.Link) store.Link) {
	t.Helper()
	dir := &fakeDir{users: users}
	tgt := newFakeTarget()
	st := openStore(t)
	e := newEngine(t, dir, tgt, st, ScopeAll)
	if _, err := e.Cycle(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	first, err := st.Links(store.KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutLinks(spoil(first["a"])); err != nil {
		t.Fatal(err)
	}
	before := tgt.writes()
	rep, err := e.Cycle(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.writes() != before || rep.Unchanged != len(users) {
		t.Fatalf("full round wrote %d times: %+v", tgt.writes()-before, rep)
	}
	now, err := st.Links(store.KindUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		id := u.ID
		if !reflect.DeepEqual(now[id].Values, first[id].Values) || now[id].Hash != first[id].Hash || now[id].ManagerID != first[id].ManagerID {
			t.Errorf("link %s after the full round: %v (%s, manager %q), want %v (%s, manager %q)", id,
				now[id].Values, now[id].Hash, now[id].ManagerID, first[id].Values, first[id].Hash, first[id].ManagerID)
		}
	}
}

// A full round keeps no values of the users it leaves unchanged (pack.DropUnchanged), yet records the new
// values of one whose stored values differ from the directory's only in case: nothing is sent, the
// link takes the directory's spelling, and the other links stay as the first cycle wrote them.
func TestFullRoundRecordsACaseOnlyChangeAndKeepsTheOthers(t *testing.T) {
	fullRoundAfter(t, []directory.User{
		user("a", "ann@contoso.com", "Engineer", "", true),
		user("b", "bob@contoso.com", "Lead", "", true),
	}, func(a store.Link) store.Link {
		if a.Values["title"] != "Engineer" {
			t.Fatalf("first cycle stored %v", a.Values)
		}
		a.Values = plan.Merged(a.Values, map[string]any{"title": "ENGINEER"})
		a.Hash = plan.ValuesHash(a.Values)
		return a
	})
}

// A full round that finds only a user's manager moved (its values hash as stored) records the new
// manager with the values the link holds: unchanged changes keep no values (pack.DropUnchanged) and
// the round reads links packed (store.LinksPacked), and neither may reach the state file as an empty
// set of values.
func TestFullRoundRecordsAMovedManagerWithTheLinksValues(t *testing.T) {
	fullRoundAfter(t, []directory.User{
		user("a", "ann@contoso.com", "Engineer", "b", true),
		user("b", "bob@contoso.com", "Lead", "", true),
	}, func(a store.Link) store.Link {
		a.ManagerID = "someone-else"
		return a
	})
}
