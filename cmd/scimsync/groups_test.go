package main

// Tests of the issue "Groups, memberships and manager references", against the third-party SCIM
// server SCIMMY.
//
// Each test drives a small emulated tenant (graphapi) between cycles. Cycles run in-process
// (loadConfig + openJob + job.cycle) on a job configuration written to a file as the daemon reads it,
// with the Gong preset (whose group mappings make groups provisioned) and compatibility strict.
// Assertions never go through scimsync's own state: the target's state is SCIMMY's raw stored JSON
// (Dump), request counts come from SCIMMY's Stats, and the exact requests scimsync sent (method,
// resource, PATCH body) come from a recording reverse proxy between scimsync and SCIMMY.
//
// The expected behaviour is https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works and
// https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups: groups are
// created with an empty member list and members are added by PATCH afterwards, in batches; the
// members of a group in the target are the direct members of the source group that are provisioned
// users (nested groups are not expanded); only membership differences are sent; manager references
// point at the manager's target id once both exist; a group deleted or unassigned in the source is
// deleted (DELETE /Groups/{id}) when the Delete action is on; target groups scimsync never created or
// matched are never touched. Where Entra needs a restart (a member or manager who comes into scope
// later), the issue asks for the reference to follow in the next cycle.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/internal/testenv/scimmy"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/sync/engine"
)

// The group tenant most tests start from. The users scoping filter department EQUALS Sales is on.
//
//	ann  Sales        assigned directly; member of Deal Desk and of Unassigned Group
//	ben  Sales        member of Sales Team (assigned)
//	cat  Sales        member of Sales Team and Deal Desk (both assigned)
//	dan  Sales        member of Sales Team, accountEnabled=false
//	eve  Engineering  member of Sales Team, excluded by the scoping filter
//	fay  Sales        member of Deal Desk (assigned)
//	gus  Sales        member of Nested Crew only, which is itself a member of Sales Team (not assigned)
//
// The first cycle provisions ann, ben, cat and fay; the groups Sales Team {ben, cat} and Deal Desk
// {ann, cat, fay}; never Nested Crew or Unassigned Group.
const (
	grpAnn = "9a000000-0000-4000-8000-000000000001"
	grpBen = "9b000000-0000-4000-8000-000000000002"
	grpCat = "9c000000-0000-4000-8000-000000000003"
	grpDan = "9d000000-0000-4000-8000-000000000004"
	grpEve = "9e000000-0000-4000-8000-000000000005"
	grpFay = "9f000000-0000-4000-8000-000000000006"
	grpGus = "90000000-0000-4000-8000-000000000007"

	grpSales      = "6a000000-0000-4000-8000-0000000000a1"
	grpDesk       = "6b000000-0000-4000-8000-0000000000a2"
	grpNested     = "6c000000-0000-4000-8000-0000000000a3"
	grpUnassigned = "6d000000-0000-4000-8000-0000000000a4"

	grpSP     = "5f5f5f5f-0000-4000-8000-0000000000ff"
	grpDomain = "@fabrikam.example"

	// grpLegacyName is a group that exists in the target before the first cycle and that no tenant
	// group is called: scimsync must never touch it.
	grpLegacyName = "Legacy Admins"
)

func grpUPN(name string) string { return name + grpDomain }

func grpUser(id, name, dept string, enabled bool) map[string]any {
	given := strings.ToUpper(name[:1]) + name[1:]
	return map[string]any{
		"id":                id,
		"userPrincipalName": grpUPN(name),
		"displayName":       given + " Example",
		"givenName":         given,
		"surname":           "Example",
		"mail":              grpUPN(name),
		"mailNickname":      name,
		"jobTitle":          dept + " specialist",
		"department":        dept,
		"accountEnabled":    enabled,
		"userType":          "Member",
	}
}

func grpServicePrincipal() graphapi.ServicePrincipal {
	return graphapi.ServicePrincipal{ID: grpSP, AppID: "a5a5a5a5-0000-4000-8000-0000000000fe", DisplayName: "Gong"}
}

// grpTenant builds the group tenant described above.
func grpTenant() *graphapi.Tenant {
	return &graphapi.Tenant{
		Users: []map[string]any{
			grpUser(grpAnn, "ann", "Sales", true),
			grpUser(grpBen, "ben", "Sales", true),
			grpUser(grpCat, "cat", "Sales", true),
			grpUser(grpDan, "dan", "Sales", false),
			grpUser(grpEve, "eve", "Engineering", true),
			grpUser(grpFay, "fay", "Sales", true),
			grpUser(grpGus, "gus", "Sales", true),
		},
		Groups: []graphapi.Group{
			{ID: grpSales, DisplayName: "Sales Team", SecurityEnabled: true, Members: []string{grpBen, grpCat, grpDan, grpEve, grpNested}},
			{ID: grpDesk, DisplayName: "Deal Desk", SecurityEnabled: true, Members: []string{grpAnn, grpCat, grpFay}},
			{ID: grpNested, DisplayName: "Nested Crew", SecurityEnabled: true, Members: []string{grpGus}},
			{ID: grpUnassigned, DisplayName: "Unassigned Group", SecurityEnabled: true, Members: []string{grpAnn}},
		},
		ServicePrincipal: grpServicePrincipal(),
		Assignments: []graphapi.Assignment{
			{PrincipalID: grpAnn, PrincipalType: "User"},
			{PrincipalID: grpSales, PrincipalType: "Group"},
			{PrincipalID: grpDesk, PrincipalType: "Group"},
		},
	}
}

