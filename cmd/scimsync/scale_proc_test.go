//go:build linux

package main

// The scale harness (make scale N=100000; make bench runs it at 10,000): every party is a process
// of its own, as in production. internal/cmd/emulate serves the emulated Graph and a fresh SCIM
// target; the built scimsync binary runs one initial cycle (`scimsync sync`); then the raw load
// client replays the very create bodies scimsync sent, in the same manager waves and at the same
// concurrency, against a second fresh target of the same kind. Both write phases are timed at the
// target (first create in to last create out), so the two rates compare like with like. Peak RSS is
// scimsync's alone (the kernel's maxrss for its process, which emulate exec, its parent, reads at
// its exit). Figures are printed, never asserted.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/rawload"
	"github.com/scimsync/scimsync/internal/procstatus"
	"github.com/scimsync/scimsync/scimclient"
)

// scaleUsersEnv sets the harness's tenant size (make scale N=...); 10,000 when unset.
const scaleUsersEnv = "SCIMSYNC_SCALE_USERS"

// scaleGroupsEnv adds that many security groups of 100 enabled users each to the tenant (make scale
// GROUPS=1000: issue 12's 1,000 groups and 100,000 memberships) and provisions groups; 0 or unset: users
// only. The raw client still posts users only.
const scaleGroupsEnv = "SCIMSYNC_SCALE_GROUPS"

// graphArgs are the emulated Graph's arguments for users (and scaleGroupsEnv's groups), its CA file in dir.
func graphArgs(b *testing.B, users int, dir string) []string {
	args := []string{"graph", "-users", strconv.Itoa(users), "-page", strconv.Itoa(scaleGraphPageSize), "-dir", dir}
	if g := scaleGroups(b); g > 0 {
		args = append(args, "-groups", strconv.Itoa(g), "-members", "100")
	}
	return args
}

// scaleGroups is scaleGroupsEnv's count.
func scaleGroups(b *testing.B) int { return envCount(b, scaleGroupsEnv, 0, 0) }

// scalePairsEnv is how many times scimsync's initial cycle and the raw client are timed side by side
// (make scale PAIRS=n; 3 when unset), each pair on fresh targets and a fresh state. The raw client's
// rate swung by half between runs minutes apart on the shared machine, so one pair's ratio says little;
// the harness prints every pair's and their median.
const scalePairsEnv = "SCIMSYNC_SCALE_PAIRS"

// scaleProfileEnv names a folder for scimsync's CPU and peak-heap profiles of each run (make scale
// PROFILE=dir); none when unset.
const scaleProfileEnv = "SCIMSYNC_SCALE_PROFILE"

// scaleMemLimitEnv gives scimsync alone (not the emulators) a GOMEMLIMIT (make scale MEMLIMIT=256MiB),
// as a cgroup memory limit would through automemlimit.
const scaleMemLimitEnv = "SCIMSYNC_SCALE_GOMEMLIMIT"

// harnessConcurrency is target.concurrency of the job and the raw client's concurrency.
const harnessConcurrency = 8

// harnessBulk is the Bulk-capable target's limits (common ones: 1,000 operations, 1 MiB).
var harnessBulk = scimclient.BulkLimits{Supported: true, MaxOperations: 1000, MaxPayloadSize: 1 << 20}

// emuProc is one running emulator process.
type emuProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	ready map[string]any
}

// buildEmulate builds internal/cmd/emulate into dir.
func buildEmulate(b *testing.B, dir string) string {
	b.Helper()
	out := filepath.Join(dir, "emulate")
	cmd := exec.Command("go", "build", "-o", out, "../../internal/cmd/emulate")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("build the emulator: %v", err)
	}
	return out
}

func startEmu(b *testing.B, bin string, args ...string) *emuProc {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start emulate %s: %v", args[0], err)
	}
	p := &emuProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 0, 1<<16), 1<<24)
	if !p.out.Scan() || json.Unmarshal(p.out.Bytes(), &p.ready) != nil {
		_ = cmd.Process.Kill()
		b.Fatalf("emulate %s did not start: %q", args[0], p.out.Text())
	}
	return p
}

func (p *emuProc) str(key string) string { s, _ := p.ready[key].(string); return s }

