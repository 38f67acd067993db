package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
)

// Usage is what `emulate exec` writes once its command has exited: the command's own peak RSS and
// CPU, as the kernel counted them for it alone.
type Usage struct {
	// MaxRSS is the command's peak resident memory in bytes, its last moment included, which the
	// harness's sampling of /proc every 20 ms cannot see (a state file compacted or measured on the
	// way out). It is never below LauncherRSS (see runExec).
	MaxRSS int64 `json:"maxRss"`
	// LauncherRSS is this launcher's own peak RSS when it started the command: a MaxRSS at or below
	// it says only that the command's peak was no higher.
	LauncherRSS int64 `json:"launcherRss"`
	// CPU is the command's user and system CPU time (nanoseconds).
	CPU int64 `json:"cpu"`
}

// runExec runs argv as a child of this small process and writes the child's pid to pidFile once it
// started and its Usage to usageFile once it exited; it returns the child's exit code.
//
// The kernel's maxrss of a process (wait4) is the largest of its own peak and that of the memory it
// started from: Go starts a child with vfork, sharing the parent's memory until exec, so a child of
// the harness (hundreds of MiB once it holds recordings) reports the harness's peak. Started from
// this launcher, a child's maxrss is at most the launcher's, a few MiB, and LauncherRSS says which.
func runExec(pidFile, usageFile string, argv []string) (int, error) {
	if pidFile == "" || usageFile == "" || len(argv) == 0 {
		return 1, errors.New("usage: emulate exec -pidfile FILE -usage FILE -- command [args]")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	launcher := selfMaxRSS()
	// Signals for the launcher are the command's: the harness sees one process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	if err := writeFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid))); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 1, err
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 1, err
	}
	u := Usage{LauncherRSS: launcher}
	u.MaxRSS, u.CPU = childUsage(cmd.ProcessState)
	raw, err := json.Marshal(u)
	if err != nil {
		return 1, err
	}
	if err := writeFile(usageFile, raw); err != nil {
		return 1, err
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code, nil
	}
	// Killed by a signal (an OOM kill in a memory cgroup): ExitCode is -1, which must not read as success.
	return 1, fmt.Errorf("%s: %s", argv[0], cmd.ProcessState)
}

// writeFile writes data to path whole or not at all (a reader polling path never sees half of it).
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".emulate-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
