package status

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

// noStored is the Reader of a job whose state holds nothing yet.
func noStored(*config.Config, time.Time) (*Snapshot, error) { return nil, nil }

func TestLiveStatusPhases(t *testing.T) {
	l := NewLive(testCfg(t), noStored)
	l.Refresh(time.Now()) // a fresh install: no state file yet, which is not an error
	if s := l.Snapshot(10, time.Now()); s.StateError != "" || s.Status != "Active" || s.Phase != PhaseIdle || s.NextKind != "initial (no watermark)" {
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
	want := map[string]PhaseStatus{
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
	if s.Phase != PhaseIdle || s.Running || s.CycleID != "c1" || s.Phases[engine.PhaseUsers].State != "stopped" ||
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

func TestAsk(t *testing.T) {
	ctx := context.Background()
	t.Run("nothing listens", func(t *testing.T) {
		cfg := testCfg(t)
		if _, err := Ask(ctx, cfg, 10); !errors.Is(err, ErrNoDaemon) {
			t.Errorf("no socket, no metrics: %v, want errNoDaemon", err)
		}
		// A socket file left by a daemon that was killed: nobody accepts on it.
		ln, err := net.Listen("unix", Socket(cfg))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		ln2, err := net.Listen("tcp", "127.0.0.1:0") // an address nobody listens on once closed
		if err != nil {
			t.Fatal(err)
		}
		ln2.Close()
		cfg.Metrics = &config.Metrics{Listen: ln2.Addr().String()}
		if _, err := Ask(ctx, cfg, 10); !errors.Is(err, ErrNoDaemon) {
			t.Errorf("stale socket, metrics listener down: %v, want errNoDaemon", err)
		}
	})
	t.Run("something else answers", func(t *testing.T) {
		cfg := testCfg(t)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"hello":1}`) }))
		ln, err := net.Listen("unix", Socket(cfg))
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener = ln
		srv.Start()
		defer srv.Close()
		_, err = Ask(ctx, cfg, 10)
		if err == nil || errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), Socket(cfg)) {
			t.Errorf("a socket answering something else: %v, want an error naming the socket", err)
		}
	})
	t.Run("metrics listener", func(t *testing.T) {
		cfg := testCfg(t)
		l := NewLive(cfg, noStored)
		mux := http.NewServeMux()
		l.Routes(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		cfg.Metrics = &config.Metrics{Listen: ":" + port} // all interfaces: dialled on loopback
		s, err := Ask(ctx, cfg, 10)
		if err != nil || s.From != FromDaemon || s.Job != "job" || s.Phase != PhaseIdle {
			t.Errorf("through the metrics listener: %+v, %v", s, err)
		}
	})
}
