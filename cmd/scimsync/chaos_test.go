package main

// The chaos convergence test of the issue "Correct under faults".
//
// For each seed, the built binary (`scimsync sync`) runs several cycles against an emulated tenant
// (graphapi) and a SCIM target (SCIMMY, and the in-process scimserver server) while faults are
// injected: on Graph 429 (Retry-After 0 or 1), 5xx and dropped connections at any page of the users
// and groups rounds, appRoleAssignedTo and the by-id reads, and expired delta tokens; on the target,
// through a fault proxy, 5xx, 429, requests held past the client's timeout, late failures (the write
// is applied, its answer lost as a 500, a dropped connection or a timeout), connection resets, and
// SIGKILL of the binary at the nth request of a phase (user creates, group creates, membership
// PATCHes, manager PATCHes). The tenant changes between cycles. Then clean cycles run until one
// sends no SCIM write, and the target must hold exactly what the tenant says, computed here from the
// tenant model with plain Go (the Gong preset table of docs/configuration.md), never with scimsync's code.
//
// Every choice comes from math/rand/v2 seeded with the seed, which every failure names; replay one
// with SCIMSYNC_CHAOS_SEED=k, run more with SCIMSYNC_CHAOS_SEEDS=n (make chaos SEEDS=n). With
// target concurrency above 1 (chosen by the seed too) a replay has the same schedule but the order
// of parallel requests may differ.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/internal/testenv/scimmy"
	"github.com/scimsync/scimsync/scimclient"
)

const (
	envChaosSeeds = "SCIMSYNC_CHAOS_SEEDS"
	envChaosSeed  = "SCIMSYNC_CHAOS_SEED"

	chaosDomain      = "@chaos.example"
	chaosSP          = "c5c5c5c5-0000-4000-8000-0000000000ff"
	chaosOutsiderUPN = "outsider@elsewhere.example"
	chaosLegacyGroup = "Legacy Admins"
	// chaosFaultyCycles and chaosCleanCap: faulty cycles per seed, and the most clean cycles
	// convergence may take.
	chaosFaultyCycles = 4
	chaosCleanCap     = 4
)

// chaosSeeds returns the seeds to run: SCIMSYNC_CHAOS_SEED=k alone, SCIMSYNC_CHAOS_SEEDS=n for 1..n,
// else the short set of `go test`.
func chaosSeeds(t *testing.T) []uint64 {
	if v := os.Getenv(envChaosSeed); v != "" {
		k, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not a seed: %v", envChaosSeed, v, err)
		}
		return []uint64{k}
	}
	n := uint64(2)
	if v := os.Getenv(envChaosSeeds); v != "" {
		var err error
		if n, err = strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
			t.Fatalf("%s=%q: want a positive count", envChaosSeeds, v)
		}
	}
	out := make([]uint64, 0, n)
	for k := uint64(1); k <= n; k++ {
		out = append(out, k)
	}
	return out
}

func TestChaosConvergence(t *testing.T) {
	bin := binary(t)
	for _, seed := range chaosSeeds(t) {
		for _, kind := range []string{"scimmy", "local"} {
			t.Run(fmt.Sprintf("seed%d/%s", seed, kind), func(t *testing.T) {
				c := newChaos(t, bin, seed, kind)
				c.play()
			})
		}
	}
}

// --- The tenant model: what the test knows about the tenant, kept beside the emulator. ---

type chaosUser struct {
	id, upn string
	props   map[string]any // Graph properties, never null (null values do not flow, so never used)
	enabled bool
	direct  bool // assigned to the app directly
	manager string
	// stable users are managers: always assigned and enabled, so a manager reference always has a
	// provisioned target.
	stable bool
}

type chaosGroup struct {
	id, name string
	assigned bool
	members  []string // user ids, in order
}

type chaosTenant struct {
	users  []*chaosUser
	byID   map[string]*chaosUser
	groups []*chaosGroup
	// everInScope holds the users in scope at the start of any run: only they may have an account.
	everInScope map[string]bool
	next        int
}

