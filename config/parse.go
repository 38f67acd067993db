package config

import (
	"path/filepath"

	"github.com/scimsync/scimsync/config/internal/raw"
	"github.com/scimsync/scimsync/config/internal/secrets"
)

// parse is Parse with the file reader injectable, so that the fuzz test never touches the file system.
func parse(data []byte, filename string, env func(string) (string, bool), readFile func(string) ([]byte, error)) (*Config, error) {
	return parseWith(data, filename, env, readFile, false)
}

func parseWith(data []byte, filename string, env func(string) (string, bool), readFile func(string) ([]byte, error), offline bool) (*Config, error) {
	r, d := raw.Decode(data, filename)
	if r == nil {
		return nil, d.Errs.Sorted()
	}
	dir := "."
	if filename != "" {
		dir = filepath.Dir(filename)
	}
	f := &finalizer{&secrets.Source{Decoder: d, Env: env, ReadFile: readFile, Dir: dir, Offline: offline}}
	cfg := f.finalize(r)
	if len(d.Errs) > 0 {
		return nil, d.Errs.Sorted()
	}
	cfg.File = filename
	return cfg, nil
}
