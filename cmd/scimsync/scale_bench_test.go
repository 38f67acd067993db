//go:build linux || darwin

package main

// Scale benchmarks, run by `make bench` with -benchtime 1x. They drive the real job wiring
// (loadConfig, openJob, job.cycle) against the emulated Graph and a SCIM target on loopback, and
// PRINT throughput, request counts and memory beside a raw load client's rate; nothing here asserts a
// speed (the project's rule: targets live in printed figures, not in timed tests).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/internal/procstatus"
	"github.com/scimsync/scimsync/internal/testenv/scimmy"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/sync/engine"
)

const (
	// scaleConcurrency is the target concurrency of both scimsync and the raw load client, so the
	// two rates compare like for like.
	scaleConcurrency = 4
	// scaleGraphPageSize is Graph's page size for users delta, so the read phase pays the real
	// number of round trips.
	scaleGraphPageSize = 200
	scaleToken         = "scale-bench-token"
	// scaleMemberBatch is groups.memberBatchSize (members per PATCH), the config default.
	scaleMemberBatch = 100
)

// Target kinds of the scale benchmarks.
const (
	kindGo     = "scimserver"
	kindSCIMMY = "scimmy"
)

// scaleTarget is one SCIM target instance with a server-side request counter, so the figures count
// what the target really received rather than what the client believes it sent.
type scaleTarget struct {
	kind   string
	url    string
	token  string
	compat string // target.compatibility for the job
	// requests returns the SCIM requests the server has handled so far.
	requests func() int64
	// endpoints returns the same count per method and route ("POST /Users", "PATCH /Groups/{id}").
	endpoints func() map[string]int64
	close     func()
}

// startScaleTarget starts a fresh target of the given kind. SCIMMY is started directly (not with
// SCIMMYForTest) so that a benchmark running several iterations stops each node process right away.
func startScaleTarget(b *testing.B, kind string) *scaleTarget {
	b.Helper()
	switch kind {
	case kindGo:
		srv := scimserver.New(scimserver.Options{Token: scaleToken})
		url := srv.Start()
		return &scaleTarget{kind: kind, url: url, token: scaleToken, compat: "default",
			requests: srv.TotalRequests, endpoints: srv.Requests, close: srv.Close}
	case kindSCIMMY:
		sc, err := scimmy.Start(context.Background(), scimmy.Options{})
		if err != nil {
			b.Fatalf("SCIMMY unavailable (needs node >= 18; `make scimmy-deps`): %v", err)
		}
		stats := func() scimmy.Stats {
			st, err := sc.Stats(context.Background())
			if err != nil {
				b.Fatalf("SCIMMY stats: %v", err)
			}
			return st
		}
		return &scaleTarget{kind: kind, url: sc.URL(), token: sc.Token(), compat: "strict",
			requests: func() int64 { return int64(stats().Total) },
			endpoints: func() map[string]int64 {
				out := map[string]int64{}
				for k, v := range stats().ByEndpoint {
					out[k] = int64(v)
				}
				return out
			},
			close: func() {
				if err := sc.Close(); err != nil {
					b.Logf("stopping SCIMMY: %v", err)
				}
			}}
	}
	b.Fatalf("unknown target kind %q", kind)
	return nil
}

// applyClock is the engine's Progress hook, used to time the apply phases alone (users, then groups):
// the engine reports only a whole-cycle duration, and the apply phase is what the raw write rate
// compares with.
type applyClock struct {
	mu     sync.Mutex
	phases map[string]*phaseSpan
	cur    *phaseSpan
}

// phaseSpan is one apply phase: when it started and when its last object was done.
type phaseSpan struct {
	start, last time.Time
	total, done int
}

func (c *applyClock) reset() {
	c.mu.Lock()
	c.phases, c.cur = map[string]*phaseSpan{}, nil
	c.mu.Unlock()
}

func (c *applyClock) Start(phase string, total int) {
	c.mu.Lock()
	if c.phases == nil {
		c.phases = map[string]*phaseSpan{}
	}
	c.cur = &phaseSpan{start: time.Now(), total: total}
	c.phases[phase] = c.cur
	c.mu.Unlock()
}