// emuUsage is what `emulate exec` writes once scimsync exited (internal/cmd/emulate Usage).
type emuUsage struct {
	MaxRSS      int64 `json:"maxRss"`
	LauncherRSS int64 `json:"launcherRss"`
	CPU         int64 `json:"cpu"`
}

// emuStats is the emulator's last line (internal/cmd/emulate Stats).
type emuStats struct {
	Requests                         int64
	Endpoints                        map[string]int64
	Creates, FirstCreate, LastCreate int64
	CPU                              time.Duration // the target process's CPU so far
}

func (s emuStats) writePhase() time.Duration { return time.Duration(s.LastCreate - s.FirstCreate) }

// stats asks a running target for what it counted so far.
func (p *emuProc) stats(b *testing.B) emuStats {
	b.Helper()
	if _, err := io.WriteString(p.stdin, "stats\n"); err != nil {
		b.Fatal(err)
	}
	var st emuStats
	if !p.out.Scan() || json.Unmarshal(p.out.Bytes(), &st) != nil {
		b.Fatalf("emulator stats: %q", p.out.Text())
	}
	return st
}

// retitle asks the emulated Graph to change every user's title (internal/cmd/emulate).
func (p *emuProc) retitle(b *testing.B) {
	b.Helper()
	if _, err := io.WriteString(p.stdin, "retitle\n"); err != nil {
		b.Fatal(err)
	}
	var ch struct{ Users int }
	if !p.out.Scan() || json.Unmarshal(p.out.Bytes(), &ch) != nil || ch.Users == 0 {
		b.Fatalf("emulated Graph retitle: %q", p.out.Text())
	}
}

// stop closes the emulator's input, which ends it, and returns what it counted.
func (p *emuProc) stop(b *testing.B) emuStats {
	b.Helper()
	p.stdin.Close()
	var st emuStats
	if p.out.Scan() {
		_ = json.Unmarshal(p.out.Bytes(), &st)
	}
	if err := p.cmd.Wait(); err != nil {
		b.Errorf("emulator: %v", err)
	}
	return st
}

// procFigures is what the scimsync process cost.
type procFigures struct {
	wall time.Duration
	cpu  time.Duration
	// peakRSS is in bytes: the maxrss the kernel counted for scimsync at its exit, as `emulate exec`,
	// its parent, read it. Not the maxrss the harness's own wait4 would report: Go starts a child
	// sharing the parent's memory until exec (vfork), and Linux carries that memory's high-water mark
	// into the child's maxrss, so it said the harness's own size (the recorded bodies it held) once
	// that was larger. emulate is small: launcherRSS is its own peak, the least peakRSS can say.
	// sampledRSS is the highest VmHWM read from /proc while scimsync ran, 20 ms apart, which the
	// harness reported alone before 2026-12-03: it cannot see the run's last 20 ms (a state file
	// compacted or measured on the way out). In the runs since, it was within 1 MiB of peakRSS.
	peakRSS, launcherRSS, sampledRSS uint64
	// peakAnon and peakFile are the highest anonymous memory (the Go heap, stacks) and file pages
	// (the binary, the state file bbolt maps) sampled, each at its own moment.
	peakAnon, peakFile uint64
	// atPeakAnon and atPeakFile split the highest RSS sampled (VmRSS), so that a peak can be told
	// apart: the heap during apply, or the state file's pages during a fold or compaction.
	atPeakAnon, atPeakFile uint64
	atPeak                 time.Duration // when that sample was taken, from the start
	// With a memory cgroup (scaleCgroupEnv): its limit, its peak usage (page cache included), how
	// often the limit was reached, and OOM kills.
	cgroupMiB, cgroupHits, oomKills int
	cgroupPeak                      uint64
	// patches and requests are what the target received during the run, when the harness counted.
	patches, requests int64
	// cpuSamples are the process's CPU time sampled while it ran, to tell its CPU in the write phase
	// (cpuBetween) from the Graph round before it and the closing after it.
	cpuSamples []cpuSample
	// graphCPU is what the run cost the emulated Graph, which shares the machine's cores (measured
	// for the first initial cycle).
	graphCPU time.Duration
}

