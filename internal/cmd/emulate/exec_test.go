package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// childEnv makes this test binary the child of TestExecReportsTheChild: it touches childMiB of
// memory and exits with code 3.
const childEnv = "EMULATE_EXEC_TEST_CHILD"

const childMiB = 64

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "kill" {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		select {}
	}
	if os.Getenv(childEnv) != "" {
		b := make([]byte, childMiB<<20)
		for i := range b {
			if i%4096 == 0 {
				b[i] = 1
			}
		}
		runtime.KeepAlive(b)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestExecReportsTheChild runs a command through runExec: its pid is written while it runs, its exit
// code comes back, and its usage counts the memory it touched and the CPU it spent.
func TestExecReportsTheChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the harness measures on Linux; ru_maxrss differs elsewhere")
	}
	dir := t.TempDir()
	pidFile, usageFile := filepath.Join(dir, "pid"), filepath.Join(dir, "usage.json")
	t.Setenv(childEnv, "1")
	code, err := runExec(pidFile, usageFile, []string{os.Args[0], "-test.run=^$"})
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code %d, want the child's 3", code)
	}
	raw, err := os.ReadFile(pidFile)
	if pid, perr := strconv.Atoi(string(raw)); err != nil || perr != nil || pid <= 0 {
		t.Errorf("pid file %q: %v %v", raw, err, perr)
	}
	raw, err = os.ReadFile(usageFile)
	if err != nil {
		t.Fatal(err)
	}
	var u Usage
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("usage %q: %v", raw, err)
	}
	if u.MaxRSS < childMiB<<20 || u.CPU <= 0 || u.LauncherRSS <= 0 {
		t.Errorf("usage %+v: want maxRss at least %d MiB, some CPU and the launcher's RSS", u, childMiB)
	}
}

// TestExecChildKilled: a command killed by a signal (as the kernel kills one out of memory) fails the
// launcher, and its usage is still written.
func TestExecChildKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the harness measures on Linux")
	}
	dir := t.TempDir()
	t.Setenv(childEnv, "kill")
	code, err := runExec(filepath.Join(dir, "pid"), filepath.Join(dir, "usage.json"), []string{os.Args[0], "-test.run=^$"})
	if code == 0 || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("code %d, err %v: want a failure naming the signal", code, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "usage.json")); err != nil {
		t.Errorf("no usage written: %v", err)
	}
}

func TestExecNeedsItsFiles(t *testing.T) {
	if code, err := runExec("", "u", []string{"true"}); err == nil || code == 0 {
		t.Errorf("no pid file: code %d, err %v", code, err)
	}
	if code, err := runExec("p", "u", nil); err == nil || code == 0 {
		t.Errorf("no command: code %d, err %v", code, err)
	}
}
