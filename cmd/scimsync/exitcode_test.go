package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/job"
)

// TestCodeOf: a job's error kinds become exit codes 2 and 3; a code a command set itself wins over the
// kind of a job error it wraps; an error with neither has no code (main then exits 2).
func TestCodeOf(t *testing.T) {
	cause := errors.New("state locked")
	aborted := &job.Error{Kind: job.KindAborted, Err: cause}
	cases := []struct {
		name  string
		err   error
		code  int
		cause error
		ok    bool
	}{
		{"job config", fmt.Errorf("open: %w", &job.Error{Kind: job.KindConfig, Err: cause}), exitConfig, cause, true},
		{"job aborted", aborted, exitAborted, cause, true},
		{"command's code over the job's", withCode(exitFailures, fmt.Errorf("quarantined: %w", aborted)), exitFailures, nil, true},
		{"neither", cause, 0, nil, false},
	}
	for _, c := range cases {
		code, got, ok := codeOf(c.err)
		if code != c.code || ok != c.ok || (c.cause != nil && got != c.cause) {
			t.Errorf("%s: %d %v %v, want %d %v %v", c.name, code, got, ok, c.code, c.cause, c.ok)
		}
	}
}

// A --memory-target that is not a size is a usage error (exit 2) naming the flag and the value, for
// every command, before the command runs.
func TestBadMemoryTargetExits2(t *testing.T) {
	_, _, err := runCLI("--memory-target", "lots", "version")
	if exitCode(err) != exitConfig || err == nil || !strings.Contains(err.Error(), `--memory-target "lots"`) {
		t.Fatalf("version --memory-target lots: exit %d, %v; want exit 2 naming the flag", exitCode(err), err)
	}
	if _, _, err := runCLI("--memory-target", "0", "version"); err != nil {
		t.Fatalf("version --memory-target 0: %v", err)
	}
}
