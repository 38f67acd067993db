package main

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// daemonProc is the built binary running `run` for an end-to-end test, its stderr captured.
type daemonProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// startDaemonProc starts bin with args and env; the test's cleanup kills it if it still runs.
func startDaemonProc(t testing.TB, bin string, env []string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(bin, args...), logs: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd.Env = env
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill() }) // a no-op once it has exited
	return d
}

// until polls cond (observable state, not time) until it holds or the budget runs out; the daemon
// exiting meanwhile fails the test.
func (d *daemonProc) until(what string, budget time.Duration, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(budget)
	for !cond() {
		select {
		case err := <-d.done:
			d.t.Fatalf("the daemon exited while waiting for %s: %v\n%s", what, err, lastLines(d.logs.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: not within %s\n%s", what, budget, lastLines(d.logs.String(), 30))
		}
	}
}

func (d *daemonProc) signal(s syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		d.t.Fatal(err)
	}
}

// stop sends SIGTERM and wants a clean exit within 30 s.
func (d *daemonProc) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Fatalf("the daemon did not stop cleanly: %v\n%s", err, lastLines(d.logs.String(), 20))
		}
	case <-time.After(30 * time.Second):
		d.t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
}