// runScimsync runs one `scimsync sync` (name labels its profiles) through `emulate exec` (emu), samples
// its memory and CPU from /proc until it exits, and takes its peak RSS and CPU from the kernel's count
// at its exit (emulate's Usage), which the samples, 20 ms apart, can miss the end of.
func runScimsync(b *testing.B, bin, emu, cfg, name string) procFigures {
	b.Helper()
	settleDisk()
	args := []string{"sync", "--config", cfg}
	if dir := os.Getenv(scaleProfileEnv); dir != "" {
		args = append(args, "--cpu-profile", filepath.Join(dir, "cpu-"+name+".pprof"),
			"--heap-profile", filepath.Join(dir, "heap-"+name+".pprof"))
	}
	tmp := b.TempDir()
	pidFile, usageFile := filepath.Join(tmp, "pid"), filepath.Join(tmp, "usage.json")
	argv := append([]string{emu, "exec", "-pidfile", pidFile, "-usage", usageFile, "--", bin}, args...)
	var cg *memCgroup
	if mib, _ := strconv.Atoi(os.Getenv(scaleCgroupEnv)); mib > 0 {
		cg = newMemCgroup(b, mib)
		argv = cg.wrap(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if lim := os.Getenv(scaleMemLimitEnv); lim != "" {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+lim)
	}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm, anon, file, rss, atAnon, atFile uint64
	var samples []cpuSample
	var atTime time.Duration
	pid := 0 // scimsync's, once emulate exec has written it
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			f := procFigures{wall: time.Since(t0), sampledRSS: hwm, peakAnon: anon, peakFile: file, atPeakAnon: atAnon, atPeakFile: atFile, atPeak: atTime,
				cpuSamples: samples}
			if cg != nil {
				f.cgroupPeak, f.cgroupHits, f.oomKills = cg.figures()
				f.cgroupMiB, _ = strconv.Atoi(os.Getenv(scaleCgroupEnv))
			}
			if err != nil {
				b.Fatalf("scimsync sync: %v\n%s", err, stderr.String())
			}
			if dir := os.Getenv(scaleProfileEnv); dir != "" {
				// Its log beside its profiles: the steps' own timings (Graph round, read, apply).
				_ = os.WriteFile(filepath.Join(dir, "log-"+name+".txt"), []byte(stderr.String()), 0o644)
			}
			var u emuUsage
			if raw, err := os.ReadFile(usageFile); err != nil || json.Unmarshal(raw, &u) != nil {
				b.Fatalf("emulate exec left no usage for scimsync: %v", err)
			}
			f.cpu, f.launcherRSS = time.Duration(u.CPU), uint64(u.LauncherRSS)
			f.peakRSS = max(uint64(u.MaxRSS), hwm)
			return f
		case <-tick.C:
			if pid == 0 {
				raw, _ := os.ReadFile(pidFile)
				if pid, _ = strconv.Atoi(string(raw)); pid == 0 {
					continue
				}
			}
			samples = append(samples, cpuSample{time.Now().UnixNano(), procCPU(pid)})
			m := procMem(pid)
			hwm = max(hwm, m["VmHWM"])
			anon, file = max(anon, m["RssAnon"]), max(file, m["RssFile"])
			if m["VmRSS"] > rss {
				rss, atAnon, atFile, atTime = m["VmRSS"], m["RssAnon"], m["RssFile"], time.Since(t0)
			}
		}
	}
}

// procMem reads the memory lines of a process's /proc status in bytes (VmHWM, RssAnon, RssFile...);
// empty once it is gone.
func procMem(pid int) map[string]uint64 { return procstatus.Memory(strconv.Itoa(pid)) }

// procCPU is a process's user and system CPU time so far, from /proc (0 when it cannot be read). Linux
// counts it in USER_HZ ticks, 100 a second on every architecture Go supports.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces, in parentheses: utime and stime are
	// the 14th and 15th of the line, the 12th and 13th after it.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100)
}

// cpuSample is a process's CPU time at a moment (Unix nanoseconds, as the targets time their creates).
type cpuSample struct {
	at  int64
	cpu time.Duration
}

// cpuBetween is the CPU the samples show spent from from to to (Unix nanoseconds): from the last
// sample before from to the first after to, so a little more than the span rather than less.
func cpuBetween(samples []cpuSample, from, to int64) time.Duration {
	var first, last *cpuSample
	for i := range samples {
		if samples[i].at <= from || first == nil {
			first = &samples[i]
		}
		if last == nil && samples[i].at >= to {
			last = &samples[i]
		}
	}
	if first == nil || last == nil {
		return 0
	}
	return last.cpu - first.cpu
}