// grpOptions are the job and emulator settings a test varies.
type grpOptions struct {
	tenant *graphapi.Tenant
	// salesOnly adds the users scoping filter department EQUALS Sales.
	salesOnly bool
	// actions is the YAML flow mapping of the actions key, e.g. "{delete: false}"; empty: default.
	actions string
	// batch is groups.memberBatchSize (0: 50).
	batch int
	// pageSize is the emulated Graph's page size (0: 3, so that small tenants page too).
	pageSize int
}

// grpFilter returns the requests with the given method ("" any but GET) to the given endpoint
// ("Users", "Groups").
func grpFilter(reqs []scimRequest, method, endpoint string) []scimRequest {
	var out []scimRequest
	for _, r := range reqs {
		ep, _ := r.resource()
		if ep != endpoint {
			continue
		}
		if (method == "" && r.Method != http.MethodGet) || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// grpMemberOps reads a group PATCH body: the member ids it adds and removes, whether it replaces the
// member list, and the other attributes it touches (lower-cased).
type grpMemberOps struct {
	add, remove []string
	replace     bool
	other       []string
}

func grpParsePatch(t *testing.T, body []byte) grpMemberOps {
	t.Helper()
	var p struct {
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("PATCH body is not a PatchOp: %v: %s", err, body)
	}
	var out grpMemberOps
	values := func(raw json.RawMessage) []string {
		var list []struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			t.Errorf("member value is not a list of {value}: %s", raw)
		}
		ids := make([]string, 0, len(list))
		for _, m := range list {
			ids = append(ids, m.Value)
		}
		return ids
	}
	for _, op := range p.Operations {
		verb, path := strings.ToLower(op.Op), strings.ToLower(op.Path)
		switch {
		case path == "members" && verb == "add":
			out.add = append(out.add, values(op.Value)...)
		case path == "members" && verb == "remove":
			out.remove = append(out.remove, values(op.Value)...)
		case strings.HasPrefix(path, "members[value eq ") && verb == "remove":
			id := strings.TrimSuffix(strings.TrimPrefix(op.Path[len("members[value eq "):], `"`), `"]`)
			out.remove = append(out.remove, id)
		case strings.HasPrefix(path, "members"):
			out.replace = true // a replace of the list, or a shape that is not a plain add/remove
		case path == "":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(op.Value, &m); err != nil {
				t.Errorf("path-less PATCH op without an object value: %s", body)
			}
			for k, v := range m {
				switch {
				case strings.EqualFold(k, "members") && verb == "add":
					out.add = append(out.add, values(v)...)
				case strings.EqualFold(k, "members"):
					out.replace = true
				default:
					out.other = append(out.other, strings.ToLower(k))
				}
			}
		default:
			out.other = append(out.other, path)
		}
	}
	return out
}

// grpEnv is one test's emulated tenant, SCIMMY target, recorder, job configuration and open job.
type grpEnv struct {
	t      *testing.T
	ctx    context.Context
	graph  *graphapi.Server
	scimmy *scimmy.Server
	rec    *scimRecorder
	dir    string
	o      grpOptions
	job    *job.Job
	// legacy is the unmanaged target group seeded before the first cycle, as stored then.
	legacyID string
	legacy   string
}

func newGrpEnv(t *testing.T, o grpOptions) *grpEnv {
	t.Helper()
	if o.tenant == nil {
		o.tenant = grpTenant()
	}
	if o.batch == 0 {
		o.batch = 50
	}
	if o.pageSize == 0 {
		o.pageSize = 3
	}
	e := &grpEnv{t: t, ctx: context.Background(), dir: t.TempDir(), o: o}
	e.graph = graphapi.StartForTest(t, o.tenant, graphapi.Options{PageSize: o.pageSize})
	e.scimmy = scimmy.ForTest(t)
	var scimURL string
	e.rec, scimURL = startRecorder(t, e.scimmy.URL())
	ca := filepath.Join(e.dir, "ca.pem")
	if err := e.graph.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	secret := e.write("graph-secret", "groups-secret\n")
	token := e.write("target-token", e.scimmy.Token()+"\n")

	// The unmanaged group and its member are created directly in SCIMMY, not through the recorder.
	outsider := createRaw(t, e.scimmy, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "outsider@elsewhere.example", "active": true,
	})
	e.legacyID = createResource(t, e.scimmy, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": grpLegacyName,
		"members":     []map[string]any{{"value": outsider}},
	})
	_, groups := e.dump()
	g := groups[grpLegacyName]
	if g == nil || s(g["id"]) != e.legacyID || len(grpMembers(g)) != 1 {
		t.Fatalf("seeded group %s not stored as expected: %v", grpLegacyName, g)
	}
	e.legacy = grpJSON(g)

	var extra, users strings.Builder
	if o.actions != "" {
		fmt.Fprintf(&extra, "actions: %s\n", o.actions)
	}
	if o.salesOnly {
		users.WriteString("  scoping:\n    - title: Sales only\n      clauses:\n" +
			"        - {attribute: department, operator: EQUALS, value: Sales}\n")
	}
	cfgPath := e.write("job.yaml", fmt.Sprintf(`name: groups
%starget:
  url: %s
  tokenFile: %s
  compatibility: strict
  concurrency: 4
  requestsPerSecond: 0
  bulk: false
%susers:
  preset: gong
%sgroups:
  memberBatchSize: %d
state: %s
logging: {level: warn, format: json}
`, emulatedSource(e.graph, o.tenant.ServicePrincipal.ID, ca, "secretFile: "+secret),
		scimURL, token, extra.String(), users.String(), o.batch, filepath.Join(e.dir, "state.db")))
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	if !cfg.Groups.Enabled || cfg.Groups.MemberBatchSize != o.batch {
		t.Fatalf("config: groups enabled %v, memberBatchSize %d; want groups provisioned with batches of %d",
			cfg.Groups.Enabled, cfg.Groups.MemberBatchSize, o.batch)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	if e.job, err = openJob(cfg, log, nil); err != nil {
		t.Fatalf("open job: %v", err)
	}
	return e
}