func (c *applyClock) Done(n int) {
	c.mu.Lock()
	if c.cur != nil {
		c.cur.done += n
		c.cur.last = time.Now()
	}
	c.mu.Unlock()
}

// span returns when the apply phase whose name contains kind ("user", "group") started and how long
// it ran (zero when it had no work or did not run).
func (c *applyClock) span(kind string) (time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.phases {
		if strings.Contains(name, kind) {
			if p.last.IsZero() {
				return p.start, 0
			}
			return p.start, p.last.Sub(p.start)
		}
	}
	return time.Time{}, 0
}

// scaleJob is an emulated Graph tenant and a job wired through the real config path (YAML, loadConfig,
// openJob), so the benchmark measures exactly what `scimsync sync` runs.
type scaleJob struct {
	graph     *graphapi.Server
	job       *job.Job
	clock     *applyClock
	statePath string
}

// newScaleJob starts the emulated Graph for tenant and opens a job that syncs every user (scope all,
// Gong preset, groups off) into tgt at scaleConcurrency with no rate limit.
func newScaleJob(b *testing.B, tenant *graphapi.Tenant, tgt *scaleTarget) *scaleJob {
	b.Helper()
	g := graphapi.NewServer(tenant, graphapi.Options{PageSize: scaleGraphPageSize})
	g.Start()
	return openScaleJob(b, g, tenant, tgt, b.TempDir(), false)
}

// openScaleJob writes the job YAML into dir and opens the job on an already running emulated Graph,
// so a second job with groups switched on can continue from the first one's state file.
func openScaleJob(b *testing.B, g *graphapi.Server, tenant *graphapi.Tenant, tgt *scaleTarget, dir string, groups bool) *scaleJob {
	b.Helper()
	ca := filepath.Join(dir, "ca.pem")
	if err := g.WriteCA(ca); err != nil {
		b.Fatal(err)
	}
	write := func(name, content string) string { return writeBenchFile(b, dir, name, content) }
	secret := write("graph-secret", "scale-secret\n")
	token := write("target-token", tgt.token+"\n")
	name := "job.yaml"
	if groups {
		name = "job-groups.yaml"
	}
	cfgPath := write(name, fmt.Sprintf(`name: scale
%starget:
  url: %s
  tokenFile: %s
  compatibility: %s
  concurrency: %d
  requestsPerSecond: 0
scope: all
users:
  preset: gong
groups:
  enabled: %t
  memberBatchSize: %d
state: %s
logging: {level: warn, format: json}
`, emulatedSource(g, tenant.ServicePrincipal.ID, ca, "secretFile: "+secret),
		tgt.url, token, tgt.compat, scaleConcurrency, groups, scaleMemberBatch, filepath.Join(dir, "state.db")))
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		g.Close()
		b.Fatalf("load config: %v", err)
	}
	log, err := newLogger("warn", "json")
	if err != nil {
		log = zap.NewNop()
	}
	clock := &applyClock{}
	j, err := openJob(cfg, log, clock)
	if err != nil {
		g.Close()
		b.Fatalf("open job: %v", err)
	}
	return &scaleJob{graph: g, job: j, clock: clock, statePath: filepath.Join(dir, "state.db")}
}

func (s *scaleJob) close() {
	s.graph.Close()
}

// cycleFigures is what one measured cycle cost.
type cycleFigures struct {
	rep         *engine.Report
	wall        time.Duration // around job.cycle
	engine      time.Duration // the report's Finished - Started
	beforeApply time.Duration // read, scope, map, match and plan: cycle start to the first apply phase
	apply       time.Duration // users apply phase (first work item started to last one done)
	groupApply  time.Duration // groups apply phase
	cpu         time.Duration // process user+system CPU (includes the in-process emulators)
	requests    int64         // received by the target
	endpoints   map[string]int64
	clientReqs  int64 // attempts the client made, retries included
}