var (
	chaosGiven  = []string{"Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "François", "Grace", "Håkon", "Inès", "José", "Kai", "Łucja", "Mateo", "Nnamdi", "Zoë"}
	chaosFamily = []string{"Andersson", "Bianchi", "Čapek", "Dubois", "Eriksen", "Fernández", "García", "Hoang", "Ivanova", "Jansen", "O'Brien", "Müller"}
	chaosTitles = []string{"Account Executive", "Sales Engineer", "Support Lead", "Product Manager", "Director", "Intern", "SDR"}
	chaosLangs  = []string{"en-US", "de-DE", "fr-FR", "es-ES", "sv-SE"}
	chaosStates = []string{"WA", "CA", "NY", "Bavaria", "Île-de-France"}
	chaosLands  = []string{"United States", "Germany", "France", "Sweden"}
)

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

func (m *chaosTenant) newUser(rng *rand.Rand) *chaosUser {
	i := m.next
	m.next++
	name := fmt.Sprintf("u%03d", i)
	u := &chaosUser{id: fmt.Sprintf("c4a05000-0000-4000-8000-%012d", i), upn: name + chaosDomain, enabled: true}
	u.props = map[string]any{
		"userPrincipalName": u.upn,
		"givenName":         pick(rng, chaosGiven),
		"surname":           pick(rng, chaosFamily),
		"mail":              name + "@mail.chaos.example",
		"mailNickname":      name,
		"jobTitle":          pick(rng, chaosTitles),
		"department":        "Sales",
		"businessPhones":    []any{fmt.Sprintf("+1 425 555 %04d", rng.IntN(10000))},
		"preferredLanguage": pick(rng, chaosLangs),
		"state":             pick(rng, chaosStates),
		"country":           pick(rng, chaosLands),
		"userType":          "Member",
	}
	u.props["displayName"] = fmt.Sprint(u.props["givenName"], " ", u.props["surname"])
	m.users = append(m.users, u)
	m.byID[u.id] = u
	return u
}

func (u *chaosUser) graphProps() map[string]any {
	p := map[string]any{"id": u.id, "accountEnabled": u.enabled}
	for k, v := range u.props {
		p[k] = v
	}
	return p
}

// inScope is Entra's assignment scope with no scoping filter: enabled, and assigned directly or a
// direct member of an assigned group.
func (m *chaosTenant) inScope(u *chaosUser) bool {
	if !u.enabled {
		return false
	}
	return u.direct || m.inAssignedGroup(u)
}

func (m *chaosTenant) inAssignedGroup(u *chaosUser) bool {
	for _, g := range m.groups {
		if g.assigned && slices.Contains(g.members, u.id) {
			return true
		}
	}
	return false
}

func (m *chaosTenant) stable() []*chaosUser {
	var out []*chaosUser
	for _, u := range m.users {
		if u.stable {
			out = append(out, u)
		}
	}
	return out
}

// buildChaosTenant makes a tenant of 30-50 users (a stable manager tree of 6, the rest assigned
// directly or through groups, some not at all, a few disabled) and 4-6 groups, one never assigned.
func buildChaosTenant(rng *rand.Rand) *chaosTenant {
	m := &chaosTenant{byID: map[string]*chaosUser{}, everInScope: map[string]bool{}}
	nGroups := 4 + rng.IntN(3)
	for i := 0; i < nGroups; i++ {
		m.groups = append(m.groups, &chaosGroup{
			id:   fmt.Sprintf("c6a05000-0000-4000-8000-%012d", i),
			name: fmt.Sprintf("Chaos Team %c", 'A'+i), assigned: i != nGroups-1,
		})
	}
	const nStable = 6
	nUsers := 30 + rng.IntN(21)
	for i := 0; i < nUsers; i++ {
		u := m.newUser(rng)
		if i < nStable {
			u.stable, u.direct = true, true
			if i > 0 {
				u.manager = m.users[(i-1)/2].id // a tree three levels deep
			}
		} else {
			u.direct = rng.IntN(10) < 4
			u.enabled = rng.IntN(10) != 0
			if rng.IntN(2) == 0 {
				u.manager = m.users[rng.IntN(nStable)].id
			}
		}
		for _, g := range m.groups {
			if rng.IntN(4) == 0 {
				g.members = append(g.members, u.id)
			}
		}
	}
	return m
}

func (m *chaosTenant) graphTenant() *graphapi.Tenant {
	t := &graphapi.Tenant{
		Managers:         map[string]string{},
		ServicePrincipal: graphapi.ServicePrincipal{ID: chaosSP, AppID: "c5c5c5c5-0000-4000-8000-0000000000fe", DisplayName: "Gong"},
	}
	for _, u := range m.users {
		t.Users = append(t.Users, u.graphProps())
		if u.manager != "" {
			t.Managers[u.id] = u.manager
		}
		if u.direct {
			t.Assignments = append(t.Assignments, graphapi.Assignment{PrincipalID: u.id, PrincipalType: "User"})
		}
	}
	for _, g := range m.groups {
		t.Groups = append(t.Groups, graphapi.Group{ID: g.id, DisplayName: g.name, SecurityEnabled: true, Members: slices.Clone(g.members)})
		if g.assigned {
			t.Assignments = append(t.Assignments, graphapi.Assignment{PrincipalID: g.id, PrincipalType: "Group"})
		}
	}
	return t
}

// change applies one random tenant change to the model and the emulator and describes it.
func (c *chaos) change() string {
	m, rng, g := c.model, c.rng, c.graph
	choose := func(f func(*chaosUser) bool) *chaosUser {
		var list []*chaosUser
		for _, u := range m.users {
			if f(u) {
				list = append(list, u)
			}
		}
		if len(list) == 0 {
			return nil
		}
		return pick(rng, list)
	}
	var assigned []*chaosGroup
	for _, gr := range m.groups {
		if gr.assigned {
			assigned = append(assigned, gr)
		}
	}
	switch rng.IntN(9) {
	case 0: // a new user, assigned directly or through a group
		u := m.newUser(rng)
		if rng.IntN(2) == 0 {
			u.manager = pick(rng, m.stable()).id
		}
		g.UpsertUser(u.graphProps())
		if u.manager != "" {
			c.must(g.SetManager(u.id, u.manager))
		}
		if rng.IntN(2) == 0 {
			u.direct = true
			c.must(g.Assign(u.id, "User"))
			return "add " + u.upn + " (assigned)"
		}
		gr := pick(rng, assigned)
		gr.members = append(gr.members, u.id)
		c.must(g.AddMember(gr.id, u.id))
		return "add " + u.upn + " (member of " + gr.name + ")"
	case 1: // an attribute changes
		u := choose(func(*chaosUser) bool { return true })
		attr := pick(rng, []string{"jobTitle", "givenName", "surname", "mail", "businessPhones", "preferredLanguage", "state", "country"})
		var v any
		switch attr {
		case "jobTitle":
			v = pick(rng, chaosTitles) + fmt.Sprintf(" %d", rng.IntN(100))
		case "givenName":
			v = pick(rng, chaosGiven)
		case "surname":
			v = pick(rng, chaosFamily)
		case "mail":
			v = fmt.Sprintf("%s.%d@mail.chaos.example", u.props["mailNickname"], rng.IntN(1000))
		case "businessPhones":
			v = []any{fmt.Sprintf("+1 206 555 %04d", rng.IntN(10000))}
		case "preferredLanguage":
			v = pick(rng, chaosLangs)
		case "state":
			v = pick(rng, chaosStates) + " " + strconv.Itoa(rng.IntN(9))
		case "country":
			v = pick(rng, chaosLands)
		}
		u.props[attr] = v
		c.must(g.UpdateUser(u.id, map[string]any{attr: v}))
		return fmt.Sprintf("%s %s = %v", u.upn, attr, v)
	case 2: // disabled
		if u := choose(func(u *chaosUser) bool { return !u.stable && u.enabled }); u != nil {
			u.enabled = false
			c.must(g.DisableUser(u.id))
			return "disable " + u.upn
		}
	case 3: // re-enabled
		if u := choose(func(u *chaosUser) bool { return !u.enabled }); u != nil {
			u.enabled = true
			c.must(g.EnableUser(u.id))
			return "re-enable " + u.upn
		}
	case 4: // unassigned
		if u := choose(func(u *chaosUser) bool { return !u.stable && u.direct }); u != nil {
			u.direct = false
			c.must(g.Unassign(u.id))
			return "unassign " + u.upn
		}
	case 5: // assigned
		if u := choose(func(u *chaosUser) bool { return !u.direct }); u != nil {
			u.direct = true
			c.must(g.Assign(u.id, "User"))
			return "assign " + u.upn
		}
	case 6: // joins a group
		gr := pick(rng, m.groups)
		if u := choose(func(u *chaosUser) bool { return !slices.Contains(gr.members, u.id) }); u != nil {
			gr.members = append(gr.members, u.id)
			c.must(g.AddMember(gr.id, u.id))
			return u.upn + " joins " + gr.name
		}
	case 7: // leaves a group
		gr := pick(rng, m.groups)
		if len(gr.members) > 0 {
			id := pick(rng, gr.members)
			gr.members = slices.DeleteFunc(gr.members, func(x string) bool { return x == id })
			c.must(g.RemoveMember(gr.id, id))
			return m.byID[id].upn + " leaves " + gr.name
		}
	case 8: // a new manager, or none
		stable := m.stable()
		u := choose(func(u *chaosUser) bool { return u != stable[0] })
		var candidates []*chaosUser
		for _, s := range stable {
			// A stable user's manager comes before it in the tree, so there is never a cycle.
			if s != u && (!u.stable || slices.Index(stable, s) < slices.Index(stable, u)) {
				candidates = append(candidates, s)
			}
		}
		mgr := ""
		if rng.IntN(4) != 0 && len(candidates) > 0 {
			mgr = pick(rng, candidates).id
		}
		if mgr == u.manager {
			return "keep the manager of " + u.upn
		}
		u.manager = mgr
		c.must(g.SetManager(u.id, mgr))
		if mgr == "" {
			return "remove the manager of " + u.upn
		}
		return "manager of " + u.upn + " = " + m.byID[mgr].upn
	}
	return "(no candidate for the change)"
}

// --- The target: SCIMMY or the in-process server, seeded and read directly, never through the proxy. ---

type chaosTarget interface {
	url() string
	token() string
	seed(t *testing.T, endpoint string, body map[string]any) string
	dump(t *testing.T) (users, groups []map[string]any)
}

type scimmyTarget struct{ sc *scimmy.Server }

func (s scimmyTarget) url() string   { return s.sc.URL() }
func (s scimmyTarget) token() string { return s.sc.Token() }
func (s scimmyTarget) seed(t *testing.T, endpoint string, body map[string]any) string {
	return createResource(t, s.sc, endpoint, body)
}
func (s scimmyTarget) dump(t *testing.T) ([]map[string]any, []map[string]any) {
	t.Helper()
	users, groups, err := s.sc.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return users, groups
}

type localChaosTarget struct {
	srv *scimserver.Server
	u   string
	tok string
}

func (l localChaosTarget) url() string   { return l.u }
func (l localChaosTarget) token() string { return l.tok }
func (l localChaosTarget) seed(t *testing.T, endpoint string, body map[string]any) string {
	t.Helper()
	// Through JSON, so the body has the types a request would have ([]any, not []string).
	var r scimclient.Resource
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var err error
	if endpoint == "Users" {
		err = l.srv.Seed(r)
	} else {
		err = l.srv.SeedGroups(r)
	}
	if err != nil {
		t.Fatalf("seed %s: %v", endpoint, err)
	}
	users, groups := l.dump(t)
	key, list := "userName", users
	if endpoint == "Groups" {
		key, list = "displayName", groups
	}
	for _, r := range list {
		if r[key] == body[key] {
			return s(r["id"])
		}
	}
	t.Fatalf("seeded %s %v not found", endpoint, body[key])
	return ""
}
func (l localChaosTarget) dump(*testing.T) ([]map[string]any, []map[string]any) {
	conv := func(rs []scimclient.Resource) []map[string]any {
		out := make([]map[string]any, len(rs))
		for i, r := range rs {
			out[i] = map[string]any(r)
		}
		return out
	}
	return conv(l.srv.Users()), conv(l.srv.Groups())
}

// --- One seed's play. ---

type chaos struct {
	t      *testing.T
	seed   uint64
	kind   string
	rng    *rand.Rand
	bin    string
	dir    string
	cfg    string
	model  *chaosTenant
	graph  *graphapi.Server
	target chaosTarget
	proxy  *faultProxy

	// The unmanaged objects as stored before the first cycle, and the adopted account's id.
	outsider, legacy     string
	outsiderID, legacyID string
	adoptUPN, adoptID    string

	// journal is everything that happened, printed with any failure.
	journal       []string
	kills         int
	graphRequests int
	scimRequests  int
}

func (c *chaos) logf(format string, args ...any) {
	c.journal = append(c.journal, fmt.Sprintf(format, args...))
}

func (c *chaos) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("seed %d: tenant change: %v", c.seed, err)
	}
}