// BenchmarkScaleProcesses is the side-by-side table of issue 12 for one tenant size.
func BenchmarkScaleProcesses(b *testing.B) {
	users := envCount(b, scaleUsersEnv, 10000, 1)
	bin := os.Getenv("SCIMSYNC_BIN")
	if bin == "" {
		b.Skip("needs the built binary: make build, then SCIMSYNC_BIN=$PWD/bin/scimsync")
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		emu := buildEmulate(b, dir)
		graph := startEmu(b, emu, graphArgs(b, users, dir)...)
		recording := filepath.Join(dir, "creates.jsonl")
		tgt := startEmu(b, emu, "scim", "-token", scaleToken, "-record", recording)
		cfg := writeHarnessJob(b, dir, graph, tgt.str("url"))

		graphCPU := graph.stats(b).CPU
		proc := runScimsync(b, bin, emu, cfg, "single")
		proc.graphCPU = time.Duration(graph.stats(b).CPU - graphCPU)
		st := tgt.stats(b) // the initial cycle's requests, before the runs below add theirs
		// A cycle right after, with nothing changed in the directory: an incremental cycle on the state
		// the first one left.
		again := runScimsync(b, bin, emu, cfg, "nochange")
		again.requests = tgt.stats(b).Requests - st.Requests // an incremental cycle with nothing to do sends nothing
		// Then the portal's "Restart provisioning": the next cycle is a full round over every user,
		// each planned against its stored link, with nothing to send.
		if out, err := exec.Command(bin, "restart", "--config", cfg).CombinedOutput(); err != nil {
			b.Fatalf("scimsync restart: %v\n%s", err, out)
		}
		full := runScimsync(b, bin, emu, cfg, "restart")
		// Last, every user's title changes in the directory: an incremental cycle that updates every
		// provisioned user (a mass change, such as a department renamed for everyone).
		// The state file as the initial cycle left it (the full round adds nothing but its cycle record).
		sf, err := readStateFigures(filepath.Join(dir, "state.db"))
		if err != nil {
			b.Fatalf("state file: %v", err)
		}
		beforeMass := tgt.stats(b)
		graph.retitle(b)
		mass := runScimsync(b, bin, emu, cfg, "masschange")
		afterMass := tgt.stats(b)
		mass.patches = afterMass.Endpoints["PATCH /Users/{id}"] - beforeMass.Endpoints["PATCH /Users/{id}"]
		mass.requests = afterMass.Requests - beforeMass.Requests
		tgt.stop(b)
		recs := readRecording(b, recording)
		raw, rawSt, rawCPU := replayRaw(b, emu, dir, recs, st, "pair1")
		pairs := []pairFigures{{raw: rawSt, scimsync: st, wall: proc.wall}}
		for k := 2; k <= envCount(b, scalePairsEnv, 3, 0); k++ {
			pairs = append(pairs, runPair(b, bin, emu, graph, fmt.Sprintf("pair%d", k)))
		}
		graph.stop(b)
		// What SCIM Bulk would give against a target that offers it: the same bodies and waves.
		bulkTgt := startEmu(b, emu, "scim", "-token", scaleToken, "-bulk-ops", strconv.Itoa(harnessBulk.MaxOperations),
			"-bulk-bytes", strconv.Itoa(harnessBulk.MaxPayloadSize))
		bulk, err := rawload.ReplayBulk(context.Background(), bulkTgt.str("url"), scaleToken, recs, harnessConcurrency, harnessBulk)
		bulkSt := bulkTgt.stop(b)
		if err != nil {
			b.Fatalf("raw load through Bulk: %v", err)
		}

		// scimsync itself against a target that offers Bulk (target.bulk is on by default): a fresh tenant
		// of the same size, a fresh state, the same job.
		bdir := b.TempDir()
		graph2 := startEmu(b, emu, graphArgs(b, users, bdir)...)
		ownBulk := startEmu(b, emu, "scim", "-token", scaleToken, "-bulk-ops", strconv.Itoa(harnessBulk.MaxOperations),
			"-bulk-bytes", strconv.Itoa(harnessBulk.MaxPayloadSize))
		bproc := runScimsync(b, bin, emu, writeHarnessJob(b, bdir, graph2, ownBulk.str("url")), "bulk")
		ownBulkSt := ownBulk.stop(b)
		graph2.stop(b)

		harnessRun{users: users, recs: recs, proc: proc, st: st, rawSt: rawSt, rawCPU: rawCPU, pairs: pairs, bulkSt: bulkSt, raw: raw, bulk: bulk,
			state: sf, bulkProc: bproc, ownBulkSt: ownBulkSt, noChange: again, fullRound: full, massChange: mass,
			laterRequests: beforeMass.Requests - st.Requests}.report(b)
	}
}

