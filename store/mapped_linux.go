package store

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropMapped tells the kernel that the process no longer needs the pages of the state file it has
// mapped, so they stop counting in its resident memory. bbolt reads the file through a shared,
// read-only mapping and writes it with pwrite; every page a transaction walked stays in the process's
// RSS until the file is closed, which at 100,000 users is the whole file (130-160 MiB of a 440 MiB peak,
// see docs/performance.md#memory). MADV_DONTNEED on a shared file mapping changes no data: the page
// cache keeps the pages and the next access maps them again from it
// (https://man7.org/linux/man-pages/man2/madvise.2.html).
//
// It must run inside a transaction of tx's database: a read transaction holds bbolt's mmap lock and a
// write transaction is the only one that can grow (and so move) the mapping, so while fn runs the range
// [Info().Data, Data+tx.Size()) is bbolt's and nothing else's. Advice on any other range could discard
// the Go heap. The call is a hint: its failure changes nothing and is ignored.
func dropMapped(tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), unix.MADV_DONTNEED)
}