// fail reports a failure with the seed and how to replay it.
func (c *chaos) fail(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("seed %d, target %s: %s", c.seed, c.kind, fmt.Sprintf(format, args...))
}

func newChaos(t *testing.T, bin string, seed uint64, kind string) *chaos {
	c := &chaos{t: t, seed: seed, kind: kind, bin: bin, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 0x5c1a5))}
	t.Cleanup(func() {
		switch {
		case t.Failed():
			t.Logf("seed %d, target %s failed; replay: %s=%d make chaos\njournal:\n  %s", seed, kind, envChaosSeed, seed,
				strings.Join(c.journal, "\n  "))
		case os.Getenv(envChaosSeed) != "":
			t.Logf("seed %d, target %s journal:\n  %s", seed, kind, strings.Join(c.journal, "\n  "))
		}
	})
	c.model = buildChaosTenant(c.rng)
	pageSize := 3 + c.rng.IntN(6)
	concurrency := pick(c.rng, []int{1, 1, 3})
	batch := 2 + c.rng.IntN(4)
	c.graph = graphapi.StartForTest(t, c.model.graphTenant(), graphapi.Options{PageSize: pageSize})
	compat := "default"
	switch kind {
	case "scimmy":
		c.target = scimmyTarget{scimmy.ForTest(t)}
		compat = "strict" // SCIMMY rejects Entra's default shapes
	default:
		srv := scimserver.New(scimserver.Options{Token: "chaos-token"})
		u := srv.Start()
		t.Cleanup(srv.Close)
		c.target = localChaosTarget{srv: srv, u: u, tok: "chaos-token"}
	}
	c.logf("tenant: %d users, %d groups; Graph page size %d; target concurrency %d, memberBatchSize %d, compatibility %s",
		len(c.model.users), len(c.model.groups), pageSize, concurrency, batch, compat)

	// Pre-existing target objects: an unmanaged user in an unmanaged group, which must stay
	// byte-for-byte the same, and (for some seeds) an account of a manager, which must be adopted.
	c.outsiderID = c.target.seed(t, "Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": chaosOutsiderUPN, "title": "Contractor", "active": true, "externalId": "outsider",
		"name": map[string]any{"givenName": "Out", "familyName": "Sider"},
	})
	c.legacyID = c.target.seed(t, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": chaosLegacyGroup,
		"members":     []map[string]any{{"value": c.outsiderID}},
	})
	if c.rng.IntN(2) == 0 {
		u := pick(c.rng, c.model.stable())
		c.adoptUPN = u.upn
		c.adoptID = c.target.seed(t, "Users", map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": u.upn, "title": "Stale title", "active": true,
		})
		c.logf("pre-existing account of %s: %s", u.upn, c.adoptID)
	}
	users, groups := c.target.dump(t)
	for _, u := range users {
		if s(u["id"]) == c.outsiderID {
			c.outsider = grpJSON(u)
		}
	}
	for _, g := range groups {
		if s(g["id"]) == c.legacyID {
			c.legacy = grpJSON(g)
		}
	}
	if c.outsider == "" || c.legacy == "" {
		t.Fatalf("the unmanaged objects are not in the target after seeding")
	}

	var proxyURL string
	c.proxy, proxyURL = startFaultProxy(t, c.target.url())
	ca := filepath.Join(c.dir, "ca.pem")
	if err := c.graph.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(c.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("graph-secret", "chaos-secret\n")
	token := write("target-token", c.target.token()+"\n")
	// timeout is the client's per-request timeout: a held request costs this much, no more.
	c.cfg = write("job.yaml", fmt.Sprintf(`name: chaos
%starget:
  url: %s
  tokenFile: %s
  compatibility: %s
  concurrency: %d
  requestsPerSecond: 0
  timeout: 2s
users:
  preset: gong
groups:
  memberBatchSize: %d
state: %s
logging: {level: warn, format: json}
`, emulatedSource(c.graph, chaosSP, ca, "secretFile: "+secret), proxyURL, token, compat, concurrency, batch,
		filepath.Join(c.dir, "state.db")))
	return c
}