func (e *grpEnv) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// cycle runs one cycle, fails the test on an error and reports failed objects, and returns the report
// and the SCIM requests the cycle sent.
func (e *grpEnv) cycle(what string) (*engine.Report, []scimRequest) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Minute)
	defer cancel()
	m := e.rec.mark()
	rep, err := e.job.Cycle(ctx, false)
	reqs := e.rec.since(m)
	if err != nil {
		e.t.Fatalf("%s: cycle failed: %v\nrequests:%s", what, err, describe(grpWrites(reqs)))
	}
	if rep.TotalFailed() != 0 {
		e.t.Errorf("%s: %d failures: %+v", what, rep.TotalFailed(), rep.Failures)
	}
	w := grpWrites(reqs)
	if len(w) > 40 {
		w = append(w[:40:40], scimRequest{Method: "...", Path: fmt.Sprintf("(%d more)", len(grpWrites(reqs))-40)})
	}
	e.t.Logf("%s: %s cycle, read %d, users created %d updated %d disabled %d, groups created %d updated %d deleted %d, members +%d -%d, managers linked %d; writes:%s",
		what, rep.Kind, rep.Read, rep.Created, rep.Updated, rep.Disabled, rep.Groups.Created, rep.Groups.Updated,
		rep.Groups.Deleted, rep.MembersAdded, rep.MembersRemoved, rep.Linked, describe(w))
	return rep, reqs
}

