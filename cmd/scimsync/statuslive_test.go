package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
)

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