// runResult is one run of the binary.
type runResult struct {
	code   int // exit code; 137 when killed by SIGKILL
	killed bool
	// killMissed: a kill rule fired but the binary had already exited when the signal was sent.
	killMissed bool
	events     []proxyEvent
	graph      []graphapi.RecordedRequest
	stderr     string
	stdout     string
	rules      []*proxyRule
	gfaults    []string
}

func (r runResult) writes() []proxyEvent {
	var out []proxyEvent
	for _, e := range r.events {
		if e.write() {
			out = append(out, e)
		}
	}
	return out
}

// run runs `scimsync sync` once with the given proxy rules (Graph faults are injected by the caller).
func (c *chaos) run(label string, rules []*proxyRule, gfaults []string) runResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "sync", "--config", c.cfg)
	var out bytes.Buffer
	errb := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &out, errb
	graphMark := len(c.graph.Requests())
	exited := make(chan struct{})
	var killMissed atomic.Bool
	c.proxy.arm(rules, func() {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			// The binary ended on its own (an abort, say) before the kill: judge its exit as usual.
			killMissed.Store(true)
		}
		<-exited
	})
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	err := cmd.Wait()
	close(exited)
	res := runResult{events: c.proxy.disarm(), graph: c.graph.Requests()[graphMark:], stderr: errb.String(),
		stdout: out.String(), rules: rules, gfaults: gfaults, killMissed: killMissed.Load()}
	c.graph.ClearFaults()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.killed = ws.Signal() == syscall.SIGKILL
			res.code = 128 + int(ws.Signal())
		}
	default:
		c.t.Fatalf("%s: %v", label, err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("seed %d: %s did not finish within 5 minutes", c.seed, label)
	}
	c.graphRequests += len(res.graph)
	c.scimRequests += len(res.events)
	if res.killed {
		c.kills++
	}
	if strings.Contains(res.stderr+res.stdout, "chaos-secret") || strings.Contains(res.stderr+res.stdout, c.target.token()) {
		c.fail("%s: a secret appeared in the output", label)
	}
	fired := []string{}
	for _, r := range rules {
		fired = append(fired, r.String())
	}
	c.logf("%s: exit %d, %d SCIM requests (%d writes), %d Graph requests; SCIM faults: [%s]; Graph faults: [%s]",
		label, res.code, len(res.events), len(res.writes()), len(res.graph), strings.Join(fired, "; "), strings.Join(gfaults, "; "))
	return res
}