func grpWrites(reqs []scimRequest) []scimRequest {
	var out []scimRequest
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// dump returns SCIMMY's stored users by userName and groups by displayName, failing on duplicates.
func (e *grpEnv) dump() (map[string]map[string]any, map[string]map[string]any) {
	e.t.Helper()
	users, groups, err := e.scimmy.Dump(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	byName := func(list []map[string]any, key, what string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, r := range list {
			k := s(r[key])
			if _, dup := out[k]; dup {
				e.t.Errorf("duplicate %s %q in the target", what, k)
			}
			out[k] = r
		}
		return out
	}
	return byName(users, "userName", "user"), byName(groups, "displayName", "group")
}

// stats returns SCIMMY's request counts.
func (e *grpEnv) stats() scimmy.Stats {
	e.t.Helper()
	st, err := e.scimmy.Stats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// userIDs maps short user names to their SCIMMY ids, failing when one is not provisioned.
func (e *grpEnv) userIDs(users map[string]map[string]any, names ...string) []string {
	e.t.Helper()
	ids := make([]string, 0, len(names))
	for _, n := range names {
		u := users[grpUPN(n)]
		if u == nil {
			e.t.Errorf("%s is not provisioned in the target", n)
			continue
		}
		ids = append(ids, s(u["id"]))
	}
	sort.Strings(ids)
	return ids
}

// names maps SCIMMY user ids back to short names, for readable failures.
func (e *grpEnv) names(users map[string]map[string]any, ids []string) []string {
	byID := map[string]string{}
	for name, u := range users {
		byID[s(u["id"])] = strings.TrimSuffix(name, grpDomain)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if n, ok := byID[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, "?"+id)
		}
	}
	sort.Strings(out)
	return out
}

// expectGroups checks that the target holds exactly the given groups (by displayName, with the
// members given by short user name) besides the unmanaged one, and returns the groups' target ids.
func (e *grpEnv) expectGroups(what string, want map[string][]string) map[string]string {
	e.t.Helper()
	users, groups := e.dump()
	ids := map[string]string{}
	for name, members := range want {
		g := groups[name]
		if g == nil {
			e.t.Errorf("%s: group %q is not in the target", what, name)
			continue
		}
		ids[name] = s(g["id"])
		got := grpMembers(g)
		if exp := e.userIDs(users, members...); !slices.Equal(got, exp) {
			e.t.Errorf("%s: members of %q = %v, want %v", what, name, e.names(users, got), e.names(users, exp))
		}
	}
	for name := range groups {
		if _, ok := want[name]; !ok && name != grpLegacyName {
			e.t.Errorf("%s: unexpected group %q in the target", what, name)
		}
	}
	return ids
}

// checkLegacy checks that the unmanaged group is stored exactly as seeded and that no request ever
// addressed it.
func (e *grpEnv) checkLegacy() {
	e.t.Helper()
	_, groups := e.dump()
	g := groups[grpLegacyName]
	if g == nil {
		e.t.Errorf("the unmanaged group %q was deleted", grpLegacyName)
	} else if got := grpJSON(g); got != e.legacy {
		e.t.Errorf("the unmanaged group changed:\n got %s\nwant %s", got, e.legacy)
	}
	for _, r := range e.rec.all() {
		if _, id := r.resource(); id == e.legacyID {
			e.t.Errorf("a request addressed the unmanaged group: %s", r)
		}
	}
}

// grpMembers returns the sorted member values of a stored group.
func grpMembers(g map[string]any) []string {
	list, _ := g["members"].([]any)
	out := make([]string, 0, len(list))
	for _, m := range list {
		if mm, ok := m.(map[string]any); ok {
			out = append(out, s(mm["value"]))
		}
	}
	sort.Strings(out)
	return out
}

func grpJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// grpInitialGroups is what the first cycle on grpTenant with the Sales filter must produce.
var grpInitialGroups = map[string][]string{
	"Sales Team": {"ben", "cat"},
	"Deal Desk":  {"ann", "cat", "fay"},
}

// Scenario 1: after the initial cycle the members of every group are the direct members that are
// provisioned users, mapped to their target ids; out-of-scope members (disabled, filtered out, not
// assigned) and nested groups are left out; groups are created with an empty member list.
func TestGroupsInitialMembers(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	_, reqs := e.cycle("initial")

	users, _ := e.dump()
	for _, n := range []string{"ann", "ben", "cat", "fay"} {
		if u := users[grpUPN(n)]; u == nil || field(u, "active") != "true" {
			t.Errorf("%s should be provisioned and active: %v", n, u)
		}
	}
	for n, why := range map[string]string{"dan": "disabled", "eve": "outside the scoping filter", "gus": "only in a nested group"} {
		if u := users[grpUPN(n)]; u != nil {
			t.Errorf("%s is %s but was provisioned: %v", n, why, u)
		}
	}
	e.expectGroups("initial", grpInitialGroups)

	posts := grpFilter(reqs, http.MethodPost, "Groups")
	if len(posts) != 2 {
		t.Errorf("want 2 POST /Groups, got:%s", describe(posts))
	}
	for _, p := range posts {
		var body map[string]any
		if err := json.Unmarshal(p.Body, &body); err != nil {
			t.Fatalf("POST /Groups body: %v", err)
		}
		if m, ok := body["members"].([]any); ok && len(m) > 0 {
			t.Errorf("a group was created with members (Entra creates groups empty, then PATCHes members): %s", p)
		}
	}
	for _, p := range grpFilter(reqs, http.MethodPatch, "Groups") {
		if ops := grpParsePatch(t, p.Body); ops.replace {
			t.Errorf("a member PATCH replaces the member list: %s", p)
		}
	}

	// Nothing changed: the next cycle leaves the groups alone.
	_, reqs = e.cycle("quiet")
	if w := grpFilter(reqs, "", "Groups"); len(w) != 0 {
		t.Errorf("a quiet cycle wrote to groups:%s", describe(w))
	}
	e.expectGroups("after a quiet cycle", grpInitialGroups)
	e.checkLegacy()
}

// Scenario 2: membership changes between cycles: the target follows, and the incremental cycle sends
// only the difference, as member adds and removes (never the whole list).
func TestGroupsMembershipChangesSendOnlyTheDifference(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("initial")
	ids := e.expectGroups("initial", grpInitialGroups)
	users, _ := e.dump()
	id := func(n string) string { return e.userIDs(users, n)[0] }

	// ann (assigned directly) and fay (provisioned through Deal Desk) join Sales Team; cat leaves it
	// but stays in Deal Desk; ann leaves Deal Desk but stays assigned directly. Nobody changes scope.
	must(t, e.graph.AddMember(grpSales, grpAnn))
	must(t, e.graph.AddMember(grpSales, grpFay))
	must(t, e.graph.RemoveMember(grpSales, grpCat))
	must(t, e.graph.RemoveMember(grpDesk, grpAnn))
	before := e.stats().ByEndpoint["PATCH /Groups/{id}"]
	_, reqs := e.cycle("membership changes")
	patches := grpFilter(reqs, http.MethodPatch, "Groups")

	want := map[string]struct{ add, remove []string }{
		ids["Sales Team"]: {add: []string{id("ann"), id("fay")}, remove: []string{id("cat")}},
		ids["Deal Desk"]:  {remove: []string{id("ann")}},
	}
	got := map[string]*grpMemberOps{}
	for _, p := range patches {
		_, gid := p.resource()
		ops := grpParsePatch(t, p.Body)
		if ops.replace {
			t.Errorf("the member list was replaced instead of patched: %s", p)
		}
		if len(ops.other) > 0 {
			t.Errorf("a membership change also patched %v: %s", ops.other, p)
		}
		acc := got[gid]
		if acc == nil {
			acc = &grpMemberOps{}
			got[gid] = acc
		}
		acc.add = append(acc.add, ops.add...)
		acc.remove = append(acc.remove, ops.remove...)
	}
	for gid, w := range want {
		g := got[gid]
		if g == nil {
			g = &grpMemberOps{}
		}
		sort.Strings(g.add)
		sort.Strings(g.remove)
		sort.Strings(w.add)
		sort.Strings(w.remove)
		if !slices.Equal(g.add, w.add) || !slices.Equal(g.remove, w.remove) {
			t.Errorf("group %s: sent add %v remove %v, want add %v remove %v", gid,
				e.names(users, g.add), e.names(users, g.remove), e.names(users, w.add), e.names(users, w.remove))
		}
	}
	for gid := range got {
		if _, ok := want[gid]; !ok {
			t.Errorf("group %s was patched although its members did not change", gid)
		}
	}
	// One PATCH per group and direction at most (3 here), all with batches of 50.
	if len(patches) > 3 || len(patches) < 2 {
		t.Errorf("want 2-3 PATCH /Groups (only the difference), got %d:%s", len(patches), describe(patches))
	}
	if n := e.stats().ByEndpoint["PATCH /Groups/{id}"] - before; n != len(patches) {
		t.Errorf("SCIMMY counted %d PATCH /Groups, the recorder %d", n, len(patches))
	}
	if w := append(grpFilter(reqs, http.MethodPost, "Groups"), grpFilter(reqs, http.MethodDelete, "Groups")...); len(w) != 0 {
		t.Errorf("membership changes created or deleted groups:%s", describe(w))
	}
	if w := grpFilter(reqs, "", "Users"); len(w) != 0 {
		t.Errorf("nobody changed scope, yet users were written:%s", describe(w))
	}

	e.expectGroups("after the membership changes", map[string][]string{
		"Sales Team": {"ann", "ben", "fay"},
		"Deal Desk":  {"cat", "fay"},
	})
	e.checkLegacy()
}

// Scenario 2, one change at a time: a member who leaves one group but stays provisioned (through
// another group) is removed from it, and an already provisioned user who joins a group is added, each
// in a cycle where nothing else happens.
func TestGroupsSingleMembershipChange(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("initial")
	ids := e.expectGroups("initial", grpInitialGroups)
	users, _ := e.dump()
	cat, fay := e.userIDs(users, "cat")[0], e.userIDs(users, "fay")[0]

	check := func(what string, reqs []scimRequest, add, remove []string) {
		t.Helper()
		w := grpFilter(reqs, "", "Groups")
		var gotAdd, gotRemove []string
		for _, p := range w {
			if _, id := p.resource(); p.Method != http.MethodPatch || id != ids["Sales Team"] {
				t.Errorf("%s: unexpected group write: %s", what, p)
				continue
			}
			ops := grpParsePatch(t, p.Body)
			if ops.replace || len(ops.other) > 0 {
				t.Errorf("%s: the PATCH does more than add or remove members: %s", what, p)
			}
			gotAdd, gotRemove = append(gotAdd, ops.add...), append(gotRemove, ops.remove...)
		}
		if !slices.Equal(gotAdd, add) || !slices.Equal(gotRemove, remove) || len(w) != 1 {
			t.Errorf("%s: want one PATCH /Groups/%s adding %v and removing %v, got:%s", what, ids["Sales Team"],
				e.names(users, add), e.names(users, remove), describe(w))
		}
		if u := grpFilter(reqs, "", "Users"); len(u) != 0 {
			t.Errorf("%s: nobody changed scope, yet users were written:%s", what, describe(u))
		}
	}

	must(t, e.graph.RemoveMember(grpSales, grpCat))
	_, reqs := e.cycle("cat leaves Sales Team (stays in Deal Desk)")
	check("cat leaves Sales Team", reqs, nil, []string{cat})
	e.expectGroups("cat left Sales Team", map[string][]string{
		"Sales Team": {"ben"},
		"Deal Desk":  {"ann", "cat", "fay"},
	})

	must(t, e.graph.AddMember(grpSales, grpFay))
	_, reqs = e.cycle("fay joins Sales Team (already provisioned)")
	check("fay joins Sales Team", reqs, []string{fay}, nil)
	e.expectGroups("fay joined Sales Team", map[string][]string{
		"Sales Team": {"ben", "fay"},
		"Deal Desk":  {"ann", "cat", "fay"},
	})
	e.checkLegacy()
}

// Scenario 3: a member who was out of scope comes into scope (accountEnabled true; a department that
// passes the scoping filter): in the same incremental cycle they are created and added to the group.
func TestGroupsMemberComesIntoScope(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("initial")
	e.expectGroups("initial", grpInitialGroups)

	must(t, e.graph.EnableUser(grpDan))
	must(t, e.graph.UpdateUser(grpEve, map[string]any{"department": "Sales"}))
	_, reqs := e.cycle("dan enabled, eve moved to Sales")
	if posts := grpFilter(reqs, http.MethodPost, "Users"); len(posts) != 2 {
		t.Errorf("want dan and eve created (2 POST /Users), got:%s", describe(posts))
	}
	users, _ := e.dump()
	for _, n := range []string{"dan", "eve"} {
		if u := users[grpUPN(n)]; u == nil || field(u, "active") != "true" {
			t.Errorf("%s should be provisioned and active: %v", n, u)
		}
	}
	e.expectGroups("members came into scope", map[string][]string{
		"Sales Team": {"ben", "cat", "dan", "eve"},
		"Deal Desk":  {"ann", "cat", "fay"},
	})

	// And back out of scope: disabled in the source, the account is disabled and leaves the group.
	must(t, e.graph.DisableUser(grpDan))
	e.cycle("dan disabled")
	e.expectGroups("dan disabled", map[string][]string{
		"Sales Team": {"ben", "cat", "eve"},
		"Deal Desk":  {"ann", "cat", "fay"},
	})
	e.checkLegacy()
}

// Scenario 4: a group of 5,000 members: all present after the initial cycle, added in
// ceil(5000/memberBatchSize) PATCHes of at most memberBatchSize members.
func TestGroupsLargeGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 users against SCIMMY")
	}
	const n, batch = 5000, 250
	tenant := &graphapi.Tenant{ServicePrincipal: grpServicePrincipal()}
	big := graphapi.Group{ID: "7a000000-0000-4000-8000-0000000000b1", DisplayName: "Everyone", SecurityEnabled: true}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("7b000000-0000-4000-8000-%012d", i)
		tenant.Users = append(tenant.Users, grpUser(id, fmt.Sprintf("user%04d", i), "Sales", true))
		big.Members = append(big.Members, id)
	}
	tenant.Groups = []graphapi.Group{big}
	tenant.Assignments = []graphapi.Assignment{{PrincipalID: big.ID, PrincipalType: "Group"}}
	e := newGrpEnv(t, grpOptions{tenant: tenant, batch: batch, pageSize: 100})

	start := time.Now()
	_, reqs := e.cycle("initial, 5,000 members")
	took := time.Since(start)
	t.Logf("initial cycle of %d users and one group of %d members took %s", n, n, took.Round(time.Millisecond))
	if took > 60*time.Second {
		t.Logf("NOTE: the initial cycle took more than 60 s (%s)", took.Round(time.Second))
	}
	span := func(what string, rs []scimRequest) {
		if len(rs) > 0 {
			first, last := rs[0].At, rs[len(rs)-1].At
			t.Logf("%d %s from +%s to +%s", len(rs), what, first.Sub(start).Round(time.Millisecond), last.Sub(start).Round(time.Millisecond))
		}
	}
	span("GET", grpFilter(reqs, http.MethodGet, "Users"))
	span("POST /Users", grpFilter(reqs, http.MethodPost, "Users"))
	span("PATCH /Groups", grpFilter(reqs, http.MethodPatch, "Groups"))
	if ps := grpFilter(reqs, http.MethodPatch, "Groups"); len(ps) > 3 {
		// SCIMMY's time per group PATCH grows with the group's member count (about 20 ms at 50
		// members, 800 ms at 5,000 when measured), so the member phase dominates this test's runtime.
		t.Logf("time between member PATCHes: %s at the start, %s at the end",
			ps[1].At.Sub(ps[0].At).Round(time.Millisecond), ps[len(ps)-1].At.Sub(ps[len(ps)-2].At).Round(time.Millisecond))
	}

	users, groups := e.dump()
	if len(users) != n+1 { // + the unmanaged outsider
		t.Errorf("target holds %d users, want %d + 1 unmanaged", len(users), n)
	}
	g := groups["Everyone"]
	if g == nil {
		t.Fatalf("group Everyone not in the target")
	}
	want := make([]string, 0, n)
	for name, u := range users {
		if strings.HasSuffix(name, grpDomain) {
			want = append(want, s(u["id"]))
		}
	}
	sort.Strings(want)
	if got := grpMembers(g); !slices.Equal(got, want) {
		t.Errorf("Everyone has %d members in the target, want all %d provisioned users (%d users provisioned)", len(got), n, len(want))
	}

	patches := grpFilter(reqs, http.MethodPatch, "Groups")
	wantPatches := (n + batch - 1) / batch
	if len(patches) < wantPatches || len(patches) > wantPatches+2 {
		t.Errorf("%d PATCH /Groups for %d members in batches of %d, want about %d", len(patches), n, batch, wantPatches)
	}
	added := 0
	for _, p := range patches {
		ops := grpParsePatch(t, p.Body)
		if len(ops.add)+len(ops.remove) > batch {
			t.Errorf("a PATCH carries %d members, more than memberBatchSize %d", len(ops.add)+len(ops.remove), batch)
		}
		if ops.replace {
			t.Errorf("a PATCH replaces the member list")
		}
		added += len(ops.add)
	}
	if added != n {
		t.Errorf("the PATCHes added %d members, want %d", added, n)
	}
	if st := e.stats(); st.ByEndpoint["PATCH /Groups/{id}"] != len(patches) {
		t.Errorf("SCIMMY counted %d PATCH /Groups, the recorder %d", st.ByEndpoint["PATCH /Groups/{id}"], len(patches))
	}

	// Nothing changed: no group write on the next cycle.
	_, reqs = e.cycle("quiet")
	if w := grpFilter(reqs, "", "Groups"); len(w) != 0 {
		t.Errorf("a quiet cycle wrote to groups: %d requests", len(w))
	}
	e.checkLegacy()
}

