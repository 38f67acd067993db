package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

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

// CompactPolicy says when Compact is worth its cost; the zero value takes the defaults.
type CompactPolicy struct {
	// MinReclaim is the least the rewrite must give back, in bytes; 0 means 1 MiB, so a small file is
	// not rewritten for a few pages.
	MinReclaim int64
	// MinShare is the least share of the file the rewrite must give back; 0 means 20 %, so the file
	// is rewritten when its waste is worth a copy of it, not after every cycle.
	MinShare float64
}

// CompactResult says what Compact did, for the job's log.
type CompactResult struct {
	Compacted bool
	// Before and After are bbolt's data (its high-water mark) before and after; After equals Before
	// when nothing was done.
	Before, After int64
}

// compactFigures is what the decision reads: the file's data and the bytes its pages really use.
type compactFigures struct {
	// FileBytes is bbolt's high-water mark: the pages in use, free or pending.
	FileBytes int64
	// LiveBytes is what the buckets' branch and leaf pages use, headers included.
	LiveBytes int64
	PageSize  int64
}

// estimate is the size of the compacted file: the live bytes, a sixteenth for the slack of pages that
// cannot take their next element, and the two meta pages, the freelist and the root.
func (f compactFigures) estimate() int64 { return f.LiveBytes + f.LiveBytes/16 + 4*f.PageSize }

// shouldCompact is the decision: the rewrite must give back at least MinReclaim bytes and MinShare of
// the file. Pages freed by interleaved transactions and half-full pages left by keys inserted in random
// order both count, since the rewrite reclaims both.
func shouldCompact(f compactFigures, p CompactPolicy) bool {
	if p.MinReclaim <= 0 {
		p.MinReclaim = 1 << 20
	}
	if p.MinShare <= 0 {
		p.MinShare = 0.2
	}
	reclaim := f.FileBytes - f.estimate()
	return reclaim >= p.MinReclaim && float64(reclaim) >= p.MinShare*float64(f.FileBytes)
}

// compactStep is called after each step of a compaction whose effect is on disk ("written": the
// sibling file is complete and synced; "renamed": it replaced the state file; "synced": the directory
// too). Tests use it to copy the files as a crash at that point would leave them, or to fail a step.
var compactStep = func(step string) error { return nil }

// freeSpace is diskFree, replaced by tests of a full disk.
var freeSpace = diskFree

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
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return res, fmt.Errorf("compact %s: the state file is closed", s.path)
	}
	f, err := s.compactFigures()
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", s.path, err)
	}
	res.Before, res.After = f.FileBytes, f.FileBytes
	// Windows refuses to rename over an open file, and the file is open until the copy replaces it.
	if runtime.GOOS == "windows" || !shouldCompact(f, p) {
		return res, nil
	}
	dir := filepath.Dir(s.abs)
	if free, ok := freeSpace(dir); ok && free < uint64(f.estimate())+(1<<20) {
		return res, fmt.Errorf("compact %s: %d bytes free in %s, the copy needs about %d: %w",
			s.path, free, dir, f.estimate(), ErrNoSpace)
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
		err = syncDir(dir)
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

// compactFigures reads the decision's inputs: bbolt's high-water mark and, from every bucket's page
// statistics (one pass over the page headers, not the keys), the bytes in use.
func (s *Store) compactFigures() (compactFigures, error) {
	f := compactFigures{PageSize: int64(s.db.Info().PageSize)}
	err := s.viewLocked(func(tx *bolt.Tx) error {
		f.FileBytes = tx.Size()
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			st := b.Stats()
			f.LiveBytes += int64(st.BranchInuse + st.LeafInuse)
			return nil
		})
	})
	return f, err
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
	if err := s.copyInto(ndb); err != nil {
		return ndb, err
	}
	if err := sameCounts(s.db, ndb); err != nil {
		return ndb, err
	}
	ndb.NoSync = false
	return ndb, ndb.Sync()
}

// copyInto runs bolt.Compact from s's file, turning a fault on a page Check could not see into
// ErrCorrupt as view does.
func (s *Store) copyInto(dst *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: s.path, Err: panicDetail("compacting", r)}
		}
	}()
	return bolt.Compact(dst, s.db, compactTxBytes)
}

// sameCounts compares the keys and buckets of every top-level bucket of two files: a guard against a
// copy that lost something, checked before the copy may replace the original.
func sameCounts(src, dst *bolt.DB) error {
	type count struct{ keys, buckets int }
	counts := func(db *bolt.DB) (map[string]count, error) {
		m := map[string]count{}
		err := db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				st := b.Stats()
				m[string(name)] = count{st.KeyN, st.BucketN}
				return nil
			})
		})
		return m, err
	}
	a, err := counts(src)
	if err != nil {
		return err
	}
	b, err := counts(dst)
	if err != nil {
		return err
	}
	if len(a) != len(b) {
		return fmt.Errorf("the copy has %d buckets, the original %d", len(b), len(a))
	}
	for name, n := range a {
		if b[name] != n {
			return fmt.Errorf("bucket %s: the copy's keys differ from the original's", name)
		}
	}
	return nil
}

// checkLocked is Check for a caller that holds dbMu.
func (s *Store) checkLocked() error {
	return s.viewLocked(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return &CorruptError{Path: s.path, Err: err}
		}
		return nil
	})
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
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