// scimRules draws the target faults of one faulty run, and for most runs a kill at the nth request
// of a phase.
func (c *chaos) scimRules() []*proxyRule {
	rng := c.rng
	var rules []*proxyRule
	classes := []string{classAny, classUserCreate, classUserCreate, classGroupCreate, classUserPatch, classGroupPatch,
		classMemberPatch, classManagerPatch, classUserGet, classGroupGet}
	kinds := []faultKind{fault500, fault503, fault429, faultHold, faultReset, faultLate500, faultLateDrop, faultLateHold}
	for i, n := 0, 2+rng.IntN(5); i < n; i++ {
		r := &proxyRule{class: pick(rng, classes), nth: 1 + rng.IntN(12), kind: pick(rng, kinds)}
		if r.class == classAny {
			r.nth = 1 + rng.IntN(60)
		}
		if r.kind == fault429 {
			r.retryAfter = pick(rng, []string{"0", "1"})
		}
		rules = append(rules, r)
	}
	if rng.IntN(10) < 6 {
		phase := pick(rng, []string{classUserCreate, classGroupCreate, classMemberPatch, classManagerPatch, classUserPatch, classAny})
		r := &proxyRule{class: phase, nth: 1 + rng.IntN(8), kind: pick(rng, []faultKind{faultKillBefore, faultKillAfter})}
		if phase == classAny {
			r.nth = 1 + rng.IntN(60)
		}
		rules = append(rules, r)
	}
	return rules
}