// The chain tenant: mia manages noa manages oli, all assigned directly; order decides which comes
// first in the directory's pages.
const (
	grpMia = "8a000000-0000-4000-8000-000000000011"
	grpNoa = "8b000000-0000-4000-8000-000000000012"
	grpOli = "8c000000-0000-4000-8000-000000000013"
	grpPia = "8d000000-0000-4000-8000-000000000014"
	grpRay = "8e000000-0000-4000-8000-000000000015"
)

func grpChainTenant(order ...string) *graphapi.Tenant {
	names := map[string]string{grpMia: "mia", grpNoa: "noa", grpOli: "oli"}
	t := &graphapi.Tenant{
		Managers:         map[string]string{grpNoa: grpMia, grpOli: grpNoa},
		ServicePrincipal: grpServicePrincipal(),
	}
	for _, id := range order {
		t.Users = append(t.Users, grpUser(id, names[id], "Sales", true))
		t.Assignments = append(t.Assignments, graphapi.Assignment{PrincipalID: id, PrincipalType: "User"})
	}
	return t
}

// expectManagers checks the enterprise manager.value of each named user: the target id of the named
// manager, or none for "".
func (e *grpEnv) expectManagers(what string, want map[string]string) {
	e.t.Helper()
	users, _ := e.dump()
	for name, mgr := range want {
		u := users[grpUPN(name)]
		if u == nil {
			e.t.Errorf("%s: %s is not provisioned", what, name)
			continue
		}
		wantID := ""
		if mgr != "" {
			m := users[grpUPN(mgr)]
			if m == nil {
				e.t.Errorf("%s: the manager %s is not provisioned", what, mgr)
				continue
			}
			wantID = s(m["id"])
		}
		if got := field(u, enterpriseURN+".manager.value"); got != wantID {
			e.t.Errorf("%s: manager of %s = %q (%v), want %q (%s)", what, name, got, e.names(users, []string{got}), wantID, mgr)
		}
	}
}

