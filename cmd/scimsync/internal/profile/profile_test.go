package profile

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartWritesReadableProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "heap.pprof")
	p, err := Start(cpu, heap)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	for _, path := range []string{cpu, heap} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		// A profile is a gzipped protocol buffer (what go tool pprof reads).
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if b, err := io.ReadAll(zr); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", path, len(b), err)
		}
		f.Close()
	}
	if _, err := os.Stat(heap + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary heap profile left behind: %v", err)
	}
}

func TestStartNothingAndBadPaths(t *testing.T) {
	p, err := Start("", "")
	if p != nil || err != nil {
		t.Fatalf("no flags: %v, %v", p, err)
	}
	p.Stop() // safe on nil
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	if _, err := Start(filepath.Join(missing, "cpu.pprof"), ""); err == nil || !strings.Contains(err.Error(), "--cpu-profile") {
		t.Errorf("cpu: %v", err)
	}
	if _, err := Start("", filepath.Join(missing, "heap.pprof")); err == nil || !strings.Contains(err.Error(), "--heap-profile") {
		t.Errorf("heap: %v", err)
	}
}