// settleDisk writes out what the runs before left for the kernel to write (state files, recordings),
// so that writing it back does not land in the next timed run.
func settleDisk() { syscall.Sync() }

// readRecording reads the creates a target recorded (emulate scim -record).
func readRecording(b *testing.B, path string) []rawload.Recorded {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	recs, err := rawload.ReadRecorded(f)
	if err != nil {
		b.Fatal(err)
	}
	return recs
}

// pairFigures is one side-by-side timing: scimsync's initial cycle against its target and the raw
// client against another, with the same bodies.
type pairFigures struct {
	raw, scimsync emuStats
	wall          time.Duration // scimsync's process
}

// ratios are the pair's apply-phase and whole-cycle rates as shares of the raw client's rate.
func (p pairFigures) ratios() (apply, cycle float64) {
	raw := p.raw.writePhase().Seconds()
	return raw / p.scimsync.writePhase().Seconds(), raw / p.wall.Seconds()
}

// runPair runs one more initial cycle with a fresh state against a fresh target, then the raw client
// with that cycle's bodies against another fresh target (both recording, as in the first pair).
func runPair(b *testing.B, bin, emu string, graph *emuProc, name string) pairFigures {
	b.Helper()
	dir := b.TempDir()
	tgt := startEmu(b, emu, "scim", "-token", scaleToken, "-record", filepath.Join(dir, "creates.jsonl"))
	proc := runScimsync(b, bin, emu, writeHarnessJob(b, dir, graph, tgt.str("url")), name)
	st := tgt.stop(b)
	_, rawSt, _ := replayRaw(b, emu, dir, readRecording(b, filepath.Join(dir, "creates.jsonl")), st, name)
	return pairFigures{raw: rawSt, scimsync: st, wall: proc.wall}
}

// replayRaw sends scimsync's recorded creates (recs) with the raw client to a fresh target, which
// records them as scimsync's target did (the same work per create at both, which share the machine's
// cores with the client), and checks that it created as many users as scimsync's target (st). cpu is
// the harness's CPU meanwhile: its process is otherwise idle while the raw client runs in it.
func replayRaw(b *testing.B, emu, dir string, recs []rawload.Recorded, st emuStats, name string) (raw rawload.Result, rawSt emuStats, cpu time.Duration) {
	b.Helper()
	fresh := startEmu(b, emu, "scim", "-token", scaleToken, "-record", filepath.Join(dir, "raw-creates.jsonl"))
	settleDisk()
	cpu = cpuTime()
	raw, err := rawload.Replay(context.Background(), fresh.str("url"), scaleToken, recs, harnessConcurrency)
	cpu = cpuTime() - cpu
	rawSt = fresh.stop(b)
	if err != nil {
		b.Fatalf("%s: raw load: %v", name, err)
	}
	if st.Creates == 0 || rawSt.Creates != st.Creates {
		b.Fatalf("%s: scimsync created %d users, the raw client %d", name, st.Creates, rawSt.Creates)
	}
	return raw, rawSt, cpu
}

// medianRatios are the median apply-phase and whole-cycle ratios of pairs.
func medianRatios(pairs []pairFigures) (apply, cycle float64) {
	as, cs := make([]float64, len(pairs)), make([]float64, len(pairs))
	for i, p := range pairs {
		as[i], cs[i] = p.ratios()
	}
	return median(as), median(cs)
}

