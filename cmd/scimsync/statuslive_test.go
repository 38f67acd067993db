package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
)

func testCfg(t *testing.T) *config.Config {
	t.Helper()
	dir, err := os.MkdirTemp("", "sst")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &config.Config{Name: "job", File: filepath.Join(dir, "job.yaml"), StatePath: filepath.Join(dir, "state.db")}
}

func TestLiveStatusPhases(t *testing.T) {
	l := status.NewLive(testCfg(t), readStored)
	l.Refresh(time.Now()) // a fresh install: no state file yet, which is not an error
	if s := l.Snapshot(10, time.Now()); s.StateError != "" || s.Status != "Active" || s.Phase != status.PhaseIdle || s.NextKind != "initial (no watermark)" {
		t.Fatalf("before any cycle: %+v", s)
	}
	l.Begin()
	l.Start(engine.PhaseReading, 0)
	l.Start(engine.PhaseMatching, 10)
	l.Done(10)
	l.Start(engine.PhaseUsers, 4)
	l.Done(1)
	l.Outcome(plan.Create, false)
	l.Done(1)
	l.Outcome(plan.Update, true)
	s := l.Snapshot(10, time.Now())
	if s.Phase != engine.PhaseUsers || !s.Running || s.Created != 1 || s.Failed != 1 || s.Updated != 0 {
		t.Fatalf("mid-cycle: %+v", s)
	}
	want := map[string]status.PhaseStatus{
		engine.PhaseReading: {Label: "reading Graph", State: "done"}, engine.PhaseMatching: {Label: "matching", State: "done", Done: 10, Total: 10},
		engine.PhaseUsers: {Label: "users", State: "running", Done: 2, Total: 4}, engine.PhaseGroups: {Label: "groups", State: "pending"},
		engine.PhaseMemberships: {Label: "memberships", State: "pending"}, engine.PhaseManagers: {Label: "managers", State: "pending"},
	}
	if fmt.Sprint(s.Phases) != fmt.Sprint(want) {
		t.Errorf("phases:\n%v\nwant\n%v", s.Phases, want)
	}

	// The target stopped answering during users: that phase stopped, the later ones never ran.
	l.End(&engine.Result{Ran: true, Report: &engine.Report{CycleID: "c1"}}, errors.New("target unreachable"))
	s = l.Snapshot(10, time.Now())
	if s.Phase != status.PhaseIdle || s.Running || s.CycleID != "c1" || s.Phases[engine.PhaseUsers].State != "stopped" ||
		s.Phases[engine.PhaseManagers].State != "not run" || s.LastSuccess != nil || s.Created != 1 {
		t.Errorf("after a failed cycle: %+v", s)
	}

	// A skipped tick (quarantine backoff) leaves the page as the last cycle left it.
	l.Begin()
	l.End(&engine.Result{Ran: false}, nil)
	if again := l.Snapshot(10, time.Now()); again.CycleID != "c1" || again.Running || fmt.Sprint(again.Phases) != fmt.Sprint(s.Phases) || again.Created != 1 {
		t.Errorf("a skipped cycle changed the status: %+v", again)
	}

	// A cycle that finished is the last success.
	l.Begin()
	fin := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	l.End(&engine.Result{Ran: true, Report: &engine.Report{CycleID: "c2", Finished: fin}}, nil)
	if s := l.Snapshot(10, time.Now()); s.LastSuccess == nil || !s.LastSuccess.Equal(fin) || s.Created != 0 {
		t.Errorf("after a good cycle: last success %v, created %d", s.LastSuccess, s.Created)
	}
}

func TestLiveStatusKeepsLastReadWhenTheStateIsLocked(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, time.Now().Add(-time.Hour)) })
	cfg, err := loadConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := status.NewLive(cfg, readStored)
	l.Refresh(time.Now())
	st, err := store.Open(e.state, store.Options{}) // a manual sync holds the state file
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l.Refresh(time.Now())
	s := l.Snapshot(10, time.Now())
	if !strings.Contains(s.StateError, "a cycle is running") {
		t.Errorf("no state error while the state file is locked: %+v", s)
	}
	if s.Quarantine == nil || s.Staged != 2 || len(s.Escrows) != 1 || s.LinkedUsers != 3 {
		t.Errorf("the last read was lost: %+v", s)
	}
}

