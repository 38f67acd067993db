package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/emulator/scimserver"
)

// TestEndToEndManyJobs runs the built binary with `run --jobs DIR` holding three jobs against the
// emulated Graph: a and b provision two in-process targets, c sends a wrong token and is quarantined.
// The quarantined job delays neither of the others; every cycle line names its job; one /metrics and
// one /status list every job. SIGHUP after adding d and removing b starts d (its target converges)
// and stops b, leaving a and c running.
func TestEndToEndManyJobs(t *testing.T) {
	l := newLocalTarget(t, scimserver.Options{Token: "token-a"})
	jobs := filepath.Join(l.dir, "jobs")
	if err := os.Mkdir(jobs, 0o700); err != nil {
		t.Fatal(err)
	}
	targets := map[string]*scimserver.Server{"a": l.target}
	urls := map[string]string{"a": l.url}
	for _, name := range []string{"b", "c", "d"} {
		s := scimserver.New(scimserver.Options{Token: "token-" + name})
		urls[name] = s.Start()
		t.Cleanup(s.Close)
		targets[name] = s
	}
	write := func(name string) {
		t.Helper()
		body := fmt.Sprintf("name: %s\n%starget: {url: %s, tokenEnv: E2E_TOKEN_%s}\nusers: {preset: gong}\nschedule: \"@every 1s\"\nstate: %s\nlogging: {level: info, format: json}\n",
			name, l.source, urls[name], strings.ToUpper(name), filepath.Join(l.dir, name+".db"))
		if err := os.WriteFile(filepath.Join(jobs, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		write(name)
	}
	addr := freeAddr(t)
	env := append(os.Environ(), "E2E_GRAPH_SECRET=s", "E2E_TOKEN_A=token-a", "E2E_TOKEN_B=token-b",
		"E2E_TOKEN_C=not-the-token", "E2E_TOKEN_D=token-d")
	d := startDaemonProc(t, l.bin, env, "run", "--jobs", jobs, "--metrics-listen", addr, "--log-format", "json", "--max-concurrent", "2")
	logs := d.logs
	until := func(what string, cond func() bool) { t.Helper(); d.until(what, 90*time.Second, cond) }
	statuses := func() map[string]string {
		out := map[string]string{}
		var doc struct {
			Jobs []struct{ Job, Status string }
		}
		if err := json.Unmarshal([]byte(get(t, addr, "/status.json")), &doc); err == nil {
			for _, j := range doc.Jobs {
				out[j.Job] = j.Status
			}
		}
		return out
	}

	// c is quarantined; a and b keep their one-second schedule meanwhile.
	until("job c quarantined", func() bool { return statuses()["c"] == "Quarantine" })
	before := map[string]int{"a": cycleLines(logs.String(), "a"), "b": cycleLines(logs.String(), "b")}
	until("two more cycles of a and b after c's quarantine", func() bool {
		return cycleLines(logs.String(), "a") >= before["a"]+2 && cycleLines(logs.String(), "b") >= before["b"]+2
	})
	wantUsers := userNames(targets["a"])
	if len(wantUsers) == 0 || !slices.Equal(userNames(targets["b"]), wantUsers) {
		t.Fatalf("a and b provisioned different users: %v and %v", wantUsers, userNames(targets["b"]))
	}
	if n := len(targets["c"].Users()); n != 0 {
		t.Fatalf("the quarantined job wrote %d users", n)
	}
	metrics := get(t, addr, "/metrics")
	for _, want := range []string{`scimsync_cycles_total{job="a",result="success"}`, `scimsync_cycles_total{job="b",result="success"}`,
		`scimsync_quarantined{job="c"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for path, want := range map[string]string{"/status": `<a href="/jobs/c/status">c</a>`, "/jobs/a/status": "<h2>Last cycles</h2>",
		"/jobs/c/status.json": `"status": "Quarantine"`, "/healthz": "ok"} {
		if body := get(t, addr, path); !strings.Contains(body, want) {
			t.Errorf("GET %s lacks %q:\n%s", path, want, body)
		}
	}
	// every line a cycle logs names its job
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"cycle":`) && !strings.Contains(line, `"job":"`) {
			t.Fatalf("a cycle line without its job: %s", line)
		}
	}
	// `status --jobs DIR --job a` asks the daemon for that one job
	st := exec.Command(l.bin, "status", "--jobs", jobs, "--job", "a")
	st.Env = env
	if out, err := st.CombinedOutput(); err != nil || !strings.Contains(string(out), "job        a") {
		t.Fatalf("status --job a: %v\n%s", err, out)
	}

	// SIGHUP: d added, b removed
	bBefore := cycleLines(logs.String(), "b")
	write("d")
	if err := os.Remove(filepath.Join(jobs, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	until("the reload", func() bool { return strings.Contains(logs.String(), `"added":["d"],"removed":["b"]`) })
	until("d's target converged", func() bool { return slices.Equal(userNames(targets["d"]), wantUsers) })
	until("the status listing a, c and d", func() bool {
		s := statuses()
		_, hasB := s["b"]
		return len(s) == 3 && s["a"] == "Active" && s["d"] == "Active" && !hasB
	})
	aAfter := cycleLines(logs.String(), "a")
	until("a keeps cycling after the reload", func() bool { return cycleLines(logs.String(), "a") >= aAfter+2 })
	// at most the cycle in flight at the reload (cancelled) ends after it; a ran two since, b none
	if n := cycleLines(logs.String(), "b"); n > bBefore+1 {
		t.Errorf("the removed job b ran %d cycles after the reload", n-bBefore)
	}
	if strings.Contains(get(t, addr, "/metrics"), `job="b"`) {
		t.Error("/metrics still holds series of the removed job b")
	}

	d.stop()
	if strings.Contains(logs.String(), "token-a") || strings.Contains(logs.String(), "not-the-token") {
		t.Fatal("a secret reached the logs")
	}
}

// cycleLines counts the job's "cycle finished" lines.
func cycleLines(logs, job string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"msg":"cycle finished"`) && strings.Contains(line, `"job":"`+job+`"`) {
			n++
		}
	}
	return n
}

func get(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