func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// harnessRun is what one run of the harness measured.
type harnessRun struct {
	users             int
	recs              []rawload.Recorded
	proc              procFigures
	st, rawSt, bulkSt emuStats // scimsync's target, the raw client's, the Bulk one's
	// bulkProc and ownBulkSt are scimsync's own run against a target that offers Bulk.
	bulkProc  procFigures
	ownBulkSt emuStats
	raw, bulk rawload.Result
	rawCPU    time.Duration // the raw client's CPU
	// pairs are the side-by-side timings, the first run's first (scalePairsEnv).
	pairs []pairFigures
	state stateFigures
	// noChange is a second cycle right after the first, with nothing changed; fullRound a third, after
	// `scimsync restart`.
	noChange, fullRound procFigures
	// laterRequests are the requests of those two runs together.
	laterRequests int64
	// massChange is a fourth cycle, after every user's title changed in the directory.
	massChange procFigures
}

// report prints the side-by-side table row and the details, and reports the metrics.
func (h harnessRun) report(b *testing.B) {
	st, proc, sf := h.st, h.proc, h.state
	created := float64(st.Creates)
	rawRate := created / h.rawSt.writePhase().Seconds()
	applyRate := created / st.writePhase().Seconds()
	cycleRate := created / proc.wall.Seconds()
	host, _ := os.Hostname()
	fmt.Printf("\n== scale harness: %d generated users, %d created; every party its own process; concurrency %d ==\n",
		h.users, st.Creates, harnessConcurrency)
	fmt.Printf("  %s, %s, %d CPUs, host %s\n", time.Now().UTC().Format("2006-01-02"), cpuModel(), numCPU(), host)
	if g := os.Getenv(scaleGroupsEnv); g != "" && g != "0" {
		fmt.Printf("  with %s security groups of 100 members each, provisioned with their members (the raw client posts users only)\n", g)
	}
	fmt.Printf("  | users | raw writes/s | scimsync apply / whole cycle | %% of raw | scimsync peak RSS | requests | state file |\n")
	fmt.Printf("  |---|---|---|---|---|---|---|\n")
	fmt.Printf("  | %d | %.0f | %.0f / %.0f users/s | %.0f %% / %.0f %% | %.0f MiB | %d | %.1f MiB (%.0f B/user) |\n",
		h.users, rawRate, applyRate, cycleRate, 100*applyRate/rawRate, 100*cycleRate/rawRate, mib(proc.peakRSS),
		st.Requests, mib(uint64(sf.dataBytes)), float64(sf.dataBytes)/created)
	fmt.Printf("  scimsync: wall %.2f s, write phase at the target %.2f s, CPU %.2f s (%.3f ms per created user); requests: %s\n",
		proc.wall.Seconds(), st.writePhase().Seconds(), proc.cpu.Seconds(), ms(proc.cpu)/created, counts(st.Endpoints))
	fmt.Printf("  raw client: write phase at the target %.2f s (client side %.2f s), same %d bodies in %d manager waves\n",
		h.rawSt.writePhase().Seconds(), h.raw.Elapsed.Seconds(), len(h.recs), len(rawload.Waves(h.recs)))
	for i, p := range h.pairs {
		a, c := p.ratios()
		fmt.Printf("  pair %d: raw client %.0f writes/s, scimsync %.0f / %.0f users/s: %.0f %% / %.0f %%\n", i+1,
			float64(p.raw.Creates)/p.raw.writePhase().Seconds(), float64(p.scimsync.Creates)/p.scimsync.writePhase().Seconds(),
			float64(p.scimsync.Creates)/p.wall.Seconds(), 100*a, 100*c)
	}
	medApply, medCycle := medianRatios(h.pairs)
	fmt.Printf("  median of the %d pairs: %.0f %% / %.0f %% of the raw client's rate (apply / whole cycle)\n", len(h.pairs), 100*medApply, 100*medCycle)
	fmt.Printf("  CPU per created user: scimsync %.3f ms (its whole cycle) and its target %.3f ms; the raw client %.3f ms and its target %.3f ms\n",
		ms(proc.cpu)/created, ms(st.CPU)/created, ms(h.rawCPU)/created, ms(h.rawSt.CPU)/created)
	rawPair := h.rawCPU + h.rawSt.CPU
	if inPhase := cpuBetween(proc.cpuSamples, st.FirstCreate, st.LastCreate); inPhase > 0 {
		cores, rawCores := (inPhase+st.CPU).Seconds()/st.writePhase().Seconds(), rawPair.Seconds()/h.rawSt.writePhase().Seconds()
		fmt.Printf("  in the write phase: scimsync %.3f ms of CPU per created user (%.1f s; the rest of its cycle %.1f s), and with its target "+
			"%.2f of the %d cores; the raw client and its target %.2f\n", ms(inPhase)/created, inPhase.Seconds(), (proc.cpu - inPhase).Seconds(),
			cores, numCPU(), rawCores)
		// docs/performance.md#what-bounds-the-ratio-on-this-machine: the apply ratio is the ratio of
		// the CPU one create costs each pair times the ratio of the cores each pair kept busy (an
		// identity), and the second factor cannot pass numCPU / rawCores.
		cpuRatio := rawPair.Seconds() / (inPhase + st.CPU).Seconds()
		fmt.Printf("  apply ratio %.0f %% = CPU per create, (raw client + its target) / (scimsync + its target), %.2f × cores kept busy, %.2f / %.2f; "+
			"with every core busy in its write phase scimsync would reach %.0f %%\n", 100*applyRate/rawRate, cpuRatio, cores, rawCores,
			100*cpuRatio*float64(numCPU())/rawCores)
	}
	if proc.graphCPU > 0 {
		// The whole cycle at best keeps every core busy with scimsync, its target and the emulated
		// Graph from start to end.
		ceiling := h.rawSt.writePhase().Seconds() * float64(numCPU()) / (proc.cpu + st.CPU + proc.graphCPU).Seconds()
		fmt.Printf("  the emulated Graph spent %.3f ms of CPU per created user on the initial round; with every core busy all the cycle, "+
			"scimsync's whole cycle could reach at most %.0f %% of the raw client's rate (measured %.0f %%)\n",
			ms(proc.graphCPU)/created, 100*ceiling, 100*cycleRate/rawRate)
	}
	fmt.Printf("  raw client through SCIM Bulk (maxOperations %d, maxPayloadSize %d): %.0f users/s client side in %d Bulk requests, "+
		"%.1f× the raw single requests' %.0f users/s client side\n", harnessBulk.MaxOperations, harnessBulk.MaxPayloadSize,
		h.bulk.PerSecond, h.bulkSt.Endpoints["POST /Bulk"], h.bulk.PerSecond/h.raw.PerSecond, h.raw.PerSecond)
	if n := float64(st.Creates); h.bulkProc.wall > 0 {
		fmt.Printf("  scimsync through SCIM Bulk (target.bulk on, a target offering it): whole cycle %.0f users/s (%.1f× its single requests), "+
			"wall %.2f s, %d Bulk requests, peak RSS %.0f MiB\n", n/h.bulkProc.wall.Seconds(), (n/h.bulkProc.wall.Seconds())/cycleRate,
			h.bulkProc.wall.Seconds(), h.ownBulkSt.Endpoints["POST /Bulk"], mib(h.bulkProc.peakRSS))
	}
	fmt.Printf("  scimsync peak RSS %.0f MiB: anonymous memory at most %.0f MiB, file pages at most %.0f MiB (its binary and the state file bbolt maps); "+
		"at the highest sample %.0f + %.0f MiB, %.1f s into the run\n", mib(proc.peakRSS), mib(proc.peakAnon), mib(proc.peakFile), mib(proc.atPeakAnon), mib(proc.atPeakFile),
		proc.atPeak.Seconds())
	fmt.Printf("  peak RSS is the kernel's count at each run's exit; the highest sampled while it ran: initial %.0f, no-change %.0f, full round %.0f, "+
		"mass change %.0f MiB (the launcher that reads it, emulate exec: %.0f MiB)\n", mib(proc.sampledRSS), mib(h.noChange.sampledRSS),
		mib(h.fullRound.sampledRSS), mib(h.massChange.sampledRSS), mib(proc.launcherRSS))
	if proc.cgroupMiB > 0 {
		fmt.Printf("  in a memory cgroup of %d MiB: its peak usage %.0f MiB (page cache included), limit reached %d times, %d OOM kills\n",
			proc.cgroupMiB, mib(proc.cgroupPeak), proc.cgroupHits, proc.oomKills)
	}
	fmt.Printf("  no-change cycle right after (incremental, nothing changed): wall %.2f s, CPU %.2f s, peak RSS %.0f MiB (anonymous %.0f, file pages %.0f; "+
		"at the highest sample %.0f + %.0f), %d SCIM requests\n", h.noChange.wall.Seconds(), h.noChange.cpu.Seconds(), mib(h.noChange.peakRSS),
		mib(h.noChange.peakAnon), mib(h.noChange.peakFile), mib(h.noChange.atPeakAnon), mib(h.noChange.atPeakFile), h.noChange.requests)
	fmt.Printf("  full round after `scimsync restart` (every user planned against its link, nothing changed): wall %.2f s, CPU %.2f s, "+
		"peak RSS %.0f MiB (anonymous %.0f, file pages %.0f; at the highest sample %.0f + %.0f, at %.1f s); the two runs sent %d requests\n", h.fullRound.wall.Seconds(), h.fullRound.cpu.Seconds(),
		mib(h.fullRound.peakRSS), mib(h.fullRound.peakAnon), mib(h.fullRound.peakFile), mib(h.fullRound.atPeakAnon), mib(h.fullRound.atPeakFile), h.fullRound.atPeak.Seconds(), h.laterRequests)
	mc := h.massChange
	fmt.Printf("  mass change (every user's title changed in the directory, an incremental cycle): wall %.2f s, CPU %.2f s (%.3f ms per update), "+
		"%d PATCHes (%.0f users/s) in %d requests, peak RSS %.0f MiB (anonymous %.0f, file pages %.0f; at the highest sample %.0f + %.0f, at %.1f s)\n", mc.wall.Seconds(), mc.cpu.Seconds(),
		ms(mc.cpu)/float64(max(mc.patches, 1)), mc.patches, float64(mc.patches)/mc.wall.Seconds(), mc.requests, mib(mc.peakRSS), mib(mc.peakAnon), mib(mc.peakFile),
		mib(mc.atPeakAnon), mib(mc.atPeakFile), mc.atPeak.Seconds())
	sf.print(int(st.Creates))
	b.ReportMetric(mib(h.noChange.peakRSS), "nochange-RSS-MiB")
	b.ReportMetric(mib(mc.peakRSS), "masschange-RSS-MiB")
	b.ReportMetric(mib(h.fullRound.peakRSS), "fullround-RSS-MiB")
	b.ReportMetric(rawRate, "raw-writes/s")
	b.ReportMetric(100*medApply, "%-apply-median")
	b.ReportMetric(100*medCycle, "%-cycle-median")
	b.ReportMetric(applyRate, "users/s-apply")
	b.ReportMetric(cycleRate, "users/s-cycle")
	b.ReportMetric(mib(proc.peakRSS), "peak-RSS-MiB")
	b.ReportMetric(float64(sf.dataBytes)/created, "state-B/user")
}

