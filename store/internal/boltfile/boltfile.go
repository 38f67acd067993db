// Package boltfile opens a bbolt file the way the store needs it: damage reported as
// layout.CorruptError before bbolt can fault on it, a file replaced while waiting for its lock (a
// compaction) followed to its new inode.
package boltfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"github.com/scimsync/scimsync/store/internal/damage"
	"github.com/scimsync/scimsync/store/internal/layout"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrTimeout is the lock not taken within the timeout: another process holds the file.
var ErrTimeout = errors.New("timed out waiting for the state file's lock")

// Open opens the bbolt file, making sure that the file it locked is still the one at abs: a process
// that opened the file while another compacted it (Compact) waits for the old file's lock and would
// otherwise read a stale file, or write to one that no longer has a name. It retries on the new file.
func Open(abs, path string, timeout time.Duration, readOnly bool) (*bolt.DB, error) {
	for attempt := 0; ; attempt++ {
		var opened *os.File
		openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := OSOpenFile(name, flag, perm)
			opened = f
			return f, err
		}
		db, err := openOnce(abs, path, timeout, readOnly, openFile)
		if err != nil {
			return nil, err
		}
		if same, err := isFileAt(opened, abs); err != nil || same || attempt >= 5 {
			if err == nil && !same {
				err = fmt.Errorf("open state file %s: it was replaced again while waiting for its lock, 6 times in a row", path)
			}
			if err != nil {
				_ = db.Close()
				return nil, err
			}
			return db, nil
		}
		_ = db.Close()
	}
}

// OSOpenFile is os.OpenFile, replaced by a test that must know when Open has opened the file.
var OSOpenFile = os.OpenFile

// isFileAt reports whether f is the file that path names now.
func isFileAt(f *os.File, path string) (bool, error) {
	if f == nil {
		return true, nil
	}
	a, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("open state file %s: %w", path, err)
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open state file %s: %w", path, err)
	}
	return os.SameFile(a, b), nil
}

// openOnce opens the bbolt file and maps its failures to the package's typed errors. The layout is checked
// before bbolt maps the file, since a read past the end of a mapped file is a fault, not an error. bbolt can
// also panic on a damaged file while loading the freelist, so a panic (or a fault) becomes ErrCorrupt too.
func openOnce(abs, path string, timeout time.Duration, readOnly bool, openFile func(string, int, os.FileMode) (*os.File, error)) (db *bolt.DB, err error) {
	if err := checkFile(abs, path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &layout.CorruptError{Path: path, Err: PanicDetail("opening", r)}
		}
	}()
	// A generous initial mapping spares the remaps (and their copies of every node in flight) that a
	// growing file costs during a large initial cycle; it reserves address space, not memory.
	db, err = bolt.Open(abs, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly, InitialMmapSize: 256 << 20,
		OpenFile: openFile})
	switch {
	case err == nil:
		// bbolt grows a file whose mapping is over AllocSize (16 MiB by default) in steps of
		// AllocSize; the InitialMmapSize above would make every file a multiple of 16 MiB.
		db.AllocSize = 1 << 20
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, ErrTimeout
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, &layout.CorruptError{Path: path, Err: err}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	default:
		// bbolt reports short or garbled files with untyped errors ("file size too small", ...), so
		// an untyped failure on a file that already had content is taken as damage; on a new or
		// empty file it is an I/O problem (disk full, read-only file system).
		if fi, statErr := os.Stat(abs); statErr == nil && fi.Size() > 0 {
			return nil, &layout.CorruptError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
}

// checkFile runs damage.CheckLayout on an existing file; a missing file is for bbolt to create (or refuse).
func checkFile(abs, path string) error {
	f, err := os.Open(abs)
	if err != nil {
		return nil // bbolt reports it, typed
	}
	defer f.Close()
	if err := damage.CheckLayout(f); err != nil {
		return &layout.CorruptError{Path: path, Err: err}
	}
	return nil
}

// PanicDetail describes a recovered panic; a memory fault (SetPanicOnFault) gets plain words, since the
// runtime's "nil pointer dereference" would send an operator looking for a bug instead of at the file.
func PanicDetail(doing string, r any) error {
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("a memory access while %s faulted at address %#x: the file is shorter than the pages it references (cut short while open?)", doing, f.Addr())
	}
	return fmt.Errorf("panic while %s: %v", doing, r)
}