// runCycle runs one cycle, with the benchmark timer running during it when timed (setup cycles are
// not), and fails the benchmark on any failure, so that a broken run never prints a flattering rate.
func (s *scaleJob) runCycle(b *testing.B, tgt *scaleTarget, timed bool) cycleFigures {
	b.Helper()
	reqBefore := tgt.requests()
	epBefore := tgt.endpoints()
	clientBefore := s.job.Target().Stats()
	s.clock.reset()
	stopProfile := startCycleProfile(b)
	cpuBefore := cpuTime()
	if timed {
		b.StartTimer()
	}
	t0 := time.Now()
	rep, err := s.job.Cycle(context.Background(), false)
	wall := time.Since(t0)
	if timed {
		b.StopTimer()
	}
	cpu := cpuTime() - cpuBefore
	stopProfile()
	if err != nil {
		b.Fatalf("cycle: %v", err)
	}
	if n := rep.TotalFailed(); n > 0 {
		b.Fatalf("cycle: %d failures, first: %+v", n, rep.Failures[0])
	}
	userStart, apply := s.clock.span("user")
	groupStart, groupApply := s.clock.span("group")
	f := cycleFigures{rep: rep, wall: wall, engine: rep.Finished.Sub(rep.Started), apply: apply, groupApply: groupApply,
		cpu: cpu, requests: tgt.requests() - reqBefore, endpoints: tgt.endpoints(),
		clientReqs: s.job.Target().Stats().Requests - clientBefore.Requests}
	if first := userStart; !first.IsZero() || !groupStart.IsZero() {
		if first.IsZero() || (!groupStart.IsZero() && groupStart.Before(first)) {
			first = groupStart
		}
		f.beforeApply = first.Sub(t0)
	}
	for k, n := range epBefore {
		f.endpoints[k] -= n
	}
	return f
}

// cycleProfileEnv names a directory to write a CPU profile of each measured cycle alone into.
// go test -cpuprofile also covers tenant generation, emulator start-up and the raw load, which hide
// where a cycle spends its time; it cannot be combined with this variable (one CPU profile at a time).
const cycleProfileEnv = "SCIMSYNC_BENCH_CYCLE_PROFILE"

// startCycleProfile starts the per-cycle CPU profile when cycleProfileEnv is set and returns the
// function that stops it; the file is named after the benchmark, e.g.
// BenchmarkScaleInitialSync_target=scimserver.cpu.pprof.
func startCycleProfile(b *testing.B) func() {
	dir := os.Getenv(cycleProfileEnv)
	if dir == "" {
		return func() {}
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.Name())
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		b.Logf("%s: %v", cycleProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Logf("%s: %v", cycleProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// cpuTime returns the process's user+system CPU time; with two shared cores it tells whether a
// wall time was spent computing or waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memProbe samples the Go heap every 10 ms while a scenario runs, because HeapAlloc at the end says
// nothing about the peak a cycle reached; it also resets and reads the kernel's peak RSS (VmHWM).
type memProbe struct {
	stop       chan struct{}
	done       chan struct{}
	peakHeap   uint64
	baseHeap   uint64
	startTotal uint64
	hwmReset   bool
}

// memFigures is what a memProbe saw.
type memFigures struct {
	BaseHeap, PeakHeap, TotalAlloc uint64
	// PeakRSS is VmHWM in bytes after the scenario; RSSScoped tells whether it was reset before the
	// scenario (then it is the scenario's own peak) or is the process peak so far.
	PeakRSS   uint64
	RSSScoped bool
}

// startMemProbe collects garbage and returns freed memory to the OS first, so the baseline is the
// live heap and the reset VmHWM starts near the live RSS rather than at what earlier (bigger)
// scenarios left mapped; then it starts sampling.
func startMemProbe() *memProbe {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := &memProbe{stop: make(chan struct{}), done: make(chan struct{}), peakHeap: ms.HeapAlloc,
		baseHeap: ms.HeapAlloc, startTotal: ms.TotalAlloc}
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), which makes the peak
	// RSS this scenario's rather than that of whatever ran before in the same process.
	p.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(p.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				p.peakHeap = max(p.peakHeap, ms.HeapAlloc)
			}
		}
	}()
	return p
}

func (p *memProbe) finish() memFigures {
	close(p.stop)
	<-p.done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{BaseHeap: p.baseHeap, PeakHeap: max(p.peakHeap, ms.HeapAlloc),
		TotalAlloc: ms.TotalAlloc - p.startTotal, PeakRSS: vmHWM(), RSSScoped: p.hwmReset}
}

