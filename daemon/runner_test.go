package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// fakeSched is a Scheduler the test fires by hand.
type fakeSched struct {
	mu    sync.Mutex
	fires map[string]func()
	adds  map[string]int
}

func newFakeSched() *fakeSched { return &fakeSched{fires: map[string]func(){}, adds: map[string]int{}} }

func (f *fakeSched) Add(name string, _ cron.Schedule, fire func()) (func(), func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fires[name] = fire
	f.adds[name]++
	return func() {}, func() time.Time { return time.Time{} }
}

// tick fires the job's schedule; it returns once the runner's loop took the tick.
func (f *fakeSched) tick(t *testing.T, name string) {
	t.Helper()
	f.mu.Lock()
	fire := f.fires[name]
	f.mu.Unlock()
	if fire == nil {
		t.Fatalf("job %q was never scheduled", name)
	}
	fire()
}

type event struct {
	job, what string
	// cancelled is whether the cycle's context was cancelled when it ended.
	cancelled bool
}

// blocker is a Cycler that runs until released or cancelled, reporting both; inside counts the
// cycles in Cycle at once, max the most ever seen.
type blocker struct {
	name    string
	ev      chan<- event
	release chan error
	inside  *atomic.Int32
	max     *atomic.Int32
}

func (b *blocker) Cycle(ctx context.Context) error {
	if b.inside != nil {
		n := b.inside.Add(1)
		for m := b.max.Load(); n > m && !b.max.CompareAndSwap(m, n); m = b.max.Load() {
		}
		defer b.inside.Add(-1)
	}
	b.ev <- event{job: b.name, what: "start"}
	select {
	case err := <-b.release:
		b.ev <- event{job: b.name, what: "end", cancelled: ctx.Err() != nil}
		return err
	case <-ctx.Done():
		b.ev <- event{job: b.name, what: "cancel", cancelled: true}
		return ctx.Err()
	}
}

type harness struct {
	t       *testing.T
	ev      chan event
	sched   *fakeSched
	claims  chan time.Time
	cyclers map[string]*blocker
	r       *Runner
	inside  atomic.Int32
	max     atomic.Int32
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, ev: make(chan event, 100), sched: newFakeSched(), claims: make(chan time.Time),
		cyclers: map[string]*blocker{}}
}

// job returns a job whose cycle blocks until released; version names its configuration.
func (h *harness) job(name, version string) Job {
	b := &blocker{name: name, ev: h.ev, release: make(chan error), inside: &h.inside, max: &h.max}
	h.cyclers[name+"@"+version] = b
	return Job{Name: name, Schedule: "@every 40m", Version: version, Cycler: b}
}

// again is the same job as before (the same Cycler): what a reload builds from an unchanged file.
func (h *harness) again(name, version string) Job {
	return Job{Name: name, Schedule: "@every 40m", Version: version, Cycler: h.cyclers[name+"@"+version]}
}

