package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestJobFiles: a folder gives its *.yaml and *.yml files (not hidden ones, not others); a daemon
// configuration gives its jobs: list with folders expanded.
func TestJobFiles(t *testing.T) {
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs.d")
	for _, n := range []string{"a.yaml", "b.yml", ".a.yaml.swp", ".hidden.yaml", "notes.txt"} {
		writeFile(t, filepath.Join(jobs, n), "name: x\n")
	}
	got, err := JobFiles(jobs)
	if want := []string{filepath.Join(jobs, "a.yaml"), filepath.Join(jobs, "b.yml")}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("JobFiles(folder) = %v, %v; want %v", got, err, want)
	}
	daemonFile := filepath.Join(dir, "daemon.yaml")
	writeFile(t, daemonFile, "jobs: [jobs.d, other/c.yaml]\nmaxConcurrent: 2\n")
	got, err = JobFiles(daemonFile)
	want := []string{filepath.Join(jobs, "a.yaml"), filepath.Join(jobs, "b.yml"), filepath.Join(dir, "other", "c.yaml")}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("JobFiles(daemon file) = %v, %v; want %v", got, err, want)
	}
	if d, err := DaemonConfig(daemonFile); err != nil || d.MaxConcurrent != 2 {
		t.Fatalf("DaemonConfig = %+v, %v", d, err)
	}
	if d, err := DaemonConfig(jobs); err != nil || d != nil {
		t.Fatalf("DaemonConfig(folder) = %+v, %v; want nil", d, err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), writeBad(t, dir)} {
		if _, err := JobFiles(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("JobFiles(%s) = %v, want ErrConfig", bad, err)
		}
	}
}

func writeBad(t *testing.T, dir string) string {
	p := filepath.Join(dir, "bad.yaml")
	writeFile(t, p, "jobs: [a.yaml]\nschedule: daily\n")
	return p
}

// TestJobFile: --job NAME is the file NAME.yaml (or .yml), else the job whose name: is NAME.
func TestJobFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gong.yaml"), "name: gong\n")
	writeFile(t, filepath.Join(dir, "second.yml"), "name: other\n")
	for name, want := range map[string]string{"gong": "gong.yaml", "second": "second.yml"} {
		if got, err := JobFile(dir, name); err != nil || got != filepath.Join(dir, want) {
			t.Errorf("JobFile(%s) = %s, %v; want %s", name, got, err, want)
		}
	}
	if _, err := JobFile(dir, "nobody"); !errors.Is(err, ErrConfig) {
		t.Errorf("JobFile(nobody) = %v, want ErrConfig", err)
	}
}

// TestDaemonConfigApplies: the daemon file's maxConcurrent and claimInterval apply unless the command
// line set them, and the runner caps the claim interval at MaxClaimInterval.
func TestDaemonConfigApplies(t *testing.T) {
	dir := t.TempDir()
	daemonFile := filepath.Join(dir, "daemon.yaml")
	writeFile(t, daemonFile, "jobs: [jobs.d]\nmaxConcurrent: 2\nclaimInterval: 7s\n")
	h := &Host{Dir: daemonFile}
	if err := h.daemonConfig(); err != nil || h.Options.MaxConcurrent != 2 || h.Options.ClaimInterval != 7*time.Second {
		t.Fatalf("from the file: %+v, %v; want maxConcurrent 2, claimInterval 7s", h.Options, err)
	}
	h = &Host{Dir: daemonFile, Options: Options{MaxConcurrent: 4, ClaimInterval: 3 * time.Second}}
	if err := h.daemonConfig(); err != nil || h.Options.MaxConcurrent != 4 || h.Options.ClaimInterval != 3*time.Second {
		t.Fatalf("flags given: %+v, %v; want the flags' 4 and 3s", h.Options, err)
	}
	for _, tc := range []struct{ asked, max, want time.Duration }{
		{7 * time.Second, 2 * time.Second, 2 * time.Second},
		{time.Second, 2 * time.Second, time.Second},
		{0, 2 * time.Second, 2 * time.Second},
		{0, 0, DefaultClaimInterval},
	} {
		r, err := New(nil, Options{ClaimInterval: tc.asked, MaxClaimInterval: tc.max})
		if err != nil || r.opts.ClaimInterval != tc.want {
			t.Errorf("ClaimInterval %s capped at %s: got %v (%v), want %s", tc.asked, tc.max, r.opts.ClaimInterval, err, tc.want)
		}
	}
}