// writeHarnessJob writes the job: every user, the Gong preset, groups when scaleGroupsEnv asks, no rate
// limit.
func writeHarnessJob(b *testing.B, dir string, graph *emuProc, targetURL string) string {
	b.Helper()
	write := func(name, content string) string { return writeBenchFile(b, dir, name, content) }
	secret := write("graph-secret", "scale-secret\n")
	token := write("target-token", scaleToken+"\n")
	return write("job.yaml", fmt.Sprintf(`name: scale
source:
  tenantId: %s
  clientId: 11111111-2222-3333-4444-555555555555
  credential: {type: clientSecret, secretFile: %s}
  graphEndpoint: %s
  authorityHost: %s
  caFile: %s
  servicePrincipalId: %s
target:
  url: %s
  tokenFile: %s
  concurrency: %d
  requestsPerSecond: 0
scope: all
users:
  preset: gong
groups:
  enabled: %t
state: %s
logging: {level: info, format: json}
`, graph.str("tenantId"), secret, graph.str("graphUrl"), graph.str("authorityHost"), graph.str("caFile"),
		graph.str("servicePrincipalId"), targetURL, token, harnessConcurrency, scaleGroups(b) > 0, filepath.Join(dir, "state.db")))
}

// cpuModel names the machine's CPU for the figures (from /proc/cpuinfo).
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

func numCPU() int {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(raw), "\nprocessor") + btoi(strings.HasPrefix(string(raw), "processor"))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