func TestAskDaemon(t *testing.T) {
	ctx := context.Background()
	t.Run("nothing listens", func(t *testing.T) {
		cfg := testCfg(t)
		if _, err := status.Ask(ctx, cfg, 10); !errors.Is(err, status.ErrNoDaemon) {
			t.Errorf("no socket, no metrics: %v, want errNoDaemon", err)
		}
		// A socket file left by a daemon that was killed: nobody accepts on it.
		ln, err := net.Listen("unix", status.Socket(cfg))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		cfg.Metrics = &config.Metrics{Listen: freeAddr(t)}
		if _, err := status.Ask(ctx, cfg, 10); !errors.Is(err, status.ErrNoDaemon) {
			t.Errorf("stale socket, metrics listener down: %v, want errNoDaemon", err)
		}
	})
	t.Run("something else answers", func(t *testing.T) {
		cfg := testCfg(t)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"hello":1}`) }))
		ln, err := net.Listen("unix", status.Socket(cfg))
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener = ln
		srv.Start()
		defer srv.Close()
		_, err = status.Ask(ctx, cfg, 10)
		if err == nil || errors.Is(err, status.ErrNoDaemon) || !strings.Contains(err.Error(), status.Socket(cfg)) {
			t.Errorf("a socket answering something else: %v, want an error naming the socket", err)
		}
	})
	t.Run("metrics listener", func(t *testing.T) {
		cfg := testCfg(t)
		l := status.NewLive(cfg, readStored)
		mux := http.NewServeMux()
		l.Routes(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		cfg.Metrics = &config.Metrics{Listen: ":" + port} // all interfaces: dialled on loopback
		s, err := status.Ask(ctx, cfg, 10)
		if err != nil || s.From != status.FromDaemon || s.Job != "job" || s.Phase != status.PhaseIdle {
			t.Errorf("through the metrics listener: %+v, %v", s, err)
		}
	})
}

func TestStatusOutputFlag(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, time.Now().Add(-time.Hour)) })
	_, err := e.cli(t, "status", "-o", "yaml")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("status -o yaml: %v, want exit 2 naming text and json", err)
	}
	out, err := e.cli(t, "status", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"from": "state file"`, `"phase": "idle"`, `"reason": "TooManyDeletes"`, `"staged": 2`, `"sourceId": "src-fay"`} {
		if !strings.Contains(out, want) {
			t.Errorf("status -o json lacks %s", want)
		}
	}
}

// TestStatusPageHoldInChromium shows a deletion-threshold hold as a person sees it: the banner in
// plain words with the commands, the escrow and the staged deletions.
func TestStatusPageHoldInChromium(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, time.Now().Add(-time.Hour)) })
	cfg, err := loadConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := status.NewLive(cfg, readStored)
	l.Refresh(time.Now())
	mux := http.NewServeMux()
	l.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dom := chromiumDOM(t, srv.URL+"/status")
	banner := textOf(t, dom, "quarantine")
	for _, want := range []string{"Quarantined since", "(TooManyDeletes)", "wanted to disable or delete", "nothing was disabled or deleted",
		"scimsync logs --action StagedDelete", "scimsync allow-deletes"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q: %q", want, banner)
		}
	}
	if got := textOf(t, dom, "staged"); got != "2" {
		t.Errorf("staged deletions = %q, want 2", got)
	}
	staged := textOf(t, dom, "staged-ops")
	for _, want := range []string{"disable user src-bob t-bob", "disable user src-cy t-cy"} {
		if !strings.Contains(staged, want) {
			t.Errorf("staged table lacks %q: %q", want, staged)
		}
	}
	if esc := textOf(t, dom, "escrows"); !strings.Contains(esc, "user src-fay create 3 InternalServerError") {
		t.Errorf("escrow table: %q", esc)
	}
	if got := textOf(t, dom, "cycle"); got != "Idle" {
		t.Errorf("cycle heading = %q, want Idle", got)
	}
}

// TestTerminalProgressEveryPhase: sync's bar shows each phase as it starts (a spinner while reading
// Graph, whose size is unknown) and clears it when the next begins; a phase with nothing to do shows none.
func TestTerminalProgressEveryPhase(t *testing.T) {
	var b strings.Builder
	p := &terminalProgress{w: &b}
	p.Start(engine.PhaseReading, 0)
	p.Start(engine.PhaseMatching, 3)
	p.Done(3)
	p.Start(engine.PhaseUsers, 2)
	p.Done(2)
	p.Start(engine.PhaseManagers, 0)
	p.finish()
	out := b.String()
	last := -1
	for _, want := range []string{"reading Graph", "matching", "(0/3)", "users", "(0/2)"} {
		i := strings.Index(out, want)
		if i <= last {
			t.Fatalf("%q missing or out of order in %q", want, out)
		}
		last = i
	}
	if strings.Contains(out, "managers") {
		t.Errorf("a bar for a phase with nothing to do: %q", out)
	}
	if !strings.HasSuffix(out, "\r") {
		t.Errorf("the last bar is not cleared: %q", out)
	}
}