// vmHWM reads the process's peak resident set size from /proc (0 where there is no /proc).
func vmHWM() uint64 { return procstatus.Memory("self")["VmHWM"] }

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func (m memFigures) rssLabel() string {
	if m.RSSScoped {
		return "peak RSS during scenario (whole process: bench, emulated Graph, in-process target)"
	}
	return "process peak RSS after scenario (VmHWM could not be reset: includes everything before)"
}

func (m memFigures) print() {
	fmt.Printf("  %-44s %10.1f MiB\n", "Go heap live before (GC'd)", mib(m.BaseHeap))
	fmt.Printf("  %-44s %10.1f MiB\n", "Go heap peak (HeapAlloc sampled every 10 ms)", mib(m.PeakHeap))
	fmt.Printf("  %-44s %10.1f MiB\n", "Go allocated (TotalAlloc delta)", mib(m.TotalAlloc))
	fmt.Printf("  %-44s %10.1f MiB   (%s)\n", "peak RSS (VmHWM)", mib(m.PeakRSS), m.rssLabel())
}

func (m memFigures) report(b *testing.B) {
	b.ReportMetric(mib(m.PeakHeap), "peak-heap-MiB")
	b.ReportMetric(mib(m.TotalAlloc), "alloc-MiB")
	b.ReportMetric(mib(m.PeakRSS), "peak-RSS-MiB")
}

// counts formats a request count map compactly and in a stable order.
func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// rawFigures is what the raw load client reached.
type rawFigures struct {
	rawload.Result
	// cpu is the process CPU the load took; for the in-process target it includes the server's.
	cpu time.Duration
}

// rawRate measures the raw load client's create rate against a fresh target of the same kind at the
// same concurrency: the yardstick for how close scimsync's cycle gets to what the target can take.
func rawRate(b *testing.B, kind string, n int) rawFigures {
	b.Helper()
	tgt := startScaleTarget(b, kind)
	defer tgt.close()
	cpuBefore := cpuTime()
	res, err := rawload.Create(context.Background(), tgt.url, tgt.token, n, scaleConcurrency)
	if err != nil {
		b.Fatalf("raw load against %s: %v", kind, err)
	}
	return rawFigures{Result: res, cpu: cpuTime() - cpuBefore}
}

