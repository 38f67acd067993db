package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/store/postgres"
)

// replicaTTL is the lease ttl of the multi-process tests: short, so a takeover takes seconds.
const replicaTTL = 2 * time.Second

// replicaEnv is one job, its state in a fresh PostgreSQL database, an emulated tenant and an in-process
// target whose user creates are slow while slow is set (so a cycle is still running when a process is
// killed or paused); writes counts the writes the target receives while counting is set.
type replicaEnv struct {
	t        testing.TB
	l        *localTarget
	cfg      string
	env      []string
	db       *postgres.DB
	job      string
	expected map[string]expectedUser
	slow     atomic.Bool
	counting atomic.Bool
	writes   atomic.Int64
}

func newReplicaEnv(t testing.TB) *replicaEnv {
	t.Helper()
	e := &replicaEnv{t: t, job: "replicas"}
	e.slow.Store(true)
	e.l = newLocalTarget(t, scimserver.Options{Token: "replica-token", Fault: func(r *http.Request) *scimserver.Fault {
		if r.Method != http.MethodGet && e.counting.Load() {
			e.writes.Add(1)
		}
		if r.Method == http.MethodPost && e.slow.Load() {
			return &scimserver.Fault{Delay: 250 * time.Millisecond}
		}
		return nil
	}})
	e.expected = expectedUsers(e.l.tenant)
	if len(e.expected) < 8 {
		t.Fatalf("the sample tenant has %d users in scope; the test needs a cycle of several creates", len(e.expected))
	}
	var url string
	url, e.db = freshDatabase(t)
	e.cfg = filepath.Join(e.l.dir, "job.yaml")
	if err := os.WriteFile(e.cfg, []byte(replicaJobYAML(e.job, e.l.source, e.l.url+", concurrency: 2", url)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=replica-token",
		"E2E_DB_PASSWORD="+pgSrv.Password, leaseTTLEnv+"="+replicaTTL.String())
	return e
}

// replicaProc is one `scimsync run` process.
type replicaProc struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func (e *replicaEnv) start(name string) *replicaProc {
	e.t.Helper()
	p := &replicaProc{name: name, cmd: exec.Command(e.l.bin, "run", "--config", e.cfg), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = e.env
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.done
		if e.t.Failed() {
			e.t.Logf("%s (pid %d) logs:\n%s", p.name, p.cmd.Process.Pid, lastLines(p.logs.String(), 40))
		}
	})
	return p
}