// graphFaults injects the Graph faults of one faulty run and describes them.
func (c *chaos) graphFaults() []string {
	rng := c.rng
	var out []string
	if rng.IntN(10) < 3 {
		e := pick(rng, []graphapi.Expiry{graphapi.ExpireGone, graphapi.ExpireSyncStateNotFound, graphapi.ExpireResyncRequired})
		c.graph.SetExpiry(e)
		c.graph.ExpireDeltaTokens()
		out = append(out, fmt.Sprintf("delta tokens expired (shape %d)", e))
	}
	where := []string{"users/delta", "groups/delta", "appRoleAssignedTo", "expand=manager"}
	for i, n := 0, rng.IntN(4); i < n; i++ {
		f := graphapi.Fault{PathContains: pick(rng, where), Skip: rng.IntN(4)}
		switch rng.IntN(6) {
		case 0, 1:
			f.Status, f.RetryAfter, f.Count = 429, pick(rng, []string{"0", "1"}), 1+rng.IntN(2)
		case 2:
			f.Status = 503
		case 3:
			f.Status = 504
		case 4:
			f.Drop = true
		case 5:
			f.Status = 500 // not retried by the reader: the cycle aborts
		}
		c.graph.InjectFaults(f)
		what := strconv.Itoa(f.Status)
		if f.Drop {
			what = "drop"
		}
		if f.RetryAfter != "" {
			what += " Retry-After " + f.RetryAfter
		}
		out = append(out, fmt.Sprintf("%s after %d matching: %s x%d", f.PathContains, f.Skip, what, max(f.Count, 1)))
	}
	return out
}

// markScope records who is in scope as a run starts.
func (c *chaos) markScope() {
	for _, u := range c.model.users {
		if c.model.inScope(u) {
			c.model.everInScope[u.id] = true
		}
	}
}

func (c *chaos) play() {
	t := c.t
	for cycle := 1; cycle <= chaosFaultyCycles; cycle++ {
		if cycle > 1 {
			for i, n := 0, 2+c.rng.IntN(6); i < n; i++ {
				c.logf("change: %s", c.change())
			}
		}
		gfaults := c.graphFaults()
		rules := c.scimRules()
		c.markScope()
		res := c.run(fmt.Sprintf("faulty cycle %d", cycle), rules, gfaults)
		c.checkFaultyRun(fmt.Sprintf("faulty cycle %d", cycle), res)
	}
	for i, n := 0, 2+c.rng.IntN(6); i < n; i++ {
		c.logf("change: %s", c.change())
	}
	c.markScope()
	converged := 0
	var last runResult
	for i := 1; i <= chaosCleanCap; i++ {
		last = c.run(fmt.Sprintf("clean cycle %d", i), nil, nil)
		c.logf("clean cycle %d writes:%s", i, describeEvents(last.writes()))
		if last.code != 0 {
			c.fail("clean cycle %d: exit %d, want 0\n%s", i, last.code, lastLines(last.stderr, 20))
		}
		if len(last.writes()) == 0 {
			converged = i
			break
		}
	}
	if converged == 0 {
		c.fail("no convergence: clean cycle %d still sent %d writes:%s", chaosCleanCap, len(last.writes()), describeEvents(last.writes()))
	}
	dups, outOfScope, touched := c.checkFinal()
	t.Logf("chaos seed=%d target=%s cycles-to-converge=%d scim-requests=%d graph-requests=%d kills=%d duplicates=%d out-of-scope=%d unmanaged-touched=%d",
		c.seed, c.kind, converged, c.scimRequests, c.graphRequests, c.kills, dups, outOfScope, touched)
}

