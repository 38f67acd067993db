// Package damage finds a damaged bbolt file before bbolt maps it: bbolt trusts its meta pages, and a
// file cut short faults (SIGBUS) on the first read past its end, which no recover() can catch.
package damage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
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

// CheckLayout refuses a file whose meta pages are all invalid, or whose valid meta pages reference pages
// past the end of the file, before bbolt maps it. A meta page torn by a concurrent commit is invalid and
// skipped (bbolt alternates between the two, so the other one is intact), and bbolt grows the file before
// it writes a meta page that references the new pages, so a live file never fails this check.
func CheckLayout(f *os.File) error {
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