// Scenario 5: a manager chain created in one cycle links every report to the right target id, whatever
// order the users come in.
func TestGroupsManagerChainInOneCycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []string
	}{
		{"reports first", []string{grpOli, grpNoa, grpMia}},
		{"managers first", []string{grpMia, grpNoa, grpOli}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrpEnv(t, grpOptions{tenant: grpChainTenant(tc.order...), pageSize: 1})
			e.cycle("initial")
			e.expectManagers("initial", map[string]string{"mia": "", "noa": "mia", "oli": "noa"})
			_, reqs := e.cycle("quiet")
			if w := grpWrites(reqs); len(w) != 0 {
				t.Errorf("a quiet cycle wrote:%s", describe(w))
			}
			e.checkLegacy()
		})
	}
}

// Scenario 6: a manager removed in the source is cleared in the target on the next cycle; a new
// manager is linked.
func TestGroupsManagerRemoved(t *testing.T) {
	e := newGrpEnv(t, grpOptions{tenant: grpChainTenant(grpOli, grpNoa, grpMia)})
	e.cycle("initial")
	e.expectManagers("initial", map[string]string{"mia": "", "noa": "mia", "oli": "noa"})

	must(t, e.graph.SetManager(grpOli, ""))
	_, reqs := e.cycle("oli's manager removed")
	e.expectManagers("manager removed", map[string]string{"mia": "", "noa": "mia", "oli": ""})
	users, _ := e.dump()
	oli := e.userIDs(users, "oli")[0]
	for _, w := range grpWrites(reqs) {
		if _, id := w.resource(); id != oli {
			t.Errorf("removing oli's manager wrote to another object: %s", w)
		}
	}

	must(t, e.graph.SetManager(grpOli, grpMia))
	e.cycle("oli now reports to mia")
	e.expectManagers("new manager", map[string]string{"mia": "", "noa": "mia", "oli": "mia"})
	e.checkLegacy()
}

