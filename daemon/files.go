package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/scimsync/scimsync/config"
)

// JobFiles lists the job files --jobs names: every *.yaml and *.yml of a folder (hidden files, such
// as editor backups, left out), or, when it is a file, the jobs: list of that daemon configuration
// (each entry a job file or such a folder).
func JobFiles(jobs string) ([]string, error) {
	fi, err := os.Stat(jobs)
	if err != nil {
		return nil, fmt.Errorf("%w: --jobs: %w", ErrConfig, err)
	}
	if fi.IsDir() {
		return folderFiles(jobs)
	}
	d, err := config.LoadDaemon(jobs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var out []string
	for _, p := range d.Jobs {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			files, err := folderFiles(p)
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
			continue
		}
		out = append(out, p) // a missing file is reported when its job is loaded
	}
	return out, nil
}

// DaemonConfig is the daemon configuration --jobs names, nil for a folder.
func DaemonConfig(jobs string) (*config.Daemon, error) {
	if fi, err := os.Stat(jobs); err != nil || fi.IsDir() {
		return nil, nil
	}
	d, err := config.LoadDaemon(jobs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return d, nil
}

func folderFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: --jobs: %w", ErrConfig, err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || (filepath.Ext(n) != ".yaml" && filepath.Ext(n) != ".yml") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// JobFile resolves --job NAME among the job files of --jobs: the file named NAME.yaml or NAME.yml,
// else the file whose name: is NAME.
func JobFile(jobs, name string) (string, error) {
	files, err := JobFiles(jobs)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if base := filepath.Base(f); base == name+".yaml" || base == name+".yml" {
			return f, nil
		}
	}
	for _, f := range files {
		if cfg, err := config.LoadOffline(f); err == nil && cfg.Name == name {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: --job %q: no job file %s.yaml in %s, and no job there has name: %s", ErrConfig, name, name, jobs, name)
}

// fileVersion is what tells a changed job file from an unchanged one on reload.
func fileVersion(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
