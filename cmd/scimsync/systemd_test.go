package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndSystemdNotify runs the daemon with a notify socket and a watchdog, as systemd does for
// Type=notify and WatchdogSec=, and reads what it reports: READY=1, STATUS= lines around a cycle,
// WATCHDOG=1 pings, and STOPPING=1 on SIGTERM.
func TestEndToEndSystemdNotify(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "sd-token"})
	cfg := filepath.Join(l.dir, "job.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("name: sd\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}\nusers: {preset: gong}\nschedule: \"@every 1h\"\nstate: %s\nlogging: {level: warn, format: json}\n",
		l.source, l.url, filepath.Join(l.dir, "state.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(l.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(l.bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=sd-token", "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()

	idle := regexp.MustCompile(`^STATUS=idle, next cycle \d\d:\d\d$`)
	var seen []string
	want := map[string]bool{"READY=1": false, "STATUS=cycle running": false, "idle": false, "WATCHDOG=1": false}
	buf := make([]byte, 4096)
	// Up to 500 messages (the watchdog pings every 100 ms); the deadline only bounds a broken daemon.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for range 500 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading the notify socket: %v; got %q\n%s", err, seen, lastLines(logs.String(), 10))
		}
		msg := string(buf[:n])
		seen = append(seen, msg)
		if idle.MatchString(msg) {
			msg = "idle"
		}
		if _, ok := want[msg]; ok {
			want[msg] = true
		}
		if want["READY=1"] && want["STATUS=cycle running"] && want["idle"] && want["WATCHDOG=1"] {
			break
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("never received %s; got %q", k, seen)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1 after SIGTERM: %v", err)
		}
		if strings.TrimSpace(string(buf[:n])) == "STOPPING=1" {
			return
		}
	}
	t.Fatal("no STOPPING=1 after SIGTERM")
}