// Scenario 7: a manager out of scope is left out; once the manager is assigned, the next cycle creates
// them and links the report.
func TestGroupsManagerComesIntoScope(t *testing.T) {
	tenant := &graphapi.Tenant{
		Users:            []map[string]any{grpUser(grpRay, "ray", "Sales", true), grpUser(grpPia, "pia", "Sales", true)},
		Managers:         map[string]string{grpRay: grpPia},
		ServicePrincipal: grpServicePrincipal(),
		Assignments:      []graphapi.Assignment{{PrincipalID: grpRay, PrincipalType: "User"}},
	}
	e := newGrpEnv(t, grpOptions{tenant: tenant})
	e.cycle("initial")
	users, _ := e.dump()
	if users[grpUPN("pia")] != nil {
		t.Errorf("pia is not assigned but was provisioned")
	}
	e.expectManagers("manager out of scope", map[string]string{"ray": ""})

	must(t, e.graph.Assign(grpPia, "User"))
	e.cycle("pia assigned")
	e.expectManagers("manager came into scope", map[string]string{"pia": "", "ray": "pia"})
	e.checkLegacy()
}

// Scenario 8: a renamed group is PATCHed (displayName) in place: same id, members intact.
func TestGroupsRenamed(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("initial")
	ids := e.expectGroups("initial", grpInitialGroups)

	must(t, e.graph.RenameGroup(grpDesk, "Deal Desk EMEA"))
	_, reqs := e.cycle("Deal Desk renamed")
	w := grpFilter(reqs, "", "Groups")
	if len(w) != 1 || w[0].Method != http.MethodPatch {
		t.Errorf("want exactly one PATCH /Groups/{id}, got:%s", describe(w))
	}
	for _, p := range w {
		if _, id := p.resource(); id != ids["Deal Desk"] {
			t.Errorf("the rename addressed %s, want the group's id %s: %s", id, ids["Deal Desk"], p)
			continue
		}
		ops := grpParsePatch(t, p.Body)
		if len(ops.add)+len(ops.remove) > 0 || ops.replace || !slices.Equal(ops.other, []string{"displayname"}) {
			t.Errorf("the rename should patch displayName only, got %+v: %s", ops, p)
		}
	}
	after := e.expectGroups("renamed", map[string][]string{
		"Sales Team":     {"ben", "cat"},
		"Deal Desk EMEA": {"ann", "cat", "fay"},
	})
	if after["Deal Desk EMEA"] != ids["Deal Desk"] {
		t.Errorf("the renamed group has id %s, want %s (the same group)", after["Deal Desk EMEA"], ids["Deal Desk"])
	}
	e.checkLegacy()
}

