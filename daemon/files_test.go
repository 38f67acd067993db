package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
