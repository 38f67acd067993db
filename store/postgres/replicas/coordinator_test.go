package replicas

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/internal/testenv/pgserver"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
)

var srv *pgserver.Server

func TestMain(m *testing.M) {
	var err error
	srv, err = pgserver.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = srv.Stop()
	os.Exit(code)
}

// newDB is a fresh database, so each test has its own replicas and leases.
func newDB(t *testing.T) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Connect(ctx, postgres.Config{URL: srv.URL(name), Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

type cluster struct {
	t     *testing.T
	db    *postgres.DB
	jobs  []string
	coord map[string]*Coordinator
	mine  map[string][]string // what each Claim returned last
}

func newCluster(t *testing.T, ttl time.Duration, ids ...string) *cluster {
	c := &cluster{t: t, db: newDB(t), jobs: jobsN(10), coord: map[string]*Coordinator{}, mine: map[string][]string{}}
	for _, id := range ids {
		co, err := New(c.db, Options{ID: id, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		c.coord[id] = co
	}
	return c
}

// claim runs one claim of each replica named, then checks that no job has two owners: neither two
// Claim results nor two good holds (Hold, which a cycle would run under) name the same job.
func (c *cluster) claim(ids ...string) {
	c.t.Helper()
	for _, id := range ids {
		mine, err := c.coord[id].Claim(context.Background(), c.jobs)
		if err != nil {
			c.t.Fatalf("%s claims: %v", id, err)
		}
		c.mine[id] = mine
		c.checkOneOwner()
	}
}

func (c *cluster) checkOneOwner() {
	c.t.Helper()
	for _, job := range c.jobs {
		var owners []string
		for id, co := range c.coord {
			if co.Hold(job) != nil {
				owners = append(owners, id)
			}
		}
		if len(owners) > 1 {
			c.t.Fatalf("job %s has %d owners: %v", job, len(owners), owners)
		}
	}
}

// spread is how many jobs each replica named owns by its last Claim, sorted descending, after
// checking that the Claim results cover every job exactly once and agree with the lease rows.
func (c *cluster) spread(ids ...string) []int {
	c.t.Helper()
	seen := map[string]string{}
	var out []int
	for _, id := range ids {
		for _, j := range c.mine[id] {
			if seen[j] != "" {
				c.t.Fatalf("job %s claimed by %s and %s", j, seen[j], id)
			}
			seen[j] = id
		}
		out = append(out, len(c.mine[id]))
	}
	holders, err := c.db.Holders(context.Background(), c.jobs)
	if err != nil {
		c.t.Fatal(err)
	}
	for j, h := range seen {
		if holders[j] != h {
			c.t.Errorf("job %s: claimed by %s, the lease row says %q", j, h, holders[j])
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// settle claims in rounds until the spread is want and every job owned, within a bounded number of
// rounds (three suffice: heartbeat, release, take; the rest is slack).
func (c *cluster) settle(want []int, ids ...string) {
	c.t.Helper()
	for round := 0; round < 8; round++ {
		c.claim(ids...)
		if got := c.spread(ids...); slices.Equal(got, want) && sum(got) == len(c.jobs) {
			return
		}
	}
	c.t.Fatalf("after 8 rounds the spread of %v is %v, want %v", ids, c.spread(ids...), want)
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestCoordinatorsSpread(t *testing.T) {
	t.Run("two", func(t *testing.T) {
		c := newCluster(t, time.Hour, "a", "b")
		c.settle([]int{5, 5}, "a", "b")
	})
	t.Run("three", func(t *testing.T) {
		c := newCluster(t, time.Hour, "a", "b", "c")
		c.settle([]int{4, 3, 3}, "a", "b", "c")
	})
	t.Run("alone", func(t *testing.T) {
		c := newCluster(t, time.Hour, "a")
		c.claim("a")
		if got := c.spread("a"); !slices.Equal(got, []int{10}) {
			t.Fatalf("alone: %v", got)
		}
	})
}

// TestCoordinatorFailover: a replica that stops heartbeating (paused, partitioned) loses its jobs to
// the others once its leases expire, and while it is away no job has two owners, the silent one
// included (its holds lapse by their local deadline before the database lets anyone take over). When
// it comes back it gets its share again, still never beside another owner. Real time, short ttl:
// rounds are paced by the claim interval, and the checks wait for states, bounded by rounds.
func TestCoordinatorFailover(t *testing.T) {
	ttl := 1500 * time.Millisecond
	c := newCluster(t, ttl, "a", "b", "c")
	c.settle([]int{4, 3, 3}, "a", "b", "c")
	gone := slices.Clone(c.mine["c"])

	tookOver := func() bool {
		return c.spread("a", "b")[0] == 5 && sum(c.spread("a", "b")) == 10
	}
	for round := 0; !tookOver(); round++ {
		if round > 60 { // 60 intervals = 20 ttls
			t.Fatalf("a and b never took c's jobs %v over: %v / %v", gone, c.mine["a"], c.mine["b"])
		}
		time.Sleep(c.coord["a"].Interval())
		c.claim("a", "b")
	}
	for _, j := range gone {
		if c.coord["c"].Hold(j) != nil {
			t.Errorf("c still holds %s after the takeover", j)
		}
	}

	// c comes back: its first claim finds its leases gone, then it gets its share back.
	c.settle([]int{4, 3, 3}, "a", "b", "c")
}

// TestCoordinatorLostLease: a job taken over behind a replica's back (its lease row changed) closes
// the replica's Hold.Lost at its next claim, and the state it opened with the hold cannot write.
func TestCoordinatorLostLease(t *testing.T) {
	c := newCluster(t, time.Hour, "a")
	c.claim("a")
	job := c.mine["a"][0]
	h := c.coord["a"].Hold(job)
	st, err := c.db.OpenHeld(h)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetWatermark("users", "w1"); err != nil {
		t.Fatalf("write under the coordinator's lease: %v", err)
	}
	// An operator forces another holder in (as a takeover after expiry would).
	if _, err := c.db.Acquire(context.Background(), job, "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.SetWatermark("users", "w2"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("write after the takeover: %v, want ErrLeaseLost", err)
	}
	c.claim("a")
	select {
	case <-h.Lost():
	default:
		t.Fatal("the claim after the takeover did not close Lost")
	}
	// The replica holds the job again, under a new token: it re-acquired its own row.
	if nh := c.coord["a"].Hold(job); nh == nil || nh.Lease().Token <= h.Lease().Token {
		t.Errorf("after the takeover: hold %v", nh)
	}
}

// TestCoordinatorStopAndRemovedJobs: Stop hands every job on at once (no ttl to wait), and a job
// dropped from the list is released and its cycle told to stop.
func TestCoordinatorStopAndRemovedJobs(t *testing.T) {
	c := newCluster(t, time.Hour, "a", "b")
	c.settle([]int{5, 5}, "a", "b")
	dropped := c.mine["a"][0]
	h := c.coord["a"].Hold(dropped)
	c.jobs = slices.DeleteFunc(slices.Clone(c.jobs), func(j string) bool { return j == dropped })
	c.claim("a")
	select {
	case <-h.Lost():
	default:
		t.Error("a job dropped from the list kept its cycle going")
	}
	if slices.Contains(c.mine["a"], dropped) {
		t.Errorf("a still owns the dropped %s", dropped)
	}
	if err := c.coord["a"].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.claim("b")
	if got := c.spread("b"); !slices.Equal(got, []int{9}) {
		t.Errorf("b after a stopped: owns %v of 9", got)
	}
}

// TestHoldLapses: a hold nobody renews tells its cycle to stop by itself (Lost, Check) before the
// lease expires in the database.
func TestHoldLapses(t *testing.T) {
	db := newDB(t)
	h, err := db.AcquireHold(context.Background(), "j", "a", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Check(); err != nil {
		t.Fatalf("fresh hold: %v", err)
	}
	select {
	case <-h.Lost():
	case <-time.After(time.Minute):
		t.Fatal("an unrenewed hold never lapsed")
	}
	if err := h.Check(); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Check after the deadline: %v", err)
	}
	if err := h.Renew(context.Background()); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Renew after the deadline: %v", err)
	}
}

func TestCoordinatorErrors(t *testing.T) {
	db := newDB(t)
	if _, err := New(db, Options{TTL: -time.Second}); err == nil {
		t.Error("negative ttl accepted")
	}
	co, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if co.TTL() != DefaultTTL || !strings.Contains(co.ID(), "/") {
		t.Errorf("defaults: ttl %s id %q", co.TTL(), co.ID())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := co.Claim(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("claim with a cancelled context: %v", err)
	}
}

// TestCoordinatorRebalanceSparesRunningCycles: a replica giving back its surplus gives idle jobs; the
// jobs whose cycles run stay until the cycles end, then the spread settles.
func TestCoordinatorRebalanceSparesRunningCycles(t *testing.T) {
	c := newCluster(t, time.Hour, "a", "b")
	c.claim("a")
	if got := c.spread("a"); !slices.Equal(got, []int{10}) {
		t.Fatalf("a alone: %v", got)
	}
	running := map[string]*postgres.State{}
	for _, job := range c.mine["a"][:7] {
		st, err := c.db.OpenHeld(c.coord["a"].Hold(job))
		if err != nil {
			t.Fatal(err)
		}
		running[job] = st
	}
	for range 3 {
		c.claim("b", "a")
	}
	if got := c.spread("a", "b"); !slices.Equal(got, []int{7, 3}) {
		t.Fatalf("with 7 cycles running on a: spread %v, want 7/3", got)
	}
	for job, st := range running {
		if !slices.Contains(c.mine["a"], job) {
			t.Errorf("a gave away %s while its cycle ran", job)
		}
		if err := st.SetWatermark("users", "still mine"); err != nil {
			t.Errorf("the running cycle of %s: %v", job, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	c.settle([]int{5, 5}, "a", "b")
}

// TestCoordinatorYields: a job a command asked for is given up once its cycle ends, taken by no
// replica while the request stands, and taken again once it is withdrawn.
func TestCoordinatorYields(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, time.Hour, "a", "b")
	c.settle([]int{5, 5}, "a", "b")
	job := c.mine["a"][0]
	st, err := c.db.OpenHeld(c.coord["a"].Hold(job)) // a cycle of the job runs
	if err != nil {
		t.Fatal(err)
	}
	if err := c.db.AskYield(ctx, job, "operator", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.claim("a", "b")
	if !slices.Contains(c.mine["a"], job) {
		t.Fatal("a gave the job up while its cycle ran")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.claim("a", "b")
		if slices.Contains(c.mine["a"], job) || slices.Contains(c.mine["b"], job) {
			t.Fatalf("job %s is owned while a command asked for it: a %v, b %v", job, c.mine["a"], c.mine["b"])
		}
	}
	l, err := c.db.Acquire(ctx, job, "operator", time.Hour)
	if err != nil {
		t.Fatalf("the command takes the yielded job: %v", err)
	}
	if err := c.db.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := c.db.EndYield(ctx, job, "operator"); err != nil {
		t.Fatal(err)
	}
	c.settle([]int{5, 5}, "a", "b")
	if live, err := c.db.IsLiveReplica(ctx, "a", time.Hour); err != nil || !live {
		t.Errorf("a is live: %v %v", live, err)
	}
	if live, err := c.db.IsLiveReplica(ctx, "operator", time.Hour); err != nil || live {
		t.Errorf("operator is a replica: %v %v", live, err)
	}
}
