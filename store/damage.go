package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// bbolt's on-disk layout (go.etcd.io/bbolt internal/common: page.go, meta.go), read here because bbolt maps
// the whole file before it validates anything: a file cut short then faults (SIGBUS) on the first read of a
// page past its end, which no recover() can catch. Fields are in the machine's byte order, as bbolt writes
// them.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltPageHeader = 16 // page id uint64, flags uint16, count uint16, overflow uint32
	// The meta follows the page header: magic, version, pageSize, flags (uint32 each), the root bucket
	// (root pgid, sequence), freelist pgid, high-water pgid, txid, then the FNV-64a checksum of all before it.
	boltMetaSize     = 64
	boltMetaChecksum = 56
	noFreelist       = ^uint64(0)
)

// boltMeta is the part of a meta page the sanity check needs.
type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

// readMeta decodes and validates the meta page at off; the error says what is wrong with it.
func readMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	buf := make([]byte, boltPageHeader+boltMetaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("meta page at offset %d: %w", off, err)
	}
	m := buf[boltPageHeader:]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, fmt.Errorf("meta page at offset %d: not a bbolt meta page (bad magic)", off)
	}
	if v := ne.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("meta page at offset %d: format version %d, want %d", off, v, boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:boltMetaChecksum])
	if h.Sum64() != ne.Uint64(m[boltMetaChecksum:]) {
		return boltMeta{}, fmt.Errorf("meta page at offset %d: checksum mismatch", off)
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// checkLayout refuses a file whose meta pages are all invalid, or whose valid meta pages reference pages
// past the end of the file, before bbolt maps it. A meta page torn by a concurrent commit is invalid and
// skipped (bbolt alternates between the two, so the other one is intact), and bbolt grows the file before
// it writes a meta page that references the new pages, so a live file never fails this check.
func checkLayout(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil // a new file: bbolt initialises it
	}
	if size < 2*1024 {
		return fmt.Errorf("file is %d bytes, too small for the two meta pages", size)
	}
	var metas []boltMeta
	var errs []error
	m0, err0 := readMeta(f, 0)
	if err0 == nil {
		metas = append(metas, m0)
	} else {
		errs = append(errs, err0)
	}
	// The second meta page sits one page in; when the first is unreadable the page size is unknown, so
	// try every size bbolt can use, as bbolt itself does.
	offsets := []int64{int64(m0.pageSize)}
	if err0 != nil {
		offsets = nil
		for ps := int64(1024); ps <= 65536; ps *= 2 {
			offsets = append(offsets, ps)
		}
	}
	var err1 error
	for _, off := range offsets {
		if off < 1024 || off+boltPageHeader+boltMetaSize > size {
			continue
		}
		m1, err := readMeta(f, off)
		if err == nil && int64(m1.pageSize) == off {
			metas, err1 = append(metas, m1), nil
			break
		}
		if err1 == nil {
			err1 = err
		}
	}
	if len(metas) == 0 {
		if err1 != nil {
			errs = append(errs, err1)
		}
		return fmt.Errorf("no valid meta page: %w", errors.Join(errs...))
	}
	for _, m := range metas {
		ps := uint64(m.pageSize)
		if ps < 1024 || ps > 65536 || ps&(ps-1) != 0 {
			return fmt.Errorf("meta page (txid %d) gives page size %d", m.txid, ps)
		}
		if m.pgid < 2 || m.pgid > uint64(size)/ps {
			return fmt.Errorf("file is %d bytes but its meta page (txid %d) references %d pages of %d bytes (%d bytes): the file was cut short",
				size, m.txid, m.pgid, ps, m.pgid*ps)
		}
		if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != noFreelist) {
			return fmt.Errorf("meta page (txid %d) points past its own end (root %d, freelist %d, %d pages)", m.txid, m.root, m.freelist, m.pgid)
		}
	}
	return nil
}

// Verify walks every page (Check) and decodes every anchor, escrow, staged operation, cycle and the
// quarantine, so that `scimsync restart` can refuse a file whose values are damaged: bbolt has no checksum
// on data pages and notices nothing until a value is read.
func (s *Store) Verify() error {
	if err := s.Check(); err != nil {
		return err
	}
	for _, k := range []Kind{KindUser, KindGroup} {
		if _, err := s.Anchors(k); err != nil {
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

// Rebuild moves the state file at path aside, to path.damaged-<UTC time>, and creates a fresh one in its
// place: nothing of the old file is carried over, so the next cycle is initial and links are rebuilt by
// matching against the target. The old file is kept as evidence, never deleted. It refuses a file that
// another process holds (ErrLocked), since a running daemon would keep writing to the moved file.
func Rebuild(path string, now time.Time) (movedTo string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("rebuild state file %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err == nil {
		unlock, err := lockExclusive(abs)
		if err != nil {
			if errors.Is(err, errWouldBlock) {
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
