package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/graphapi"
)

// dbProxy forwards TCP connections to PostgreSQL until it is cut: then it closes every connection it
// carries and each new one at once, as a network partition between one replica and the database
// would, without touching the database the other replicas use.
type dbProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func startDBProxy(t testing.TB, to string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, to: to, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *dbProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go pipe(up, c)
	go pipe(c, up)
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track registers a connection pair, or reports false while the proxy is cut.
func (p *dbProxy) track(c ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, x := range c {
		p.conns[x] = true
	}
	return true
}

func (p *dbProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// folderVia copies the jobs folder with the database reached through addr instead, for a replica
// whose road to the database can be cut: the same jobs and the same database, another route.
func (e *jobsEnv) folderVia(addr string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "jobs-via-proxy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	direct := "127.0.0.1:" + strconv.Itoa(pgSrv.Port)
	for _, name := range e.names {
		raw, err := os.ReadFile(filepath.Join(e.dir, name+".yaml"))
		if err != nil {
			e.t.Fatal(err)
		}
		body := strings.ReplaceAll(string(raw), e.dbURL, strings.Replace(e.dbURL, direct, addr, 1))
		if body == string(raw) {
			e.t.Fatalf("job %s: the state url %s is not in its file", name, e.dbURL)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

func healthz(addr string) int {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestReplicasPartitionedFromDatabase: of two replicas sharing 4 jobs, one loses its connection to
// the database in the middle of its creates. It stops its cycles once it can no longer trust its
// leases, says so on /healthz (503) and runs nothing; the other takes every job over once the leases
// expired and every target converges with no duplicate. When the road is back, nothing of the cut-off
// replica's old cycles reaches a target, and it rejoins and takes its share again.
func TestReplicasPartitionedFromDatabase(t *testing.T) {
	e := newJobsEnv(t, jobsOptions{jobs: 4, tenant: graphapi.SampleTenant(), ttl: jobsTTL, claim: jobsClaim, concurrency: 2})
	budget := 90 * time.Second // bounds a hung test; nothing is timed against it
	want := e.expected()
	proxy := startDBProxy(t, "127.0.0.1:"+strconv.Itoa(pgSrv.Port))
	addr := freeAddr(t)
	a := startDaemonProc(t, e.bin, e.env, "run", "--jobs", e.folderVia(proxy.ln.Addr().String()), "--log-format", "json",
		"--claim-interval", e.claim.String(), "--metrics-listen", addr)
	b := e.start()
	pidA := a.cmd.Process.Pid
	a.until("the jobs converged and spread", budget, func() bool {
		return e.converged(want) && e.linked(want) && e.spread(a, b)
	})
	before := len(want)
	e.slow.Store(true)
	e.addToScope(6)
	want = e.expected()
	var mid string
	a.until("a mid-cycle", budget, func() bool {
		for job, pid := range e.holders() {
			if n := e.userCount(job); pid == pidA && n > before && n < len(want) {
				mid = job
				return true
			}
		}
		return false
	})
	cut := map[string]bool{}
	for job, pid := range e.holders() {
		cut[job] = pid == pidA
	}
	proxy.setCut(true)
	e.slow.Store(false)
	t.Logf("cut a (pid %d) from the database while job %s had %d of %d users", pidA, mid, e.userCount(mid), len(want))
	a.until("a to report it cannot claim", budget, func() bool { return healthz(addr) == http.StatusServiceUnavailable })
	b.until("b to take every job and the targets to converge", budget, func() bool {
		return e.spread(b) && e.converged(want) && e.linked(want)
	})
	a.until("a's cycles to stop", budget, func() bool { return strings.Contains(a.logs.String(), `"cycle failed"`) })

	// From here the targets' state is final: any write is a's stale cycle.
	writes := map[string]int64{}
	for _, job := range e.names {
		writes[job] = e.targets[job].posts.Load()
	}
	proxy.setCut(false)
	a.until("a to rejoin and take its share", budget, func() bool {
		return healthz(addr) == http.StatusOK && e.spread(a, b)
	})
	b.until("a cycle of every job after a rejoined", budget, func() bool { return e.converged(want) && e.linked(want) })
	for _, job := range e.names {
		if n := e.targets[job].posts.Load(); n != writes[job] {
			t.Errorf("job %s: %d user creates after the partition ended, on a converged target", job, n-writes[job])
		}
	}
	a.stop()
	b.stop()
	e.check(want)
	e.checkPosts(len(want), cut)
}
