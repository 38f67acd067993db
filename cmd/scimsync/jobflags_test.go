package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

// TestJobFlags: --jobs DIR --job NAME stands for --config of that job in every command; a missing
// half or an unknown job is exit 2 naming what is wrong.
func TestJobFlags(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	e.prepare(t, func(st *store.Store) { failedJob(t, st, time.Now().Add(-time.Hour)) })
	dir := filepath.Dir(e.cfg) // holds job.yaml, whose name: is admin
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--job", "job"}, "--job needs --jobs"},
		{[]string{"status", "--jobs", dir}, "say which job with --job NAME"},
		{[]string{"run", "--jobs", dir, "--job", "job"}, "--job is for the other commands"},
		{[]string{"status", "--jobs", dir, "--job", "nobody"}, `--job "nobody"`},
		{[]string{"status", "--jobs", filepath.Join(dir, "missing"), "--job", "job"}, "--jobs"},
	} {
		_, _, err := runCLI(tc.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("scimsync %s: %v, want exit 2 naming %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	for _, name := range []string{"job", "admin"} { // the file's name, then the job's name:
		out, _, err := runCLI("status", "-o", "json", "--jobs", dir, "--job", name)
		if err != nil || !strings.Contains(out, `"job": "admin"`) || !strings.Contains(out, `"reason": "TooManyDeletes"`) {
			t.Errorf("status --jobs DIR --job %s: %v\n%s", name, err, out)
		}
	}
}

// TestValidateJobs: validate --jobs DIR checks every job file and names each bad one.
func TestValidateJobs(t *testing.T) {
	e := newAdminEnv(t, "http://127.0.0.1:9/scim")
	dir := filepath.Dir(e.cfg)
	out, _, err := runCLI("validate", "--offline", "--jobs", dir)
	if err != nil || !strings.Contains(out, `ok: job "admin"`) {
		t.Fatalf("validate --jobs: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("name: broken\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI("validate", "--offline", "--jobs", dir)
	if exitCode(err) != exitConfig || !strings.Contains(out, `ok: job "admin"`) || !strings.Contains(errOut, "broken.yaml") {
		t.Fatalf("validate --jobs with a broken file: exit %d\n%s\n%s", exitCode(err), out, errOut)
	}
}