func (h *harness) start(jobs []Job, o Options) {
	h.t.Helper()
	o.Scheduler = h.sched
	o.Ticker = func(time.Duration) (<-chan time.Time, func()) { return h.claims, func() {} }
	r, err := New(jobs, o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.r = r
	r.Start(context.Background())
	h.t.Cleanup(func() {
		r.Stop()
		<-r.DoneCh
	})
}

// next waits for the next event; a runner that stalls makes the test time out rather than pass.
func (h *harness) next() event {
	h.t.Helper()
	return <-h.ev
}

// expect reads len(want) events and compares them as a set (cycles of different jobs interleave).
func (h *harness) expect(want ...event) {
	h.t.Helper()
	var got []event
	for range want {
		got = append(got, h.next())
	}
	for _, w := range want {
		i := slices.Index(got, w)
		if i < 0 {
			h.t.Fatalf("events %v lack %v", got, w)
		}
		got = slices.Delete(got, i, i+1)
	}
}

func (h *harness) release(key string, err error) { h.cyclers[key].release <- err }

// stop stops the runner and returns the events left, so a test can say nothing else started.
func (h *harness) stop() []event {
	h.r.Stop()
	<-h.r.DoneCh
	var rest []event
	for {
		select {
		case e := <-h.ev:
			rest = append(rest, e)
		default:
			return rest
		}
	}
}

func TestStartRunsEveryJobThenOnTicks(t *testing.T) {
	h := newHarness(t)
	h.start([]Job{h.job("a", "1"), h.job("b", "1")}, Options{})
	h.expect(event{job: "a", what: "start"}, event{job: "b", what: "start"})
	h.release("a@1", nil)
	h.expect(event{job: "a", what: "end"})
	h.sched.tick(t, "a")
	h.expect(event{job: "a", what: "start"})
	h.release("a@1", nil)
	h.expect(event{job: "a", what: "end"})
	// stop cancels b's cycle and waits for it
	rest := h.stop()
	if !slices.Equal(rest, []event{{job: "b", what: "cancel", cancelled: true}}) {
		t.Fatalf("after stop: %v", rest)
	}
	if got := h.r.Jobs(); len(got) != 2 || got[0].Name != "a" || got[0].Cycles != 2 {
		t.Fatalf("jobs: %+v", got)
	}
}

// TestTickDuringCycleQueuesOne: three ticks while a cycle runs give one more cycle, not three.
func TestTickDuringCycleQueuesOne(t *testing.T) {
	h := newHarness(t)
	h.start([]Job{h.job("a", "1")}, Options{})
	h.expect(event{job: "a", what: "start"})
	for range 3 {
		h.sched.tick(t, "a")
	}
	h.release("a@1", nil)
	h.expect(event{job: "a", what: "end"}, event{job: "a", what: "start"})
	h.release("a@1", nil)
	h.expect(event{job: "a", what: "end"})
	if rest := h.stop(); len(rest) != 0 {
		t.Fatalf("more cycles than ticks allow: %v", rest)
	}
}

// TestConcurrencyLimit: five jobs, two slots: never more than two cycles at once, and every job runs.
func TestConcurrencyLimit(t *testing.T) {
	h := newHarness(t)
	names := []string{"a", "b", "c", "d", "e"}
	var jobs []Job
	for _, n := range names {
		jobs = append(jobs, h.job(n, "1"))
	}
	h.start(jobs, Options{MaxConcurrent: 2})
	ran := map[string]bool{}
	live := []string{}
	for len(ran) < len(names) {
		e := h.next()
		if e.what != "start" {
			continue
		}
		ran[e.job] = true
		live = append(live, e.job)
		if len(live) == 2 || len(ran) == len(names) {
			h.release(live[0]+"@1", nil)
			live = live[1:]
		}
	}
	for _, n := range live {
		h.release(n+"@1", nil)
	}
	h.stop()
	if m := h.max.Load(); m != 2 {
		t.Fatalf("at most %d cycles ran at once, want 2", m)
	}
}

// TestFailingJobDoesNotDelayAnother: a stuck job holds one slot and a failing one keeps its
// schedule; the other job's ticks all run.
func TestFailingJobDoesNotDelayAnother(t *testing.T) {
	h := newHarness(t)
	h.start([]Job{h.job("stuck", "1"), h.job("failing", "1"), h.job("fine", "1")}, Options{MaxConcurrent: 3})
	h.expect(event{job: "stuck", what: "start"}, event{job: "failing", what: "start"}, event{job: "fine", what: "start"})
	boom := errors.New("target unreachable")
	for range 3 {
		h.release("failing@1", boom)
		h.release("fine@1", nil)
		h.expect(event{job: "failing", what: "end"}, event{job: "fine", what: "end"})
		h.sched.tick(t, "failing")
		h.sched.tick(t, "fine")
		h.expect(event{job: "failing", what: "start"}, event{job: "fine", what: "start"})
	}
	h.release("failing@1", boom)
	h.expect(event{job: "failing", what: "end"})
	// the next cycle of a job starts only once the loop recorded the end of the last one
	h.sched.tick(t, "failing")
	h.expect(event{job: "failing", what: "start"})
	for _, s := range h.r.Jobs() {
		switch s.Name {
		case "failing":
			if !errors.Is(s.LastErr, boom) || s.Cycles != 4 {
				t.Errorf("failing: %+v", s)
			}
		case "stuck":
			if !s.Running || s.Cycles != 0 {
				t.Errorf("stuck: %+v", s)
			}
		}
	}
}

// TestReload: an unchanged job keeps its running cycle, a changed one finishes its cycle with the
// old configuration and runs the new one next, a removed one is cancelled, a new one starts at once.
func TestReload(t *testing.T) {
	h := newHarness(t)
	h.start([]Job{h.job("same", "1"), h.job("changed", "1"), h.job("gone", "1"), h.job("resched", "1")}, Options{})
	h.expect(event{job: "same", what: "start"}, event{job: "changed", what: "start"},
		event{job: "gone", what: "start"}, event{job: "resched", what: "start"})
	resched := h.again("resched", "1")
	resched.Schedule = "*/5 * * * *" // the schedule alone changes
	if err := h.r.Reload([]Job{h.again("same", "1"), h.job("changed", "2"), h.job("new", "1"), resched}); err != nil {
		t.Fatal(err)
	}
	h.expect(event{job: "gone", what: "cancel", cancelled: true}, event{job: "new", what: "start"})
	h.release("same@1", nil)
	h.release("changed@1", nil)
	h.expect(event{job: "same", what: "end"}, event{job: "changed", what: "end"})
	h.sched.tick(t, "changed")
	h.release("changed@2", nil) // only the new configuration's cycler can take this
	h.expect(event{job: "changed", what: "start"}, event{job: "changed", what: "end"})
	if n := h.sched.adds["resched"]; n != 2 {
		t.Errorf("a changed schedule was added %d times, want 2", n)
	}
	if n := h.sched.adds["same"]; n != 1 {
		t.Errorf("an unchanged job was scheduled %d times, want 1", n)
	}
	var names []string
	for _, s := range h.r.Jobs() {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"changed", "new", "resched", "same"}) {
		t.Errorf("jobs after reload: %v", names)
	}
}

func TestReloadRefusesBadListAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.start([]Job{h.job("a", "1")}, Options{})
	h.expect(event{job: "a", what: "start"})
	bad := h.job("b", "1")
	bad.Schedule = "every tuesday"
	for _, jobs := range [][]Job{{h.again("a", "1"), h.job("a", "2")}, {bad}, {{Name: "", Schedule: "@daily", Cycler: bad.Cycler}}} {
		if err := h.r.Reload(jobs); !errors.Is(err, ErrConfig) {
			t.Errorf("Reload(%v) = %v, want ErrConfig", jobs, err)
		}
	}
	if got := h.r.Jobs(); len(got) != 1 || !got[0].Running {
		t.Fatalf("a refused reload changed the jobs: %+v", got)
	}
	if _, err := New([]Job{bad}, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a bad schedule: %v", err)
	}
}

// fakeClaimer answers with the jobs the test sets, or an error, and counts calls.
type fakeClaimer struct {
	mu    sync.Mutex
	mine  []string
	err   error
	calls int
}

func (f *fakeClaimer) Claim(_ context.Context, jobs []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []string
	for _, j := range f.mine {
		if slices.Contains(jobs, j) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (f *fakeClaimer) set(mine []string, err error) {
	f.mu.Lock()
	f.mine, f.err = mine, err
	f.mu.Unlock()
}

// TestClaim: only the jobs the Claimer gives run; a job taken away is cancelled mid-cycle, a job
// given is run at once; a failed Claim starts nothing and is reported.
func TestClaim(t *testing.T) {
	h := newHarness(t)
	c := &fakeClaimer{mine: []string{"a"}}
	h.start([]Job{h.job("a", "1"), h.job("b", "1")}, Options{Claimer: c})
	h.expect(event{job: "a", what: "start"})
	h.sched.tick(t, "b") // not ours: nothing runs
	c.set([]string{"b"}, nil)
	h.claims <- time.Time{}
	h.expect(event{job: "a", what: "cancel", cancelled: true}, event{job: "b", what: "start"})
	h.release("b@1", nil)
	h.expect(event{job: "b", what: "end"})

	down := errors.New("database unreachable")
	c.set([]string{"a", "b"}, down)
	h.sched.tick(t, "b")
	var ce *ClaimError
	if err := <-h.r.ErrCh; !errors.Is(err, down) || !errors.As(err, &ce) {
		t.Fatalf("ErrCh: %v", err)
	}
	c.set([]string{"a", "b"}, nil)
	h.claims <- time.Time{}
	h.expect(event{job: "a", what: "start"}, event{job: "b", what: "start"})
	h.release("a@1", nil)
	h.release("b@1", nil)
	h.expect(event{job: "a", what: "end"}, event{job: "b", what: "end"})
	if rest := h.stop(); len(rest) != 0 {
		t.Fatalf("unexpected cycles: %v", rest)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// asked at start, on the tick of b, on the claim tick, on the failed tick of b and on the last claim
	// tick: before every scheduling pass (a cycle's end may add one more, when something waits)
	if c.calls < 5 {
		t.Errorf("Claim was called %d times, want at least 5", c.calls)
	}
}

func TestEverythingClaimsAll(t *testing.T) {
	got, err := Everything{}.Claim(context.Background(), []string{"a", "b"})
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Everything.Claim = %v, %v", got, err)
	}
}

// blockingClaimer blocks in Claim until released, after saying it entered.
type blockingClaimer struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingClaimer) Claim(ctx context.Context, jobs []string) ([]string, error) {
	b.entered <- struct{}{}
	<-b.release
	return jobs, nil
}

// TestPingAndHealth: Ping answers while the loop is free and not while it is stuck in a Claim;
// Healthy reports a failed Claim until one succeeds.
func TestPingAndHealth(t *testing.T) {
	h := newHarness(t)
	c := &blockingClaimer{entered: make(chan struct{}), release: make(chan struct{})}
	h.start([]Job{h.job("a", "1")}, Options{Claimer: c})
	<-c.entered // the loop is in the first Claim
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.r.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping while the loop is stuck = %v, want context.Canceled", err)
	}
	c.release <- struct{}{}
	h.expect(event{job: "a", what: "start"})
	if err := h.r.Ping(context.Background()); err != nil {
		t.Fatalf("Ping of a free loop: %v", err)
	}
	if err := h.r.Healthy(); err != nil {
		t.Fatalf("Healthy after a good Claim: %v", err)
	}

	f := &fakeClaimer{err: errors.New("database unreachable")}
	h2 := newHarness(t)
	h2.start([]Job{h2.job("b", "1")}, Options{Claimer: f})
	<-h2.r.ErrCh
	var ce *ClaimError
	if err := h2.r.Healthy(); !errors.As(err, &ce) {
		t.Fatalf("Healthy after a failed Claim = %v", err)
	}
	f.set([]string{"b"}, nil)
	h2.claims <- time.Time{}
	h2.expect(event{job: "b", what: "start"})
	if err := h2.r.Healthy(); err != nil {
		t.Fatalf("Healthy after a good Claim again: %v", err)
	}
}