// BenchmarkScaleInitialSync syncs a 10,000-user tenant into an empty target and compares scimsync's
// users per second with the raw write rate of the same target type at the same concurrency.
func BenchmarkScaleInitialSync(b *testing.B) {
	const users = 10000
	tenant := graphapi.GenerateTenant(users, 1)
	for _, tc := range []struct {
		kind  string
		rawN  int // raw creates; fewer for SCIMMY to keep the run short
		label string
	}{
		{kindGo, 10000, "in-process Go target (scimserver)"},
		{kindSCIMMY, 3000, "SCIMMY (Node.js, third party)"},
	} {
		b.Run("target="+tc.kind, func(b *testing.B) {
			b.StopTimer()
			var sumCreated, sumReq int
			var sumWall, sumApply time.Duration
			var sumRaw float64
			for i := 0; i < b.N; i++ {
				tgt := startScaleTarget(b, tc.kind)
				sj := newScaleJob(b, tenant, tgt)
				probe := startMemProbe()
				f := sj.runCycle(b, tgt, true)
				mem := probe.finish()
				sj.close()
				tgt.close()
				raw := rawRate(b, tc.kind, tc.rawN)

				created := f.rep.Created + f.rep.Adopted
				if created == 0 {
					b.Fatalf("the initial cycle created nobody: %+v", f.rep)
				}
				applyRate := float64(created) / f.apply.Seconds()
				cycleRate := float64(created) / f.wall.Seconds()
				fmt.Printf("\n== initial sync of %d generated users into %s, concurrency %d, no rate limit ==\n",
					users, tc.label, scaleConcurrency)
				fmt.Printf("  %-44s %10d (created %d, adopted %d, skipped %d, unchanged %d, manager links %d)\n",
					"users read / provisioned", f.rep.Read, f.rep.Created, f.rep.Adopted, f.rep.Skipped, f.rep.Unchanged, f.rep.Linked)
				fmt.Printf("  %-44s %10.2f s  (read+map+match+plan %.2f s, apply users %.2f s, engine %.2f s, CPU %.2f s)\n",
					"cycle wall time", f.wall.Seconds(), f.beforeApply.Seconds(), f.apply.Seconds(), f.engine.Seconds(), f.cpu.Seconds())
				fmt.Printf("  %-44s %10.0f users/s\n", "scimsync, apply phase", applyRate)
				fmt.Printf("  %-44s %10.0f users/s\n", "scimsync, whole cycle", cycleRate)
				fmt.Printf("  %-44s %10.0f writes/s  (%d creates in %.2f s, fresh %s)\n", "raw load client, same target type",
					raw.PerSecond, raw.N, raw.Elapsed.Seconds(), tc.kind)
				fmt.Printf("  %-44s %9.0f %%  (apply) / %.0f %% (whole cycle); aim >= 90 %%\n", "scimsync / raw",
					100*applyRate/raw.PerSecond, 100*cycleRate/raw.PerSecond)
				fmt.Printf("  %-44s %10d  (%.2f per provisioned user; client attempts %d: %s)\n", "SCIM requests received by the target",
					f.requests, float64(f.requests)/float64(created), f.clientReqs, counts(f.endpoints))
				fmt.Printf("  %-44s %10.0f requests/s over the whole cycle (raw: %.0f)\n", "scimsync request rate",
					float64(f.requests)/f.wall.Seconds(), raw.PerSecond)
				fmt.Printf("  %-44s %10.3f ms per SCIM request (raw: %.3f ms per write)%s\n", "process CPU",
					ms(f.cpu)/float64(f.requests), ms(raw.cpu)/float64(raw.N), cpuNote(tc.kind))
				mem.print()
				if sf, err := readStateFigures(sj.statePath); err != nil {
					b.Logf("state figures: %v", err)
				} else {
					sf.print(created)
				}

				sumCreated += created
				sumReq += int(f.requests)
				sumWall += f.wall
				sumApply += f.apply
				sumRaw += raw.PerSecond
				if i == b.N-1 {
					n := float64(b.N)
					b.ReportMetric(float64(sumCreated)/sumApply.Seconds(), "users/s-apply")
					b.ReportMetric(float64(sumCreated)/sumWall.Seconds(), "users/s-cycle")
					b.ReportMetric(sumRaw/n, "raw-writes/s")
					b.ReportMetric(100*(float64(sumCreated)/sumApply.Seconds())/(sumRaw/n), "%-of-raw-apply")
					b.ReportMetric(100*(float64(sumCreated)/sumWall.Seconds())/(sumRaw/n), "%-of-raw-cycle")
					b.ReportMetric(float64(sumReq)/n, "requests")
					b.ReportMetric(float64(sumReq)/float64(sumCreated), "requests/user")
					mem.report(b)
				}
			}
		})
	}
}

