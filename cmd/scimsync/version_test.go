package main

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/quarantine"
)

func TestVersionCommandAndFlag(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		root := newRootCmd()
		var out strings.Builder
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "scimsync ") || !strings.Contains(out.String(), runtime.Version()) || !strings.Contains(out.String(), "commit ") {
			t.Errorf("%v printed %q", args, out.String())
		}
	}
}

func TestVersionFromLdflags(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.4.0", "0123456789abcdef0123"
	b := currentBuild()
	if got, want := b.String(), "scimsync v1.4.0 (commit 0123456789ab, "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := b.userAgent(); got != "scimsync/1.4.0 (+https://github.com/scimsync/scimsync)" {
		t.Errorf("userAgent() = %q", got)
	}
}

// TestSyncExitCode: the table of docs/commands.md. A quarantine the cycle entered exits 1; a cycle that could not
// run exits 3 even when the job was already quarantined.
func TestSyncExitCode(t *testing.T) {
	q := &store.Quarantine{Reason: quarantine.ReasonQuarantineException}
	fatal := fmt.Errorf("update user: %w", scimclient.ErrUnauthorized)
	cases := []struct {
		name string
		res  *engine.Result
		err  error
		want int
	}{
		{"success", &engine.Result{Ran: true}, nil, exitOK},
		{"quarantined by a rejected token", &engine.Result{Ran: true, Quarantine: q}, fatal, exitFailures},
		{"aborted, not quarantined", &engine.Result{Ran: true}, fmt.Errorf("%w: read users", engine.ErrAborted), exitAborted},
		{"aborted while quarantined", &engine.Result{Ran: true, Quarantine: q}, fmt.Errorf("%w: read users", engine.ErrAborted), exitAborted},
		{"target unreachable while quarantined", &engine.Result{Ran: true, Quarantine: q}, scimclient.ErrTargetUnreachable, exitAborted},
		{"state locked", nil, store.ErrLocked, exitAborted},
	}
	for _, c := range cases {
		if got := syncExitCode(c.res, c.err); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}

// TestEveryCommandHasExample: each command's help shows at least one example.
func TestEveryCommandHasExample(t *testing.T) {
	for _, c := range newRootCmd().Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.Name())
		}
	}
}
