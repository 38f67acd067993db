package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/scimsync/scimsync/store/internal/boltfile"
	"github.com/scimsync/scimsync/store/internal/compact"
	bolt "go.etcd.io/bbolt"
)

// compactSuffix names the sibling file a compaction writes before it replaces the state file. A
// writer's Open removes one left behind by a crash: it holds the state file's lock then, so no
// compaction can be running.
const compactSuffix = ".compact"

// compactTxBytes bounds one transaction of the copy, so copying a large file does not hold all of it
// in memory as dirty nodes.
const compactTxBytes = 8 << 20

// ErrNoSpace matches a compaction given up for want of disk space; the state file stays as it was.
var ErrNoSpace = errors.New("not enough disk space to compact the state file")

// CompactPolicy says when Compact is worth its cost (store/internal/compact); the zero value takes
// the defaults: at least 1 MiB and 20 % of the file given back.
type CompactPolicy = compact.Policy

// CompactResult says what Compact did, for the job's log.
type CompactResult struct {
	Compacted bool
	// Before and After are bbolt's data (its high-water mark) before and after; After equals Before
	// when nothing was done.
	Before, After int64
}

// compactStep is called after each step of a compaction whose effect is on disk ("written": the
// sibling file is complete and synced; "renamed": it replaced the state file; "synced": the directory
// too). Tests use it to fail a step, or to stop a helper process there and kill it.
var compactStep = func(step string) error { return nil }

// freeSpace is compact.DiskFree, replaced by tests of a full disk.
var freeSpace = compact.DiskFree

// Compact rewrites the state file without its free pages and with its pages filled when p says it is
// worth it, and reopens the Store on the new file. The copy goes to a sibling file that replaces the
// state file by a rename once it is complete and synced, so a crash at any point leaves the old file
// or the new one, whole. Every other call on s waits while it runs. A damaged file is not compacted
// (ErrCorrupt), too little disk space leaves the file as it was (ErrNoSpace); in both cases s stays
// usable. The job calls it when a cycle has ended, just before Close.
func (s *Store) Compact(p CompactPolicy) (res CompactResult, err error) {
	if s.readOnly {
		return res, fmt.Errorf("compact %s: %w", s.path, ErrReadOnly)
	}
	if err := s.settle(""); err != nil { // the copy must hold every anchor
		return res, fmt.Errorf("compact %s: %w", s.path, err)
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.closed {
		return res, fmt.Errorf("compact %s: the state file is closed", s.path)
	}
	var f compact.Figures
	// Measure lets go of each bucket's mapped pages once it has read them.
	if err := s.viewLocked(func(tx *bolt.Tx) error { f = compact.Measure(tx); return nil }); err != nil {
		return res, fmt.Errorf("compact %s: %w", s.path, err)
	}
	res.Before, res.After = f.FileBytes, f.FileBytes
	// Windows refuses to rename over an open file, and the file is open until the copy replaces it.
	if runtime.GOOS == "windows" || !compact.Should(f, p) {
		return res, nil
	}
	dir := filepath.Dir(s.abs)
	if free, ok := freeSpace(dir); ok && free < uint64(f.Estimate())+(1<<20) {
		return res, fmt.Errorf("compact %s: %d bytes free in %s, the copy needs about %d: %w",
			s.path, free, dir, f.Estimate(), ErrNoSpace)
	}
	tmp := s.abs + compactSuffix
	ndb, err := s.writeCompacted(tmp)
	if err == nil {
		err = compactStep("written")
	}
	if err == nil {
		err = os.Rename(tmp, s.abs)
	}
	if err != nil {
		if ndb != nil {
			_ = ndb.Close()
		}
		_ = os.Remove(tmp)
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("%w (%w)", ErrNoSpace, err)
		}
		return res, fmt.Errorf("compact %s: %w", s.path, err)
	}
	// From here on the path names the new file: the Store must move to it whatever else fails, or its
	// writes would go to the old file, which no longer has a name.
	old := s.db
	s.db = ndb
	_ = old.Close()
	err = compactStep("renamed")
	if err == nil {
		err = compact.SyncDir(dir)
	}
	if err == nil {
		err = compactStep("synced")
	}
	res.Compacted = true
	_ = s.viewLocked(func(tx *bolt.Tx) error { res.After = tx.Size(); return nil })
	if err != nil {
		return res, fmt.Errorf("compact %s: the compacted file is in place, but syncing its directory failed (a power loss could bring the old one back, which is harmless): %w", s.path, err)
	}
	return res, nil
}

// writeCompacted copies the state file into a fresh bbolt file at tmp (removing a stale one first),
// checks the copy against the original, syncs it and returns it open, holding its lock, so that once
// renamed it is the locked state file. Pages of the original are walked whole first (tx.Check): a
// damaged file is reported, never copied over the original.
func (s *Store) writeCompacted(tmp string) (ndb *bolt.DB, err error) {
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := s.checkLocked(); err != nil {
		return nil, err
	}
	ndb, err = bolt.Open(tmp, 0o600, &bolt.Options{Timeout: DefaultTimeout, NoSync: true, InitialMmapSize: 256 << 20})
	if err != nil {
		return nil, err
	}
	ndb.AllocSize = 1 << 20
	defer func() {
		if err != nil {
			_ = ndb.Close()
			ndb = nil
		}
	}()
	err = s.copyInto(ndb)
	// Both files were read whole (and are again by SameCounts); their pages need not stay in
	// scimsync's RSS meanwhile (mapped.Drop).
	dropAll(s.db, ndb)
	if err != nil {
		return ndb, err
	}
	if err := compact.SameCounts(s.db, ndb); err != nil {
		return ndb, err
	}
	dropAll(s.db, ndb)
	ndb.NoSync = false
	return ndb, ndb.Sync()
}

// copyInto runs bolt.Compact from s's file, turning a fault on a page Check could not see into
// ErrCorrupt as view does.
func (s *Store) copyInto(dst *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: s.path, Err: boltfile.PanicDetail("compacting", r)}
		}
	}()
	return bolt.Compact(dst, s.db, compactTxBytes)
}

// removeCompactLeftover deletes the sibling file of a compaction that a crash interrupted. The caller
// holds the state file's exclusive lock, so no compaction is running; whatever the leftover holds is
// also in the state file, which was never changed before the rename.
func removeCompactLeftover(abs string) error {
	err := os.Remove(abs + compactSuffix)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the leftover of an interrupted compaction: %w", err)
	}
	return nil
}