// Scenarios 9 and 10: a group deleted in the source, or unassigned from the app, is deleted in the
// target (DELETE /Groups/{id}) when the Delete action is on, and stays when it is off.
func TestGroupsDeletedOrUnassigned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions string
		remove  func(*graphapi.Server) error
	}{
		{"deleted with Delete on", "", func(g *graphapi.Server) error { return g.DeleteGroup(grpDesk) }},
		{"deleted with Delete off", "{delete: false}", func(g *graphapi.Server) error { return g.DeleteGroup(grpDesk) }},
		{"unassigned with Delete on", "", func(g *graphapi.Server) error { return g.Unassign(grpDesk) }},
		{"unassigned with Delete off", "{delete: false}", func(g *graphapi.Server) error { return g.Unassign(grpDesk) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrpEnv(t, grpOptions{salesOnly: true, actions: tc.actions})
			e.cycle("initial")
			ids := e.expectGroups("initial", grpInitialGroups)
			desk := ids["Deal Desk"]

			must(t, tc.remove(e.graph))
			_, reqs := e.cycle(tc.name)
			dels := grpFilter(reqs, http.MethodDelete, "Groups")
			_, groups := e.dump()
			if tc.actions == "" {
				if len(dels) != 1 || !strings.HasSuffix(dels[0].Path, "/Groups/"+desk) {
					t.Errorf("want DELETE /Groups/%s, got:%s", desk, describe(dels))
				}
				if g := groups["Deal Desk"]; g != nil {
					t.Errorf("Deal Desk is still in the target: %v", g)
				}
			} else {
				if len(dels) != 0 {
					t.Errorf("the Delete action is off, yet groups were deleted:%s", describe(dels))
				}
				if g := groups["Deal Desk"]; g == nil || s(g["id"]) != desk {
					t.Errorf("Deal Desk should stay in the target with id %s: %v", desk, g)
				}
			}
			if g := groups["Sales Team"]; g == nil || s(g["id"]) != ids["Sales Team"] {
				t.Errorf("Sales Team should be untouched: %v", g)
			}
			for _, r := range grpFilter(reqs, "", "Groups") {
				if _, id := r.resource(); id == ids["Sales Team"] {
					t.Errorf("Sales Team was written to: %s", r)
				}
			}
			e.checkLegacy()
		})
	}
}

// Scenario 11: a target group scimsync never created or matched stays untouched through creations,
// membership changes, renames and deletions of the managed groups.
func TestGroupsUnmanagedGroupUntouched(t *testing.T) {
	e := newGrpEnv(t, grpOptions{salesOnly: true})
	e.cycle("initial")
	e.checkLegacy()
	must(t, e.graph.AddMember(grpSales, grpAnn))
	must(t, e.graph.RenameGroup(grpSales, "Sales Team West"))
	must(t, e.graph.DeleteGroup(grpDesk))
	_, err := e.graph.CreateGroup(graphapi.Group{ID: "6e000000-0000-4000-8000-0000000000a5", DisplayName: "Renewals",
		SecurityEnabled: true, Members: []string{grpAnn, grpBen}})
	must(t, err)
	must(t, e.graph.Assign("6e000000-0000-4000-8000-0000000000a5", "Group"))
	e.cycle("changes")
	e.expectGroups("after the changes", map[string][]string{
		"Sales Team West": {"ann", "ben", "cat"},
		"Renewals":        {"ann", "ben"},
	})
	e.checkLegacy()
}
