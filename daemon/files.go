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

// JobFiles lists the job files in dir: *.yaml and *.yml, hidden files (editor backups) left out.
func JobFiles(dir string) ([]string, error) {
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

// JobFile resolves --job NAME in --jobs DIR: DIR/NAME.yaml or DIR/NAME.yml, else the file whose
// name: is NAME.
func JobFile(dir, name string) (string, error) {
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	files, err := JobFiles(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if cfg, err := config.LoadOffline(f); err == nil && cfg.Name == name {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: --job %q: no job file %s.yaml in %s, and no file there has name: %s", ErrConfig, name, name, dir, name)
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
