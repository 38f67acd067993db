package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/daemon/status"
)

// TestEndToEndDemoServe follows a new user: `demo --serve`, then the commands it suggests against the
// printed configuration (status without a daemon, then `run` and status asking it), then Ctrl-C.
func TestEndToEndDemoServe(t *testing.T) {
	bin := binary(t)
	demo := exec.Command(bin, "demo", "--serve")
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	demoErr := &syncBuffer{}
	demo.Stderr = demoErr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = demo.Process.Kill() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var cfg string
	var printed []string
	for cfg == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo --serve ended before printing its configuration:\n%s\n%s", strings.Join(printed, "\n"), demoErr.String())
			}
			printed = append(printed, l)
			if c, ok := strings.CutPrefix(l, "config: "); ok {
				cfg = c
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("demo --serve printed no configuration within 2 minutes:\n%s", strings.Join(printed, "\n"))
		}
	}
	if !strings.Contains(strings.Join(printed, "\n"), "scimsync run --config "+cfg) {
		t.Errorf("demo --serve does not suggest the daemon:\n%s", strings.Join(printed, "\n"))
	}

	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--config", cfg)...).CombinedOutput()
		if err != nil {
			t.Fatalf("scimsync %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// No daemon: the state file the first cycle left.
	out := run("status")
	wantLines(t, out, "job        demo\n", "status     Active\n", "next cycle incremental\n", "last cycles:\n")
	if strings.Contains(out, "linked     0 users") || strings.Contains(out, "cycle      ") {
		t.Errorf("status without a daemon:\n%s", out)
	}
	run("logs")

	// The daemon: it tells systemd's notify socket when it is ready (the status socket listens by then).
	ndir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(ndir)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(ndir, "n"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	daemon := exec.Command(bin, "run", "--config", cfg)
	daemon.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(ndir, "n"))
	daemonErr := &syncBuffer{}
	daemon.Stderr = daemonErr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill() })
	_ = notify.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for buf := make([]byte, 256); ; {
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("the daemon never said READY=1: %v\n%s", err, daemonErr.String())
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			break
		}
	}
	var s status.Snapshot
	out = run("status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.From != status.FromDaemon || s.Job != "demo" || s.Phases == nil || s.LinkedUsers == 0 {
		t.Errorf("status -o json with the daemon running (err %v):\n%s", err, out)
	}
	wantLines(t, run("status"), "cycle      ")

	if err := daemon.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Errorf("the daemon did not exit cleanly on SIGINT: %v\n%s", err, daemonErr.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "demo.db.sock")); err == nil {
		t.Error("the daemon left its status socket behind")
	}

	// Ctrl-C stops the demo: exit 0, files removed.
	if err := demo.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		printed = append(printed, l)
	}
	if err := demo.Wait(); err != nil {
		t.Fatalf("demo --serve did not exit cleanly on SIGINT: %v\n%s", err, demoErr.String())
	}
	if printed[len(printed)-1] != "stopped" {
		t.Errorf("demo --serve's last line = %q, want stopped", printed[len(printed)-1])
	}
	if _, err := os.Stat(cfg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the demo's configuration outlived it: %v", err)
	}
}
