package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/internal/testenv/pgserver"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
)

// Replicas sharing many jobs (docs/operations.md, "Replicas"): several `scimsync run --jobs DIR`
// processes pointed at one folder of job files whose state is one PostgreSQL database.

// jobsTTL and jobsClaim are the lease ttl and claim interval of the many-jobs replica test: a claim
// interval well under the ttl leaves seconds between a lease's last renewal and its expiry, which is
// what tells a released lease from an expired one on a loaded machine.
const (
	jobsTTL   = 5 * time.Second
	jobsClaim = 500 * time.Millisecond
)

// jobsEnv is a folder of jobs for `run --jobs DIR`: every job reads the same emulated tenant and
// provisions its own in-process SCIM target, and all keep their state in one fresh PostgreSQL
// database, so the daemons pointed at the folder are replicas sharing the jobs.
type jobsEnv struct {
	t       testing.TB
	bin     string
	dir     string // the jobs folder
	tenant  *graphapi.Tenant
	graph   *graphapi.Server
	names   []string
	targets map[string]*jobTarget
	db      *postgres.DB
	conn    *pgx.Conn // the lease rows as they are, for the checks the store's API does not give
	env     []string
	claim   time.Duration
	dbURL   string                              // without the password
	jobYAML func(name, targetURL string) string // a job file of this env
	// slow delays every user create while set, so that a cycle is still creating when a replica dies.
	slow atomic.Bool
}

// jobTarget is one job's SCIM target; posts counts the user creates it received.
type jobTarget struct {
	srv   *scimserver.Server
	posts atomic.Int64
}

// jobsOptions sizes a jobsEnv.
type jobsOptions struct {
	jobs        int
	tenant      *graphapi.Tenant
	ttl, claim  time.Duration
	concurrency int // target.concurrency of each job
	// unlimited lifts the target's default request rate limit, which protects a real app and would
	// make a benchmark measure the limit.
	unlimited bool
}

func newJobsEnv(t testing.TB, o jobsOptions) *jobsEnv {
	t.Helper()
	root := t.TempDir()
	e := &jobsEnv{t: t, bin: binary(t), dir: filepath.Join(root, "jobs"), tenant: o.tenant, targets: map[string]*jobTarget{}, claim: o.claim}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.graph = graphapi.StartForTest(t, e.tenant, graphapi.Options{})
	ca := filepath.Join(root, "ca.pem")
	if err := e.graph.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	source := emulatedSource(e.graph, e.tenant.ServicePrincipal.ID, ca, "secretEnv: E2E_GRAPH_SECRET")

	url, db := freshDatabase(t)
	e.dbURL, e.db = url, db
	ctx := context.Background()
	pc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pc.Password = pgSrv.Password
	if e.conn, err = pgx.ConnectConfig(ctx, pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.conn.Close(context.Background()) })

	e.jobYAML = func(name, targetURL string) string {
		limit := ""
		if o.unlimited {
			limit = ", requestsPerSecond: 0"
		}
		return replicaJobYAML(name, source, fmt.Sprintf("%s, concurrency: %d%s", targetURL, o.concurrency, limit), url)
	}
	for i := range o.jobs {
		e.addJob(fmt.Sprintf("j%02d", i))
	}
	e.env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=jobs-token",
		"E2E_DB_PASSWORD="+pgSrv.Password, leaseTTLEnv+"="+o.ttl.String())
	return e
}