func describeEvents(ev []proxyEvent) string {
	if len(ev) > 30 {
		ev = append(ev[:30:30], proxyEvent{method: "...", path: "more"})
	}
	var b strings.Builder
	for _, e := range ev {
		b.WriteString("\n  " + e.String())
	}
	return b.String()
}

// checkFaultyRun checks the exit code of a faulty run against what docs/commands.md documents.
func (c *chaos) checkFaultyRun(label string, res runResult) {
	killRule := false
	scimFault := false
	for _, r := range res.rules {
		if r.fired && r.kind.kill() {
			killRule = true
		} else if r.fired {
			scimFault = true
		}
	}
	graphAbort, graphFault := false, false
	for _, r := range res.graph {
		switch r.Status {
		case 500:
			graphAbort, graphFault = true, true
		case 0, 429, 503, 504:
			graphFault = true
		}
	}
	if killRule && res.killMissed {
		// The binary ended on its own before the kill landed: judge its exit as a run without a kill.
		killRule = false
	}
	switch {
	case killRule:
		if !res.killed {
			c.fail("%s: the binary was killed with SIGKILL but ended with exit %d", label, res.code)
		}
		return
	case res.killed:
		c.fail("%s: killed, yet no kill rule fired", label)
		return
	case graphAbort:
		// A Graph read error the reader does not retry aborts the cycle before anything is sent.
		if res.code != exitAborted {
			c.fail("%s: Graph answered 500 (not retried), want exit %d (aborted), got %d\n%s", label, exitAborted, res.code, lastLines(res.stderr, 10))
		}
		if w := res.writes(); len(w) != 0 {
			c.fail("%s: the cycle aborted on a Graph read error, yet sent %d SCIM writes:%s", label, len(w), describeEvents(w))
		}
	case !scimFault && !graphFault:
		if res.code != exitOK {
			c.fail("%s: no fault reached the binary, want exit 0, got %d\n%s", label, res.code, lastLines(res.stderr, 10))
		}
	default:
		if res.code != exitOK && res.code != 1 && res.code != exitAborted {
			c.fail("%s: exit %d, want 0, 1 or %d\n%s", label, res.code, exitAborted, lastLines(res.stderr, 10))
		}
	}
}

// expectedChaosUser is what the Gong preset must store for a user in scope (README, "The Gong
// preset"), computed from the model: every source value is set, so every mapped attribute flows.
func expectedChaosUser(u *chaosUser) map[string]string {
	phones, _ := u.props["businessPhones"].([]any)
	return map[string]string{
		"userName":                       u.upn,
		"active":                         "true",
		"title":                          s(u.props["jobTitle"]),
		"emails[work]":                   s(u.props["mail"]),
		"name.givenName":                 s(u.props["givenName"]),
		"name.familyName":                s(u.props["surname"]),
		"phoneNumbers[work]":             s(phones[0]),
		"externalId":                     s(u.props["mailNickname"]),
		"locale":                         s(u.props["preferredLanguage"]),
		gongURN + ".stateOrProvince":     s(u.props["state"]),
		gongURN + ".country":             s(u.props["country"]),
		enterpriseURN + ".manager.value": "", // filled by the caller with the manager's target id
	}
}