// BenchmarkScaleIncremental measures incremental cycles after an initial sync (excluded from the
// figures): one with no change (aim: no request, well under a second) and ones with k changed job
// titles (aim: about k requests). 100,000 users run only without -short.
func BenchmarkScaleIncremental(b *testing.B) {
	for _, users := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			if users > 10000 && testing.Short() {
				b.Skip("100,000 users only without -short")
			}
			b.StopTimer()
			t0 := time.Now()
			tenant := graphapi.GenerateTenant(users, 1)
			var enabled []string
			for _, u := range tenant.Users {
				if u["accountEnabled"] == true {
					enabled = append(enabled, u["id"].(string))
				}
			}
			tgt := startScaleTarget(b, kindGo)
			defer tgt.close()
			sj := newScaleJob(b, tenant, tgt)
			defer sj.close()
			genTime := time.Since(t0)
			probe := startMemProbe()
			first := sj.runCycle(b, tgt, false)
			mem := probe.finish()
			fmt.Printf("\n== incremental cycles, %d generated users, in-process Go target (scimserver) ==\n", users)
			fmt.Printf("  setup (excluded): generate tenant + start emulators %.1f s; initial cycle %.1f s "+
				"(apply %.1f s, %.0f users/s; %d created, %d requests)\n",
				genTime.Seconds(), first.wall.Seconds(), first.apply.Seconds(),
				float64(first.rep.Created)/first.apply.Seconds(), first.rep.Created, first.requests)
			fmt.Printf("  memory of the initial cycle:\n")
			mem.print()
			fmt.Printf("  %-12s %10s %10s %12s %12s %12s %10s\n", "changes", "requests", "updated", "wall", "engine", "CPU", "peak heap")

			rev, next := 0, 0
			for _, k := range []int{0, 10, 100, 1000} {
				b.Run(fmt.Sprintf("changes=%d", k), func(b *testing.B) {
					b.StopTimer()
					var sumReq, sumUpd int64
					var sumWall, sumEng, sumCPU time.Duration
					var peak uint64
					for i := 0; i < b.N; i++ {
						rev++
						for c := 0; c < k; c++ {
							id := enabled[next%len(enabled)]
							next++
							if err := sj.graph.UpdateUser(id, map[string]any{"jobTitle": fmt.Sprintf("Scale Title %d", rev)}); err != nil {
								b.Fatal(err)
							}
						}
						probe := startMemProbe()
						f := sj.runCycle(b, tgt, true)
						m := probe.finish()
						if f.rep.Kind != "incremental" {
							b.Fatalf("cycle kind %q, want incremental", f.rep.Kind)
						}
						sumReq += f.requests
						sumUpd += int64(f.rep.Updated)
						sumWall += f.wall
						sumEng += f.engine
						sumCPU += f.cpu
						peak = max(peak, m.PeakHeap)
					}
					n := int64(b.N)
					fmt.Printf("  %-12d %10d %10d %10.1f ms %10.1f ms %10.1f ms %6.1f MiB   (mean of %d)\n", k, sumReq/n, sumUpd/n,
						ms(sumWall/time.Duration(n)), ms(sumEng/time.Duration(n)), ms(sumCPU/time.Duration(n)), mib(peak), b.N)
					b.ReportMetric(float64(sumReq)/float64(n), "requests")
					if k > 0 {
						b.ReportMetric(float64(sumReq)/float64(n)/float64(k), "requests/change")
					}
					b.ReportMetric(float64(sumUpd)/float64(n), "updated")
					b.ReportMetric(ms(sumEng/time.Duration(n)), "engine-ms")
					b.ReportMetric(ms(sumWall/time.Duration(n)), "wall-ms")
					b.ReportMetric(mib(peak), "peak-heap-MiB")
				})
			}
		})
	}
}

