package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or return an inconsistent result. Files and the
// environment are faked so that the fuzzer never touches the machine: every variable is set, and only
// the fixture files under testdata/files can be read.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	env := func(string) (string, bool) { return "value", true }
	read := func(p string) ([]byte, error) {
		if strings.HasPrefix(p, filepath.Join("testdata", "files")+string(filepath.Separator)) && !strings.Contains(p, "..") {
			return readLimited(p, maxFileSize)
		}
		return nil, errors.New("no files while fuzzing")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "testdata/fuzz.yml", env, read)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c != nil, err)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
			for _, e := range es {
				if e.Msg == "" || e.File != "testdata/fuzz.yml" {
					t.Fatalf("malformed error %#v", e)
				}
			}
			_ = err.Error()
			return
		}
		_ = c.Fingerprint()
		if c.Users.Enabled && c.Users.Table == nil {
			t.Fatal("enabled users without a table")
		}
	})
}
