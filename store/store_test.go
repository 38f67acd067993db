package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestOpenCreatesDirAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetWatermark("users", "link1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, _ := s.Watermark("users"); got != "link1" {
		t.Errorf("watermark after reopen = %q", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open("", Options{}); err == nil {
		t.Error("empty path: want error")
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: err = %v", err)
	}
	missing := filepath.Join(dir, "missing.db")
	_, err := Open(missing, Options{ReadOnly: true})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only missing file: err = %v, want ErrNotExist", err)
	}
	if _, statErr := os.Stat(missing); statErr == nil {
		t.Error("read-only Open created the file")
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	setSchema := func(v string) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			got := string(tx.Bucket(layout.Meta).Get(layout.KeySchema))
			if want := strconv.Itoa(SchemaVersion); got != want && v == "99" {
				t.Errorf("stored schema = %q, want %s", got, want)
			}
			return tx.Bucket(layout.Meta).Put(layout.KeySchema, []byte(v))
		}); err != nil {
			t.Fatal(err)
		}
	}

	setSchema("99")
	for _, ro := range []bool{false, true} {
		_, err = Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("readOnly=%v: err = %v, want ErrSchemaTooNew", ro, err)
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "99") {
			t.Errorf("error should name file and version: %v", err)
		}
	}

	setSchema("garbage")
	if _, err = Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage schema: err = %v, want ErrCorrupt", err)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content []byte
	}{
		{"text", []byte(strings.Repeat("this is not a bolt database\n", 1000))},
		{"short", []byte("xx")},
		{"zeros", make([]byte, 64*1024)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), path) {
				t.Errorf("error should name %s: %v", path, err)
			}
		})
	}
}

// TestCorruptPages damages data pages of a valid file (meta pages intact) and checks that every access
// either works or fails with ErrCorrupt, never panics.
func TestCorruptPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var as []Link
	for i := range 3000 {
		as = append(as, sampleLink(KindUser, i))
	}
	if err := s.PutLinks(as...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	for _, pg := range []int{2, 3, 4, 6, 10, 20, 40} {
		if (pg+1)*page > len(orig) {
			continue
		}
		data := bytes.Clone(orig)
		for i := pg * page; i < (pg+1)*page; i++ {
			data[i] = byte(i*7 + pg)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("page %d: panic escaped: %v", pg, r)
				}
			}()
			s, err := Open(path, Options{})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("page %d: Open err = %v, want ErrCorrupt", pg, err)
				}
				t.Logf("page %d: Open: %v", pg, err)
				return
			}
			defer s.Close()
			_, err = s.Links(KindUser)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("page %d: Links err = %v, want ErrCorrupt", pg, err)
			}
			cerr := s.Check()
			if cerr != nil && !errors.Is(cerr, ErrCorrupt) {
				t.Errorf("page %d: Check err = %v", pg, cerr)
			}
			t.Logf("page %d: Links: %v; Check: %v", pg, err, cerr)
			if err == nil && cerr == nil {
				t.Logf("page %d: damage not detected (free page?)", pg)
			}
		}()
	}
}

func TestLockedInProcess(t *testing.T) {
	s, path := openTest(t)
	start := time.Now()
	_, err := Open(path, Options{Timeout: 5 * time.Second})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("in-process guard should fail fast, took %v", time.Since(start))
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Path != path || !le.InProcess {
		t.Errorf("LockedError = %+v", le)
	}
	// A read-only open is refused too while the writer holds the file.
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, ErrLocked) {
		t.Errorf("read-only beside writer: err = %v", err)
	}
	// Another spelling of the same path is caught as well.
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{filepath.Dir(path) + "/./" + filepath.Base(path), link} {
		if _, err := Open(other, Options{}); !errors.Is(err, ErrLocked) {
			t.Errorf("%s: err = %v, want ErrLocked", other, err)
		}
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestBboltFlockPerDescriptor documents why the in-process guard is only a convenience on Linux: bbolt's
// flock already refuses a second descriptor in the same process.
func TestBboltFlockPerDescriptor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second bolt.Open in-process: err = %v, want ErrTimeout", err)
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLinks(sampleLink(KindUser, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	r1, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("second read-only Open: %v", err)
	}
	defer r2.Close()
	if _, ok, err := r2.Link(KindUser, "src-1"); !ok || err != nil {
		t.Errorf("read-only Link: ok=%v err=%v", ok, err)
	}
	if _, err := r1.Escrows(); err != nil {
		t.Error(err)
	}
	if err := r1.SetFingerprint("x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write on read-only: err = %v, want ErrReadOnly", err)
	}
	if _, err := Open(path, Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("writer beside readers: err = %v, want ErrLocked", err)
	}
}

// TestLockedOtherProcess re-executes the test binary as a helper that opens the file and waits, and
// checks that this process is refused while the helper holds it.
func TestLockedOtherProcess(t *testing.T) {
	if os.Getenv("STORE_HELPER_PATH") != "" {
		t.Skip("helper")
	}
	path := filepath.Join(t.TempDir(), "job.db")
	cmd, stdin, stdout := startHelper(t, "TestHelperHoldLock", "STORE_HELPER_PATH="+path)
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	// Wait for the helper's "ready" line.
	buf := make([]byte, 0, 64)
	deadline := time.Now().Add(20 * time.Second)
	for !bytes.Contains(buf, []byte("ready")) {
		if time.Now().After(deadline) {
			t.Fatalf("helper not ready: %q", buf)
		}
		tmp := make([]byte, 64)
		n, err := stdout.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			t.Fatalf("helper: %v (output %q)", err, buf)
		}
	}

	_, err := Open(path, Options{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open beside other process: err = %v, want ErrLocked", err)
	}
	want := "state file " + path + " is in use by another scimsync process"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	var le *LockedError
	if !errors.As(err, &le) || le.InProcess {
		t.Errorf("LockedError = %+v", le)
	}

	stdin.Close() // helper closes the store and exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after helper exit: %v", err)
	}
	s.Close()
}

// TestHelperHoldLock is the helper process for TestLockedOtherProcess; it does nothing in a normal run.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("STORE_HELPER_PATH")
	if path == "" {
		t.Skip("only run as a helper process")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	_, _ = os.Stdin.Read(make([]byte, 1)) // returns on EOF when the parent closes stdin
	s.Close()
}

func TestBackup(t *testing.T) {
	s, _ := openTest(t)
	if err := s.PutLinks(sampleLink(KindGroup, 7)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok, _ := c.Link(KindGroup, "src-7"); !ok {
		t.Error("backup lacks the anchor")
	}
	if err := c.Check(); err != nil {
		t.Error(err)
	}
}
