package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/cmd/scimsync/internal/demo"
	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/store"
)

// chromiumDOM loads url in a real headless Chromium and returns the DOM it rendered: what a person
// sees, after the browser parsed the page, not the HTML the server sent. Chromium is required: the
// Makefile's test target installs it (Debian package chromium).
func chromiumDOM(t *testing.T, url string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found in PATH: install it (`apt-get install -y chromium`, which `make test` does): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// textOf is the visible text of the element with the given id in a dumped DOM, tags stripped (the
// elements looked up here hold no element of their own kind).
func textOf(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<(\w+)[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindStringSubmatchIndex(dom)
	if m == nil {
		t.Fatalf("the page has no element %q:\n%.3000s", id, dom)
	}
	tag := dom[m[2]:m[3]]
	rest := dom[m[1]:]
	end := strings.Index(rest, "</"+tag+">")
	if end < 0 {
		t.Fatalf("element %q is not closed", id)
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rest[:end], " ")), " ")
}

// statusJSON fetches /status.json from the daemon's metrics listener.
func statusJSON(t *testing.T, addr string) *status.Snapshot {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// cliOut runs one scimsync command in process.
func cliOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb strings.Builder
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestStatusPageInChromium runs the daemon against the demo's emulated tenant and target, holds its
// first cycle in the users phase (the target blocks the sixth user create until the test lets it go),
// and checks what the status page shows in Chromium, what `scimsync status` prints meanwhile (the
// state file is locked), and then the quarantine banner after the target starts refusing the token.
func TestStatusPageInChromium(t *testing.T) {
	const heldAt = 6 // the create the target holds: five users are done when it arrives
	held, release := make(chan struct{}), make(chan struct{})
	var posts atomic.Int32
	var refuse atomic.Bool
	fault := func(r *http.Request) *scimserver.Fault {
		if refuse.Load() {
			return &scimserver.Fault{Status: http.StatusUnauthorized, Body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"the bearer token was revoked"}`}
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Users") && posts.Add(1) == heldAt {
			close(held)
			<-release
		}
		return nil
	}
	// A short directory: the status socket's path must fit in a sockaddr_un.
	dir, err := os.MkdirTemp("", "ssp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	metrics := freeAddr(t)
	e, err := demo.Start(dir, demo.Options{Metrics: metrics, Fault: fault})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	// One request at a time, so that "five done" is exact when the sixth create is held.
	raw, _ := os.ReadFile(e.ConfigPath)
	if err := os.WriteFile(e.ConfigPath, []byte(strings.Replace(string(raw), "concurrency: 4", "concurrency: 1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	// startDaemon runs the daemon in process; wait returns when its first cycle ended, stop ends it.
	startDaemon := func() (wait, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		cycled := make(chan struct{})
		h := &daemon.Host{File: e.ConfigPath, Wiring: nopLogWiring{}, Status: readStored, Cycled: cycled}
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		wait = func() {
			t.Helper()
			select {
			case <-cycled:
			case err := <-done:
				t.Fatalf("the daemon stopped before its cycle ended: %v", err)
			case <-time.After(2 * time.Minute):
				t.Fatal("the daemon's cycle did not end within 2 minutes")
			}
		}
		stop = func() {
			t.Helper()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("daemon: %v", err)
			}
		}
		return wait, stop
	}

	// 1. Mid-cycle.
	waitCycle, stop := startDaemon()
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		t.Fatal("the cycle never reached the sixth create")
	}
	if _, err := openState(cfg, true); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("the state file should be locked by the running cycle; opening it read-only gave %v", err)
	}
	s := statusJSON(t, metrics)
	users := s.Phases["users"]
	if s.Phase != "users" || !s.Running || users.Done != heldAt-1 || users.State != "running" || s.Created != heldAt-1 || s.Failed != 0 {
		t.Errorf("/status.json mid-cycle: phase %q running %v, users %+v, created %d failed %d; want users running with %d done and created",
			s.Phase, s.Running, users, s.Created, s.Failed, heldAt-1)
	}
	for _, p := range []string{"reading", "matching"} {
		if s.Phases[p].State != "done" {
			t.Errorf("phase %s is %q mid-users, want done", p, s.Phases[p].State)
		}
	}
	total := users.Total

	dom := chromiumDOM(t, "http://"+metrics+"/status")
	progress := regexp.MustCompile(`<tr id="phase-users">.*?<progress value="(\d+)" max="(\d+)"`).FindStringSubmatch(strings.ReplaceAll(dom, "\n", " "))
	if progress == nil || progress[1] != fmt.Sprint(heldAt-1) || progress[2] != fmt.Sprint(total) {
		t.Errorf("users progress bar = %v, want value %d max %d", progress, heldAt-1, total)
	}
	if got := textOf(t, dom, "cycle"); !strings.HasPrefix(got, "Cycle running since ") || !strings.HasSuffix(got, ": users") {
		t.Errorf("cycle heading = %q", got)
	}
	if got, want := textOf(t, dom, "phase-reading"), "reading Graph done done"; got != want {
		t.Errorf("reading row = %q, want %q", got, want)
	}
	if got, want := textOf(t, dom, "counts"), fmt.Sprintf("So far: %d created, 0 matched, 0 updated, 0 disabled, 0 deleted, 0 failed.", heldAt-1); got != want {
		t.Errorf("counts = %q, want %q", got, want)
	}
	if strings.Contains(dom, `id="quarantine"`) {
		t.Error("a quarantine banner while the job is active")
	}
	if !strings.Contains(dom, `http-equiv="refresh"`) {
		t.Error("the page does not refresh itself")
	}

	// `scimsync status` asks the daemon (through the socket) while the cycle holds the state file.
	out, err := cliOut(t, "status", "--config", e.ConfigPath)
	if err != nil {
		t.Fatalf("status mid-cycle: %v\n%s", err, out)
	}
	wantLines(t, out, "status     Active\n", "cycle      ", " running since ", ": users\n",
		fmt.Sprintf("users         running  %d/%d\n", heldAt-1, total), fmt.Sprintf("so far: %d created,", heldAt-1))
	out, err = cliOut(t, "status", "-o", "json", "--config", e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var js status.Snapshot
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.From != "daemon" || js.Phase != "users" || js.Phases["users"].Done != heldAt-1 {
		t.Errorf("status -o json mid-cycle (err %v): from %q phase %q users %+v", err, js.From, js.Phase, js.Phases["users"])
	}

	close(release)
	waitCycle()
	stop()
	// The total the page showed is what the target holds now: every in-scope user, created.
	if n := len(e.Target.Users()); n != total {
		t.Errorf("the target holds %d users; the users phase said %d", n, total)
	}

	// 2. Quarantined: the target refuses the token, and a changed user needs a PATCH.
	refuse.Store(true)
	id, _ := e.Tenant.Users[0]["id"].(string)
	if err := e.Graph.UpdateUser(id, map[string]any{"jobTitle": "Chief Status Officer"}); err != nil {
		t.Fatal(err)
	}
	waitCycle, stop = startDaemon()
	waitCycle()
	dom = chromiumDOM(t, "http://"+metrics+"/status")
	stop()
	banner := textOf(t, dom, "quarantine")
	for _, want := range []string{"Quarantined since", "(EncounteredQuarantineException)", "The target app refused scimsync",
		"Cause:", "401", "`scimsync sync` retries at once", "Next attempt"} {
		if !strings.Contains(banner, want) {
			t.Errorf("quarantine banner lacks %q: %q", want, banner)
		}
	}
	if got := textOf(t, dom, "status"); got != "Quarantine" {
		t.Errorf("status = %q, want Quarantine", got)
	}
	if rows := strings.Count(textOf(t, dom, "cycles"), "incremental") + strings.Count(textOf(t, dom, "cycles"), "initial"); rows != 2 {
		t.Errorf("the last-cycles table shows %d cycles, want 2:\n%s", rows, textOf(t, dom, "cycles"))
	}
	// With no daemon, status reads the state file and says the same.
	out, err = cliOut(t, "status", "--config", e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, out, "status     Quarantine: EncounteredQuarantineException since ", "The target app refused scimsync")
	if strings.Contains(out, "cycle      ") {
		t.Error("the state-file status shows a live cycle")
	}
}

// nopLogWiring is the daemon's wiring with a logger that writes nothing.
type nopLogWiring struct{ wiring }

func (nopLogWiring) Logger(*config.Config) (*zap.Logger, error) { return zap.NewNop(), nil }
