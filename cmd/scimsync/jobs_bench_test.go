package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/internal/procstatus"
)

// Environment variables sizing BenchmarkReplicaJobs (`make bench-jobs JOBS=… USERS=…`).
const (
	benchJobsEnv  = "SCIMSYNC_BENCH_JOBS"
	benchUsersEnv = "SCIMSYNC_BENCH_USERS"
)

// envCount is the whole number an environment variable sizing a benchmark gives: def when it is unset
// or empty, and at least least.
func envCount(b *testing.B, env string, def, least int) int {
	raw := os.Getenv(env)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a whole number of at least %d", env, raw, least)
	}
	return n
}

// BenchmarkReplicaJobs prints how long one daemon, then three replicas, take to bring JOBS fresh jobs
// of USERS generated users each (defaults 100 × 1,000, the size of issue 10) to convergence, from the
// start of the processes to the last target holding every user in scope, and the peak RSS (VmHWM) of
// each daemon. The targets are in-process emulators of the benchmark (one per job), the Graph one
// emulated tenant read by every job; the state is one PostgreSQL database. Printed, not asserted
// (docs/performance.md, "Many jobs and replicas").
func BenchmarkReplicaJobs(b *testing.B) {
	jobs := envCount(b, benchJobsEnv, 100, 1)
	users := envCount(b, benchUsersEnv, 1000, 1)
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("jobs=%d/users=%d/replicas=%d", jobs, users, replicas), func(b *testing.B) {
			for b.Loop() {
				runReplicaJobs(b, jobs, users, replicas)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func runReplicaJobs(b *testing.B, jobs, users, replicas int) {
	b.StopTimer()
	e := newJobsEnv(b, jobsOptions{jobs: jobs, tenant: graphapi.GenerateTenant(users, 1), ttl: jobsTTL, claim: jobsClaim, concurrency: 8, unlimited: true})
	want := len(e.expected())
	b.StartTimer()
	start := time.Now()
	var procs []*daemonProc
	for range replicas {
		procs = append(procs, e.start())
	}
	// The creates' count first: reading a target's users costs, and they cannot be all there before.
	procs[0].until("every job converged", 2*time.Hour, func() bool {
		for _, job := range e.names {
			if e.targets[job].posts.Load() < int64(want) || e.userCount(job) != want {
				return false
			}
		}
		return true
	})
	took := time.Since(start)
	b.StopTimer()
	var peak, total uint64
	held := jobsOf(e.holders())
	var spread []int
	for _, p := range procs {
		hwm := procstatus.Memory(strconv.Itoa(p.cmd.Process.Pid))["VmHWM"]
		peak, total = max(peak, hwm), total+hwm
		spread = append(spread, len(held[p.cmd.Process.Pid]))
	}
	var cycles jobCycles
	for _, p := range procs {
		p.stop()
		cycles.add(p.logs.String())
	}
	e.check(e.expected())
	rate := float64(jobs*want) / took.Seconds()
	b.Logf("%d jobs × %d users in scope (%d created) on %d replica(s): converged in %s, %.0f users/s; peak RSS per daemon %.0f MiB (all: %.0f MiB); jobs held at the end %v (max-concurrent 4, target concurrency 8 without rate limit, lease ttl %s, claim interval %s)",
		jobs, want, jobs*want, replicas, took.Round(time.Millisecond), rate, mib(peak), mib(total), spread, jobsTTL, jobsClaim)
	b.Logf("cycles: %s", cycles)
	b.ReportMetric(took.Seconds(), "s/converge")
	b.ReportMetric(rate, "users/s")
	b.ReportMetric(mib(peak), "MiB-peak-RSS/daemon")
	b.StartTimer()
}

// jobCycles sums the "cycle finished" lines of daemons' JSON logs: the cycles that created users
// and the others (nothing left to do), with their time, which tells whether a run was slow because
// cycles were slow or because converged jobs kept the slots busy.
type jobCycles struct {
	creating, idle         int
	creatingTook, idleTook float64 // seconds
}

func (c *jobCycles) add(logs string) {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"msg":"cycle finished"`) {
			continue
		}
		var l struct {
			Took    float64 `json:"took"`
			Created int     `json:"created"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l.Created > 0 {
			c.creating++
			c.creatingTook += l.Took
		} else {
			c.idle++
			c.idleTook += l.Took
		}
	}
}

func (c jobCycles) String() string {
	mean := func(sum float64, n int) time.Duration {
		if n == 0 {
			return 0
		}
		return time.Duration(sum / float64(n) * float64(time.Second)).Round(time.Millisecond)
	}
	return fmt.Sprintf("%d that created users (mean %s), %d with nothing to create (mean %s)",
		c.creating, mean(c.creatingTook, c.creating), c.idle, mean(c.idleTook, c.idle))
}