// addJob starts a target for a new job and writes its file into the folder (a running daemon sees it
// at its next SIGHUP).
func (e *jobsEnv) addJob(name string) {
	e.t.Helper()
	jt := &jobTarget{}
	jt.srv = scimserver.New(scimserver.Options{Token: "jobs-token", Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Users") {
			return nil
		}
		jt.posts.Add(1)
		if e.slow.Load() {
			return &scimserver.Fault{Delay: 300 * time.Millisecond}
		}
		return nil
	}})
	targetURL := jt.srv.Start()
	e.t.Cleanup(jt.srv.Close)
	if err := os.WriteFile(filepath.Join(e.dir, name+".yaml"), []byte(e.jobYAML(name, targetURL)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.names = append(e.names, name)
	e.targets[name] = jt
}

// removeJob removes a job's file from the folder and from the jobs the checks cover; its target
// stays, to show what it receives afterwards.
func (e *jobsEnv) removeJob(name string) {
	e.t.Helper()
	if err := os.Remove(filepath.Join(e.dir, name+".yaml")); err != nil {
		e.t.Fatal(err)
	}
	e.names = slices.DeleteFunc(e.names, func(n string) bool { return n == name })
}

// replicaJobYAML is a job of the replica tests: the Gong preset without groups, a cycle every second,
// its state in the database at state (password from E2E_DB_PASSWORD) and the target at target (its
// url, then more of the target's keys), with the token from E2E_TARGET_TOKEN.
func replicaJobYAML(name, source, target, state string) string {
	return fmt.Sprintf(`name: %s
%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}
users: {preset: gong}
groups: {enabled: false}
schedule: "@every 1s"
state: %s
statePasswordEnv: E2E_DB_PASSWORD
logging: {level: info, format: json}
`, name, source, target, state)
}

// freshDatabase is a new database of the test's PostgreSQL server (started on first use) and a
// connection to it, closed at the end; url has no password (pgSrv.Password).
func freshDatabase(t testing.TB) (string, *postgres.DB) {
	t.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgserver.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	ctx := context.Background()
	name, err := pgSrv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Connect(ctx, postgres.Config{URL: pgSrv.URL(name), Password: pgSrv.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return pgSrv.URL(name), db
}

// start runs one replica: `run --jobs DIR` with the env's claim interval.
func (e *jobsEnv) start() *daemonProc {
	e.t.Helper()
	return startDaemonProc(e.t, e.bin, e.env, "run", "--jobs", e.dir, "--log-format", "json",
		"--claim-interval", e.claim.String())
}

// holders maps each job whose lease is current (by the database's clock) to the pid of its holder;
// a holder id is host/pid/random.
func (e *jobsEnv) holders() map[string]int {
	e.t.Helper()
	h, err := e.db.Holders(context.Background(), e.names)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for job, id := range h {
		out[job] = pidOfHolder(id)
	}
	return out
}

func pidOfHolder(id string) int {
	parts := strings.Split(id, "/")
	if len(parts) != 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// jobsOf lists the jobs each pid holds.
func jobsOf(holders map[string]int) map[int][]string {
	out := map[int][]string{}
	for job, pid := range holders {
		out[pid] = append(out[pid], job)
	}
	for _, jobs := range out {
		slices.Sort(jobs)
	}
	return out
}

// spread tells whether every job is held, each by one of procs, and each of procs holds between
// floor and ceil of its share.
func (e *jobsEnv) spread(procs ...*daemonProc) bool {
	h := e.holders()
	if len(h) != len(e.names) {
		return false
	}
	by := jobsOf(h)
	if len(by) != len(procs) {
		return false
	}
	lo, hi := len(e.names)/len(procs), (len(e.names)+len(procs)-1)/len(procs)
	for _, p := range procs {
		if n := len(by[p.cmd.Process.Pid]); n < lo || n > hi {
			return false
		}
	}
	return true
}

// leaseRow is a job's lease row as stored.
type leaseRow struct {
	holder            string
	token             int64
	acquired, expires time.Time
}

func (e *jobsEnv) leases() map[string]leaseRow {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), `SELECT job, holder, token, acquired_at, expires_at FROM scimsync.job_leases`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]leaseRow{}
	for rows.Next() {
		var job string
		var l leaseRow
		if err := rows.Scan(&job, &l.holder, &l.token, &l.acquired, &l.expires); err != nil {
			e.t.Fatal(err)
		}
		out[job] = l
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// userCount is how many users a job's target holds.
func (e *jobsEnv) userCount(job string) int { return len(e.targets[job].srv.Users()) }

// converged tells whether every job's target holds exactly the users computed from the tenant, one
// account each.
func (e *jobsEnv) converged(want map[string]expectedUser) bool {
	for _, job := range e.names {
		names := userNames(e.targets[job].srv) // sorted: a duplicate sits next to its twin
		if len(names) != len(want) || len(slices.Compact(names)) != len(want) {
			return false
		}
		for _, n := range names {
			if _, ok := want[n]; !ok {
				return false
			}
		}
	}
	return true
}

// linked tells whether every job's state links as many users as want holds: a cycle records its
// links after the target answered, so a target can be complete a moment before its state is.
func (e *jobsEnv) linked(want map[string]expectedUser) bool {
	for _, job := range e.names {
		if linkedUsers(e.t, e.db, job) != len(want) {
			return false
		}
	}
	return true
}

// check reports, job by job, a target that differs from want (a duplicate, a missing or an unexpected
// account) and a state that does not link every expected user.
func (e *jobsEnv) check(want map[string]expectedUser) {
	e.t.Helper()
	for _, job := range e.names {
		count := map[string]int{}
		for _, n := range userNames(e.targets[job].srv) {
			count[n]++
		}
		for n, c := range count {
			if _, ok := want[n]; !ok {
				e.t.Errorf("job %s: the target holds %s, which is not in scope", job, n)
			} else if c > 1 {
				e.t.Errorf("job %s: %d accounts for %s", job, c, n)
			}
		}
		for n := range want {
			if count[n] == 0 {
				e.t.Errorf("job %s: %s was never created", job, n)
			}
		}
		if n := linkedUsers(e.t, e.db, job); n != len(want) {
			e.t.Errorf("job %s: the state links %d users, want %d", job, n, len(want))
		}
	}
}

// linkedUsers is how many users the job's state links to an account of its target.
func linkedUsers(t testing.TB, db *postgres.DB, job string) int {
	t.Helper()
	st, err := db.Open(job, postgres.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.CountLinks(store.KindUser)
	if err != nil {
		t.Fatalf("job %s: counting the linked users: %v", job, err)
	}
	return n
}

// expected is what every job's target must hold now, computed from the tenant without scimsync code
// (userNames lower-cases nothing, so neither does this).
func (e *jobsEnv) expected() map[string]expectedUser {
	out := map[string]expectedUser{}
	for _, u := range expectedUsers(e.tenant) {
		out[u.userName] = u
	}
	return out
}

// addToScope puts n enabled users who are not in scope yet into an assigned group, in the emulated
// Graph and in the test's copy of the tenant, so that each job's next cycle creates them.
func (e *jobsEnv) addToScope(n int) {
	e.t.Helper()
	var group *graphapi.Group
	for _, a := range e.tenant.Assignments {
		if a.PrincipalType != "Group" {
			continue
		}
		for i := range e.tenant.Groups {
			if e.tenant.Groups[i].ID == a.PrincipalID {
				group = &e.tenant.Groups[i]
			}
		}
	}
	if group == nil {
		e.t.Fatal("the tenant assigns no group")
	}
	inScope := map[string]bool{}
	for _, u := range expectedUsers(e.tenant) {
		inScope[u.id] = true
	}
	added := 0
	for _, u := range e.tenant.Users {
		id := s(u["id"])
		if added == n || inScope[id] || u["accountEnabled"] == false || strings.Contains(s(u["userPrincipalName"]), "#EXT#") {
			continue
		}
		if err := e.graph.AddMember(group.ID, id); err != nil {
			e.t.Fatal(err)
		}
		group.Members = append(group.Members, id)
		added++
	}
	if added < n {
		e.t.Fatalf("the tenant has %d users to bring into scope, want %d", added, n)
	}
}

// steady samples the holders over several claim intervals and reports a sample where a job is not
// held or a replica holds more than its share (ceil of jobs/replicas). The sleeps only space the
// samples; what is checked is each sample.
func (e *jobsEnv) steady(procs ...*daemonProc) {
	e.t.Helper()
	hi := (len(e.names) + len(procs) - 1) / len(procs)
	for range 6 {
		h := e.holders()
		for pid, jobs := range jobsOf(h) {
			if len(jobs) > hi {
				e.t.Errorf("pid %d holds %d jobs %v; its share is at most %d of %d among %d replicas", pid, len(jobs), jobs, hi, len(e.names), len(procs))
			}
		}
		if len(h) != len(e.names) {
			e.t.Errorf("%d of %d jobs held while %d replicas run", len(h), len(e.names), len(procs))
		}
		time.Sleep(e.claim)
	}
}

// checkPosts reports a job whose target received another number of user creates than want: a second
// create of a user means two cycles created it. The jobs of cut (a replica killed or cut off in the
// middle of its creates) may have up to the target concurrency (2) more: the creates in flight then,
// which the target may never have applied, are sent again.
func (e *jobsEnv) checkPosts(want int, cut map[string]bool) {
	e.t.Helper()
	for _, job := range e.names {
		n := e.targets[job].posts.Load()
		switch {
		case cut[job] && (n < int64(want) || n > int64(want+2)):
			e.t.Errorf("job %s: the target received %d user creates, want %d to %d (one per user in scope, and the 2 in flight at the cut again)", job, n, want, want+2)
		case !cut[job] && n != int64(want):
			e.t.Errorf("job %s: the target received %d user creates, want %d (one per user in scope)", job, n, want)
		}
	}
}

// statusHolder is the holder `status --jobs DIR --job NAME` prints.
func (e *jobsEnv) statusHolder(job string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, "status", "--jobs", e.dir, "--job", job)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("status --job %s: %v\n%s", job, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "held by    "); ok {
			holder, _, _ := strings.Cut(rest, " ")
			return holder
		}
	}
	e.t.Fatalf("status --job %s prints no holder:\n%s", job, out)
	return ""
}

// killMidCycle waits until one of procs holds a job whose target has more than before but fewer than
// want users (a cycle creating), kills it with SIGKILL and waits until the others hold every job. It
// reports a job taken over before the dead replica's lease expired, or without a new fencing token,
// and returns the survivors and the dead replica's jobs.
func (e *jobsEnv) killMidCycle(before, want int, procs ...*daemonProc) ([]*daemonProc, map[string]bool) {
	e.t.Helper()
	byPID := map[int]*daemonProc{}
	for _, p := range procs {
		byPID[p.cmd.Process.Pid] = p
	}
	var victim *daemonProc
	var midJob string
	procs[0].until("a replica mid-cycle", time.Minute, func() bool {
		for job, pid := range e.holders() {
			if n := e.userCount(job); byPID[pid] != nil && n > before && n < want {
				victim, midJob = byPID[pid], job
				return true
			}
		}
		return false
	})
	victim.signal(syscall.SIGKILL)
	killed := time.Now()
	<-victim.done
	e.slow.Store(false)
	lost := map[string]bool{}
	last := e.leases() // final: the dead replica renews nothing any more
	for job, l := range last {
		if pidOfHolder(l.holder) == victim.cmd.Process.Pid {
			lost[job] = true
		}
	}
	survivors := slices.DeleteFunc(slices.Clone(procs), func(p *daemonProc) bool { return p == victim })
	survivors[0].until("the survivors to take every job", time.Minute, func() bool { return e.spread(survivors...) })
	e.t.Logf("killed pid %d while job %s had %d of %d users; its %d jobs were taken over %s after the kill (ttl %s, claim interval %s)",
		victim.cmd.Process.Pid, midJob, e.userCount(midJob), want, len(lost), time.Since(killed).Round(time.Millisecond), jobsTTL, jobsClaim)
	now := e.leases()
	for job := range lost {
		if n, o := now[job], last[job]; n.token <= o.token || n.acquired.Before(o.expires) {
			e.t.Errorf("job %s: taken over at %s with token %d, while the dead replica's lease (token %d) ran until %s",
				job, n.acquired, n.token, o.token, o.expires)
		}
	}
	return survivors, lost
}

// stopReleases stops one replica with SIGTERM and checks that it released its leases: right after
// it exited it holds none, and rest took each before the lease it had would have expired.
func (e *jobsEnv) stopReleases(stopped, rest *daemonProc) {
	e.t.Helper()
	pid := stopped.cmd.Process.Pid
	snap := e.leases() // its leases' expiry at the latest renewal seen; a later renewal only moves it on
	stopped.stop()
	for job, p := range e.holders() {
		if p == pid {
			e.t.Errorf("job %s: still held by the replica that stopped on SIGTERM (not released)", job)
		}
	}
	rest.until("the last replica to take every job", time.Minute, func() bool { return e.spread(rest) })
	now := e.leases()
	for job, o := range snap {
		if pidOfHolder(o.holder) == pid && !now[job].acquired.Before(o.expires) {
			e.t.Errorf("job %s: taken at %s, not before its lease of the stopped replica would have expired (%s)", job, now[job].acquired, o.expires)
		}
	}
}

// TestReplicasManyJobs runs 10 jobs on two, then three `run --jobs DIR` replicas sharing one
// database. Each job's target receives exactly one create per user in scope (one replica ran each
// job's cycles at a time), the jobs spread evenly and stay so; kill -9 of a replica while it creates
// hands its jobs to the others only once its leases expired, and every target converges with no
// duplicate and no lost user; SIGTERM of a replica releases its jobs, which another replica takes
// before their leases would have expired.
func TestReplicasManyJobs(t *testing.T) {
	e := newJobsEnv(t, jobsOptions{jobs: 10, tenant: graphapi.SampleTenant(), ttl: jobsTTL, claim: jobsClaim, concurrency: 2})
	budget := 90 * time.Second // bounds a hung test; nothing is timed against it
	want := e.expected()
	if len(want) < 8 {
		t.Fatalf("the sample tenant has %d users in scope; the test needs several creates per job", len(want))
	}

	// Two replicas: every job converges, the jobs spread 5/5 and stay so.
	a, b := e.start(), e.start()
	a.until("10 jobs converged on two replicas, five each", budget, func() bool {
		return e.converged(want) && e.linked(want) && e.spread(a, b)
	})
	e.steady(a, b)
	e.checkPosts(len(want), nil)

	// A third replica: 4/3/3, and `status` names the holder the database has.
	c := e.start()
	c.until("the jobs spread over three replicas", budget, func() bool { return e.spread(a, b, c) })
	e.steady(a, b, c)
	var shown, held string
	for range 3 { // a job moving between the two reads is read again
		before, _ := e.db.Holders(context.Background(), []string{"j00"})
		shown = e.statusHolder("j00")
		after, _ := e.db.Holders(context.Background(), []string{"j00"})
		if held = after["j00"]; before["j00"] == held {
			break
		}
	}
	if shown != held {
		t.Errorf("status --job j00 shows %q as the holder; the database has %q", shown, held)
	}
	e.checkPosts(len(want), nil)

	// kill -9 of a replica while it creates the users who just came into scope.
	before := len(want)
	e.slow.Store(true)
	e.addToScope(6)
	want = e.expected()
	if len(want) != before+6 {
		t.Fatalf("in scope after adding 6: %d, want %d", len(want), before+6)
	}
	survivors, lost := e.killMidCycle(before, len(want), a, b, c)
	survivors[0].until("every target and state converged after the kill", budget, func() bool {
		return e.converged(want) && e.linked(want)
	})
	e.check(want)
	e.checkPosts(len(want), lost)

	// SIGTERM: the stopped replica releases its jobs, and the other takes them before their leases
	// would have expired.
	e.stopReleases(survivors[0], survivors[1])
	survivors[1].stop()
	e.check(want)
	e.checkPosts(len(want), lost)
}

// TestReplicasReloadJobs: two replicas share 4 jobs; a job file is added and another removed, then
// both get SIGHUP. One replica takes the new job and its target converges with one create per user;
// the removed job ends up held by nobody and its target receives nothing more, while the remaining
// jobs provision the users who come into scope afterwards.
func TestReplicasReloadJobs(t *testing.T) {
	e := newJobsEnv(t, jobsOptions{jobs: 4, tenant: graphapi.SampleTenant(), ttl: jobsTTL, claim: jobsClaim, concurrency: 2})
	budget := 90 * time.Second // bounds a hung test; nothing is timed against it
	want := e.expected()
	a, b := e.start(), e.start()
	a.until("4 jobs converged on two replicas, two each", budget, func() bool {
		return e.converged(want) && e.linked(want) && e.spread(a, b)
	})

	removed := e.targets["j00"]
	e.addJob("j04")
	e.removeJob("j00")
	for _, p := range []*daemonProc{a, b} {
		p.signal(syscall.SIGHUP)
	}
	for _, p := range []*daemonProc{a, b} {
		p.until("the reload", budget, func() bool { return strings.Contains(p.logs.String(), `"added":["j04"],"removed":["j00"]`) })
	}
	a.until("j04 converged, j00 held by nobody and the jobs spread again", budget, func() bool {
		h, err := e.db.Holders(context.Background(), []string{"j00"})
		if err != nil {
			t.Fatal(err)
		}
		_, held := h["j00"]
		return !held && e.converged(want) && e.linked(want) && e.spread(a, b)
	})
	e.checkPosts(len(want), nil)

	gone := removed.posts.Load()
	e.addToScope(3)
	want = e.expected()
	a.until("the remaining jobs provision the users who came into scope", budget, func() bool {
		return e.converged(want) && e.linked(want)
	})
	if n := removed.posts.Load(); n != gone {
		t.Errorf("the removed job's target received %d user creates after its file was removed", n-gone)
	}
	e.checkPosts(len(want), nil)
	a.stop()
	b.stop()
	e.check(want)
}
