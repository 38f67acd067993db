package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndReloadEverything: SIGHUP applies the schedule, the logging level and format and the
// metrics listener of the edited file to the running daemon, and refuses a change of the state file,
// naming the key. Everything is observed from outside: the log lines on stderr, and the metrics
// listeners over HTTP (the old address stops answering, the new one counts the cycles).
func TestEndToEndReloadEverything(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "reload-token"})
	state := filepath.Join(l.dir, "state.db")
	cfg := filepath.Join(l.dir, "job.yaml")
	write := func(schedule, logging, listen, statePath string) {
		t.Helper()
		body := fmt.Sprintf("name: reload\n%starget: {url: %s, tokenEnv: E2E_TARGET_TOKEN}\nusers: {preset: gong}\nschedule: %q\nstate: %s\nlogging: %s\nmetrics: {listen: %q}\n",
			l.source, l.url, schedule, statePath, logging, listen)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The new listener takes any free port on another loopback address; the log says which.
	oldAddr, newListen := freeAddr(t), "127.0.0.2:0"
	write("@every 1h", "{level: warn, format: json}", oldAddr, state)

	d := startDaemonProc(t, l.bin, append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TARGET_TOKEN=reload-token", "NO_COLOR=1"), "run", "--config", cfg)
	logs, until := d.logs, d.until
	successes := regexp.MustCompile(`(?m)^scimsync_cycles_total\{job="reload",result="success"\} (\d+)`)
	cycles := func(addr string) int {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := successes.FindSubmatch(body)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	until("the first cycle on the old metrics address", 60*time.Second, func() bool { return cycles(oldAddr) >= 1 })
	if strings.Contains(logs.String(), "cycle finished") {
		t.Fatalf("an info line at level warn:\n%s", logs.String())
	}

	// A new state file needs a restart: refused, naming the key; the daemon goes on as before.
	write("@every 1h", "{level: warn, format: json}", oldAddr, filepath.Join(l.dir, "other.db"))
	d.signal(syscall.SIGHUP)
	until("the refusal naming the state key", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), `"key":"state"`) && strings.Contains(logs.String(), "needs a restart")
	})
	if cycles(oldAddr) < 1 {
		t.Fatal("the refused reload stopped the metrics listener")
	}

	// A metrics address in use: refused, naming the key, nothing applied (the schedule stays hourly).
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write("@every 1s", "{level: warn, format: json}", busy.Addr().String(), state)
	d.signal(syscall.SIGHUP)
	until("the refusal naming metrics.listen", 10*time.Second, func() bool { return strings.Contains(logs.String(), `"key":"metrics.listen"`) })
	if strings.Contains(logs.String(), "configuration reloaded") || cycles(oldAddr) != 1 {
		t.Fatalf("a refused reload was applied (or the old listener lost):\n%s", logs.String())
	}

	// Schedule, logging and the metrics address change together.
	before := len(logs.String())
	write("@every 1s", "{level: info, format: console}", newListen, state)
	d.signal(syscall.SIGHUP)
	until("the reload", 10*time.Second, func() bool { return strings.Contains(logs.String()[before:], "configuration reloaded") })
	after := logs.String()[before:]
	if !strings.Contains(after, `"changed": ["schedule", "logging", "metrics.listen"]`) {
		t.Errorf("the reload line does not name the changed keys:\n%s", after)
	}
	listening := regexp.MustCompile(`metrics listening\t\{(?:"job": "reload", )?"addr": "(127\.0\.0\.2:\d+)"\}`)
	var newAddr string
	until("the new metrics listener", 10*time.Second, func() bool {
		if m := listening.FindStringSubmatch(logs.String()[before:]); m != nil {
			newAddr = m[1]
		}
		return newAddr != ""
	})
	until("a cycle on the new schedule, counted on the new address", 30*time.Second, func() bool { return cycles(newAddr) >= 2 })
	until("the old metrics address to close", 10*time.Second, func() bool { return cycles(oldAddr) < 0 })
	// The new logger: info lines in console format ("<time>\tINFO\t<caller>\t<message>\t{...}"), no JSON.
	until("a console-format cycle line", 30*time.Second, func() bool {
		for _, line := range strings.Split(logs.String()[before:], "\n") {
			if strings.Contains(line, "\tINFO\t") && strings.Contains(line, "\tcycle finished\t") && !strings.HasPrefix(line, "{") {
				return true
			}
		}
		return false
	})
	for _, line := range strings.Split(logs.String()[before:], "\n") {
		if strings.HasPrefix(line, "{") {
			t.Errorf("a JSON line after the reload to console format: %s", line)
		}
	}
	d.stop()
}
