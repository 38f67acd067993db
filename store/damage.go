package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/scimsync/scimsync/store/internal/filelock"
)

// Verify walks every page (Check) and decodes every anchor, escrow, staged operation, cycle and the
// quarantine, so that `scimsync restart` can refuse a file whose values are damaged: bbolt has no checksum
// on data pages and notices nothing until a value is read.
func (s *Store) Verify() error {
	if err := s.Check(); err != nil {
		return err
	}
	for _, k := range []Kind{KindUser, KindGroup} {
		if _, err := s.Links(k); err != nil {
			return err
		}
	}
	if _, err := s.Escrows(); err != nil {
		return err
	}
	if _, err := s.StagedOps(); err != nil {
		return err
	}
	if _, err := s.Cycles(0); err != nil {
		return err
	}
	_, err := s.Quarantine()
	return err
}

// Rebuild moves the state file at path aside, to path.damaged-<UTC time> (its anchor journal, if a
// crash left one, beside it), and creates a fresh one in its
// place: nothing of the old file is carried over, so the next cycle is initial and links are rebuilt by
// matching against the target. The old file is kept as evidence, never deleted. It refuses a file that
// another process holds (ErrLocked), since a running daemon would keep writing to the moved file.
func Rebuild(path string, now time.Time) (movedTo string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("rebuild state file %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err == nil {
		unlock, err := filelock.Exclusive(abs)
		if err != nil {
			if errors.Is(err, filelock.ErrWouldBlock) {
				return "", &LockedError{Path: path}
			}
			return "", fmt.Errorf("rebuild state file %s: %w", path, err)
		}
		movedTo = path + ".damaged-" + now.UTC().Format("20060102T150405Z")
		if _, err := os.Stat(movedTo); err == nil {
			unlock()
			return "", fmt.Errorf("rebuild state file %s: %s exists already; try again in a second", path, movedTo)
		}
		err = os.Rename(abs, movedTo)
		if err == nil { // the journal's anchor writes belong to the old file (journal.go)
			if err = os.Rename(journalPath(abs), journalPath(movedTo)); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		}
		unlock()
		if err != nil {
			return "", fmt.Errorf("rebuild state file %s: move it aside: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("rebuild state file %s: %w", path, err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		return movedTo, fmt.Errorf("rebuild state file %s: create a fresh one: %w", path, err)
	}
	return movedTo, s.Close()
}