// stop ends a process with SIGTERM and waits for it.
func (e *replicaEnv) stop(p *replicaProc) {
	e.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		e.t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

// holderPID is the pid of the process holding the job's lease (by the database clock), 0 when none.
func (e *replicaEnv) holderPID() int {
	e.t.Helper()
	h, err := e.db.Holders(context.Background(), []string{e.job})
	if err != nil {
		e.t.Fatal(err)
	}
	return pidOfHolder(h[e.job])
}

// waitFor polls cond until it holds; limit only bounds a hung test, it is not what the test checks.
func (e *replicaEnv) waitFor(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// userNames are the target's users by userName, with how many accounts each has.
func (e *replicaEnv) userNames() map[string]int {
	out := map[string]int{}
	for _, u := range e.l.target.Users() {
		out[strings.ToLower(fmt.Sprint(u["userName"]))]++
	}
	return out
}

func (e *replicaEnv) converged() bool {
	names := e.userNames()
	if len(names) != len(e.expected) {
		return false
	}
	for upn := range e.expected {
		if names[strings.ToLower(upn)] != 1 {
			return false
		}
	}
	return true
}

// checkTarget: every expected user has exactly one account, no other account exists, and the state
// links each of them (nothing created without its link surviving).
func (e *replicaEnv) checkTarget() {
	e.t.Helper()
	names := e.userNames()
	for name, n := range names {
		if n > 1 {
			e.t.Errorf("%d accounts for %s", n, name)
		}
	}
	var missing []string
	for upn := range e.expected {
		if names[strings.ToLower(upn)] == 0 {
			missing = append(missing, upn)
		}
	}
	if len(missing) > 0 || len(names) != len(e.expected) {
		slices.Sort(missing)
		e.t.Errorf("the target holds %d users, want %d; missing %v", len(names), len(e.expected), missing)
	}
	if n := linkedUsers(e.t, e.db, e.job); n != len(e.expected) {
		e.t.Errorf("the state links %d users, want %d", n, len(e.expected))
	}
}

func (e *replicaEnv) pidOf(procs ...*replicaProc) map[int]*replicaProc {
	out := map[int]*replicaProc{}
	for _, p := range procs {
		out[p.cmd.Process.Pid] = p
	}
	return out
}

// killHolderMidCycle starts two processes on the job, kills -9 the one running the cycle while it
// creates users, and returns how long the survivor took to hold the lease after the kill.
func killHolderMidCycle(t testing.TB) time.Duration {
	e := newReplicaEnv(t)
	a, b := e.start("a"), e.start("b")
	procs := e.pidOf(a, b)
	var holder *replicaProc
	e.waitFor("a process mid-cycle", 2*time.Minute, func() bool {
		holder = procs[e.holderPID()]
		return holder != nil && len(e.l.target.Users()) >= 3
	})
	survivor := a
	if holder == a {
		survivor = b
	}
	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-holder.done
	created := len(e.l.target.Users())
	e.slow.Store(false)
	e.waitFor("the survivor to take the lease over", 2*time.Minute, func() bool { return procs[e.holderPID()] == survivor })
	took := time.Since(killed)
	t.Logf("killed %s after %d of %d creates; %s took the job over %s after the kill (lease ttl %s, schedule 1s)",
		holder.name, created, len(e.expected), survivor.name, took.Round(time.Millisecond), replicaTTL)
	e.waitFor("the target to converge", 2*time.Minute, e.converged)
	e.waitFor("the survivor to finish a cycle", 2*time.Minute, func() bool {
		return strings.Contains(survivor.logs.String(), `"cycle finished"`)
	})
	e.stop(survivor)
	e.checkTarget()
	return took
}

// TestReplicasKillHolderMidCycle: two `scimsync run` on one job and one database; kill -9 of the one
// running the cycle → the other takes the job over once the lease expires and the target converges
// with no duplicate and no lost user.
func TestReplicasKillHolderMidCycle(t *testing.T) {
	killHolderMidCycle(t)
}

// TestReplicasPausedHolderCannotWrite: the holder is paused (SIGSTOP, as a long GC pause or a frozen
// VM) mid-cycle past its lease; another process takes the job over and finishes the cycle. Resumed
// (SIGCONT), the paused one sends nothing more to the target — no write arrives from the moment it
// resumes — and the target has no duplicate.
func TestReplicasPausedHolderCannotWrite(t *testing.T) {
	e := newReplicaEnv(t)
	a := e.start("a")
	e.waitFor("a mid-cycle", 2*time.Minute, func() bool {
		return e.holderPID() == a.cmd.Process.Pid && len(e.l.target.Users()) >= 3
	})
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.slow.Store(false)
	b := e.start("b")
	e.waitFor("b to take the job over", 2*time.Minute, func() bool { return e.holderPID() == b.cmd.Process.Pid })
	e.waitFor("the target to converge", 2*time.Minute, e.converged)
	e.waitFor("b to finish a cycle", 2*time.Minute, func() bool { return strings.Contains(b.logs.String(), `"cycle finished"`) })

	// From here on the target's state is final: b's later cycles find nothing to change, so any
	// write is a's.
	e.counting.Store(true)
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	e.waitFor("a to notice its lease is gone", 2*time.Minute, func() bool {
		return strings.Contains(a.logs.String(), "stopping the cycle")
	})
	e.waitFor("a's cycle to end", 2*time.Minute, func() bool { return strings.Contains(a.logs.String(), `"cycle failed"`) })
	e.stop(a)
	e.stop(b)
	if n := e.writes.Load(); n != 0 {
		t.Errorf("%d writes reached the target after the paused holder resumed", n)
	}
	e.checkTarget()
}

// BenchmarkLeaseTakeover prints the time from kill -9 of the process running a job to another process
// holding its lease (ttl 2s, schedule every second): the failover time, about ttl plus one schedule
// tick. Printed, not asserted. Run with -benchtime=3x for an average.
func BenchmarkLeaseTakeover(b *testing.B) {
	var total time.Duration
	n := 0
	for b.Loop() {
		total += killHolderMidCycle(b)
		n++
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/takeover")
	b.ReportMetric(0, "ns/op")
}
