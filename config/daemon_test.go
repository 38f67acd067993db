package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadDaemon(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "daemon.yaml")
	body := "jobs:\n  - jobs.d\n  - /etc/scimsync/gong.yaml\nmaxConcurrent: 3\nclaimInterval: 15s\nmetrics: {listen: \"127.0.0.1:9464\"}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDaemon(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Jobs, []string{filepath.Join(dir, "jobs.d"), "/etc/scimsync/gong.yaml"}) || d.MaxConcurrent != 3 ||
		d.ClaimInterval != 15*time.Second || d.MetricsListen != "127.0.0.1:9464" {
		t.Fatalf("LoadDaemon = %+v", d)
	}
}

func TestLoadDaemonErrorsNameFileLineKey(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"jobs: []\n":                                "daemon.yaml:1:1: jobs: lists no job file or folder",
		"jobs: [a.yaml]\nmaxConcurrent: 0\n":        "daemon.yaml:2:16: maxConcurrent: must be a whole number",
		"jobs: [a.yaml]\nclaimInterval: soon\n":     "daemon.yaml:2:16: claimInterval: must be a duration",
		"jobs: [a.yaml]\nschedule: \"@every 1m\"\n": "daemon.yaml:2:1: schedule: unknown key",
		"jobs: a.yaml\n":                            "daemon.yaml:1:7: jobs: must be a list",
		"jobs: [a.yaml]\nmetrics: {port: 1}\n":      "daemon.yaml:2:10: metrics: must be {listen:",
		"- a.yaml\n":                                "a mapping with a jobs: list",
	} {
		p := filepath.Join(dir, "daemon.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadDaemon(p)
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want Errors with %q", body, err, want)
		}
	}
	if _, err := LoadDaemon(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}