// cpuNote says whose CPU the process figure holds, since the in-process target's work counts in it.
func cpuNote(kind string) string {
	if kind == kindGo {
		return "; both include the in-process target, the cycle also the emulated Graph"
	}
	return "; SCIMMY runs in node, outside these figures; the cycle includes the emulated Graph"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// groupTenant is the 10,000-user generated tenant with its groups replaced by nGroups groups of
// perGroup enabled users each (consecutive blocks of the enabled users, wrapping around), so every
// membership is one the engine must send. Its assignments are dropped: the job's scope is all.
func groupTenant(users, nGroups, perGroup int) *graphapi.Tenant {
	t := graphapi.GenerateTenant(users, 1)
	var enabled []string
	for _, u := range t.Users {
		if u["accountEnabled"] == true {
			enabled = append(enabled, u["id"].(string))
		}
	}
	t.Assignments = nil
	t.Groups = make([]graphapi.Group, nGroups)
	for g := range t.Groups {
		members := make([]string, perGroup)
		for j := range members {
			members[j] = enabled[(g*perGroup+j)%len(enabled)]
		}
		t.Groups[g] = graphapi.Group{ID: fmt.Sprintf("6a000000-0000-4000-8000-%012d", g),
			DisplayName: fmt.Sprintf("Scale Group %04d", g), SecurityEnabled: true, Members: members}
	}
	return t
}

// BenchmarkScaleGroupMemberships provisions 1,000 groups holding 100,000 memberships into the
// in-process Go target. The users are synced first by a job with groups off (setup, excluded); the
// measured cycle is the first one of the same job with groups on, so it holds the groups and their
// memberships only. The aim is about groups + memberships/memberBatchSize requests.
func BenchmarkScaleGroupMemberships(b *testing.B) {
	const users, nGroups, perGroup = 10000, 1000, 100
	b.StopTimer()
	tenant := groupTenant(users, nGroups, perGroup)
	var sumReq int64
	var sumWall time.Duration
	for i := 0; i < b.N; i++ {
		tgt := startScaleTarget(b, kindGo)
		g := graphapi.NewServer(tenant, graphapi.Options{PageSize: scaleGraphPageSize})
		g.Start()
		dir := b.TempDir()
		usersOnly := openScaleJob(b, g, tenant, tgt, dir, false)
		setup := usersOnly.runCycle(b, tgt, false)
		sj := openScaleJob(b, g, tenant, tgt, dir, true)
		probe := startMemProbe()
		f := sj.runCycle(b, tgt, true)
		mem := probe.finish()
		sj.close()
		tgt.close()
		raw := rawRate(b, kindGo, 10000)

		memberships := nGroups * perGroup
		aim := nGroups + (memberships+scaleMemberBatch-1)/scaleMemberBatch
		fmt.Printf("\n== %d groups holding %d memberships (%d users) into the in-process Go target (scimserver), "+
			"concurrency %d, memberBatchSize %d ==\n", nGroups, memberships, users, scaleConcurrency, scaleMemberBatch)
		fmt.Printf("  setup (excluded): users-only initial cycle %.1f s, %d users created\n", setup.wall.Seconds(), setup.rep.Created)
		fmt.Printf("  %-44s %10d created, %d adopted, %d members added (users: %d unchanged, %d updated)\n", "groups",
			f.rep.Groups.Created, f.rep.Groups.Adopted, f.rep.MembersAdded, f.rep.Unchanged, f.rep.Updated)
		fmt.Printf("  %-44s %10.2f s  (read+map+match+plan %.2f s, apply groups %.2f s, engine %.2f s, CPU %.2f s)\n",
			"cycle wall time", f.wall.Seconds(), f.beforeApply.Seconds(), f.groupApply.Seconds(), f.engine.Seconds(), f.cpu.Seconds())
		fmt.Printf("  %-44s %10d  (aim: groups + memberships/batch = %d; %s)\n", "SCIM requests received by the target",
			f.requests, aim, counts(f.endpoints))
		fmt.Printf("  %-44s %10.0f memberships/s, %.0f requests/s over the whole cycle\n", "scimsync", float64(f.rep.MembersAdded)/f.wall.Seconds(),
			float64(f.requests)/f.wall.Seconds())
		fmt.Printf("  %-44s %10.0f groups/s  (group creates: apply groups phase)\n", "scimsync, apply groups phase",
			float64(f.rep.Groups.Created+f.rep.Groups.Adopted)/f.groupApply.Seconds())
		fmt.Printf("  %-44s %10.0f writes/s  (%d user creates in %.2f s, fresh scimserver)\n", "raw load client, same target type",
			raw.PerSecond, raw.N, raw.Elapsed.Seconds())
		mem.print()
		if f.rep.MembersAdded != memberships || f.rep.Groups.Created+f.rep.Groups.Adopted != nGroups {
			b.Fatalf("the cycle provisioned %d groups and %d memberships, want %d and %d",
				f.rep.Groups.Created+f.rep.Groups.Adopted, f.rep.MembersAdded, nGroups, memberships)
		}
		sumReq += f.requests
		sumWall += f.wall
		if i == b.N-1 {
			n := float64(b.N)
			b.ReportMetric(float64(sumReq)/n, "requests")
			b.ReportMetric(float64(aim), "aim-requests")
			b.ReportMetric(float64(memberships)*n/sumWall.Seconds(), "memberships/s")
			b.ReportMetric(float64(sumReq)/sumWall.Seconds(), "requests/s")
			b.ReportMetric(raw.PerSecond, "raw-writes/s")
			mem.report(b)
		}
	}
}

// writeBenchFile writes a file of a scale benchmark's job (private: it may hold a secret) and
// returns its path.
func writeBenchFile(b *testing.B, dir, name, content string) string {
	b.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}