// checkFinal compares the target with the tenant model and returns the duplicates, out-of-scope
// objects and touched unmanaged objects found.
func (c *chaos) checkFinal() (dups, outOfScope, touched int) {
	users, groups := c.target.dump(c.t)
	byName := map[string][]map[string]any{}
	for _, u := range users {
		k := strings.ToLower(s(u["userName"]))
		byName[k] = append(byName[k], u)
	}
	for name, list := range byName {
		if len(list) > 1 {
			dups++
			ids := []string{}
			for _, u := range list {
				ids = append(ids, s(u["id"]))
			}
			c.fail("user %s is in the target %d times (ids %v)", name, len(list), ids)
		}
	}
	groupsByName := map[string][]map[string]any{}
	for _, g := range groups {
		groupsByName[s(g["displayName"])] = append(groupsByName[s(g["displayName"])], g)
	}
	for name, list := range groupsByName {
		if len(list) > 1 {
			dups++
			c.fail("group %q is in the target %d times", name, len(list))
		}
	}
	one := func(name string) map[string]any {
		if l := byName[strings.ToLower(name)]; len(l) > 0 {
			return l[0]
		}
		return nil
	}
	targetID := map[string]string{} // source id -> target id
	for _, u := range c.model.users {
		if a := one(u.upn); a != nil {
			targetID[u.id] = s(a["id"])
		}
	}
	idName := map[string]string{}
	for _, u := range users {
		idName[s(u["id"])] = s(u["userName"])
	}

	known := map[string]bool{strings.ToLower(chaosOutsiderUPN): true}
	for _, u := range c.model.users {
		known[strings.ToLower(u.upn)] = true
		a := one(u.upn)
		switch {
		case c.model.inScope(u):
			if a == nil {
				c.fail("user %s is in scope but has no account in the target", u.upn)
				continue
			}
			want := expectedChaosUser(u)
			if u.manager != "" {
				want[enterpriseURN+".manager.value"] = targetID[u.manager]
				if targetID[u.manager] == "" {
					c.fail("user %s: the manager %s has no account", u.upn, c.model.byID[u.manager].upn)
				}
			}
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if got := field(a, k); got != want[k] {
					extra := ""
					if strings.HasSuffix(k, "manager.value") {
						extra = fmt.Sprintf(" (account of %q, want that of %q)", idName[got], idName[want[k]])
					}
					c.fail("user %s: %s = %q, want %q%s", u.upn, k, got, want[k], extra)
				}
			}
			if u.upn == c.adoptUPN && s(a["id"]) != c.adoptID {
				c.fail("user %s: the pre-existing account %s was not adopted; the account is %s", u.upn, c.adoptID, s(a["id"]))
			}
		case c.model.everInScope[u.id]:
			// Left the scope: disabled if it was ever created (a create may never have happened).
			if a != nil && field(a, "active") != "false" {
				c.fail("user %s left the scope (enabled %t, assigned %t) but its account is active=%q", u.upn, u.enabled, u.direct, field(a, "active"))
			}
		default:
			if a != nil {
				outOfScope++
				c.fail("user %s was never in scope (enabled %t, assigned %t, member of an assigned group %t), yet has an account %s with active=%q",
					u.upn, u.enabled, u.direct, c.model.inAssignedGroup(u), s(a["id"]), field(a, "active"))
			}
		}
	}
	for name, list := range byName {
		if !known[name] {
			outOfScope++
			c.fail("the target holds an account nobody asked for: %s (%s)", name, s(list[0]["id"]))
		}
	}

	knownGroups := map[string]bool{chaosLegacyGroup: true}
	for _, g := range c.model.groups {
		knownGroups[g.name] = true
		list := groupsByName[g.name]
		if !g.assigned {
			if len(list) > 0 {
				outOfScope++
				c.fail("group %q is not assigned, yet is in the target", g.name)
			}
			continue
		}
		if len(list) == 0 {
			c.fail("group %q is assigned but not in the target", g.name)
			continue
		}
		var want []string
		for _, id := range g.members {
			if c.model.byID[id].enabled {
				want = append(want, c.model.byID[id].upn)
			}
		}
		sort.Strings(want)
		seen := map[string]int{}
		var got []string
		members, _ := list[0]["members"].([]any)
		for _, m := range members {
			v := s(m.(map[string]any)["value"])
			seen[v]++
			if seen[v] == 2 {
				dups++
				c.fail("group %q lists member %s (%s) more than once", g.name, v, idName[v])
			}
			if seen[v] == 1 {
				n := idName[v]
				if n == "" {
					n = "?" + v
				}
				got = append(got, n)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			c.fail("group %q: members %v, want %v (missing %v, extra %v)", g.name, got, want, minus(want, got), minus(got, want))
		}
	}
	for name, list := range groupsByName {
		if !knownGroups[name] {
			outOfScope++
			c.fail("the target holds a group nobody asked for: %q (%s)", name, s(list[0]["id"]))
		}
	}

	for _, u := range users {
		if s(u["id"]) == c.outsiderID && grpJSON(u) != c.outsider {
			touched++
			c.fail("the unmanaged user changed:\n got %s\nwant %s", grpJSON(u), c.outsider)
		}
	}
	for _, g := range groups {
		if s(g["id"]) == c.legacyID && grpJSON(g) != c.legacy {
			touched++
			c.fail("the unmanaged group changed:\n got %s\nwant %s", grpJSON(g), c.legacy)
		}
	}
	if one(chaosOutsiderUPN) == nil {
		touched++
		c.fail("the unmanaged user %s was deleted", chaosOutsiderUPN)
	}
	if len(groupsByName[chaosLegacyGroup]) == 0 {
		touched++
		c.fail("the unmanaged group %q was deleted", chaosLegacyGroup)
	}
	return dups, outOfScope, touched
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
