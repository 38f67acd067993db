// Package mapped lets go of the pages of a bbolt file that a process has mapped: see Drop.
package mapped

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Drop tells the kernel that the process no longer needs the pages of the state file it has
// mapped, so they stop counting in its resident memory. bbolt reads the file through a shared,
// read-only mapping and writes it with pwrite; every page a transaction walked stays in the process's
// RSS until the file is closed, which at 100,000 users is the whole file (130-160 MiB of a 440 MiB peak,
// see docs/performance.md#memory). MADV_DONTNEED on a shared file mapping changes no data: the page
// cache keeps the pages and the next access maps them again from it
// (https://man7.org/linux/man-pages/man2/madvise.2.html).
//
// It must run inside a transaction of tx's database, on the transaction's goroutine: a read
// transaction holds bbolt's mmap lock and a write transaction is the only one that can grow (and so
// move) the mapping, which it does only while allocating pages in its commit, so between a write
// transaction's Puts as in a read transaction the range [Info().Data, Data+tx.Size()) is bbolt's and
// nothing else's. Pages a write transaction changed are in its own memory until the commit writes
// them (pwrite), so letting the mapping go loses nothing. Advice on any other range could discard
// the Go heap. The call is a hint: its failure changes nothing and is ignored.
func Drop(tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), unix.MADV_DONTNEED)
}

// Resident is how much of the file at path is resident in this process's mappings, from
// /proc/self/smaps (the kernel's own count): what Drop lets go of, for tests and diagnostics.
func Resident(path string) (int64, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[5] == real
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/smaps: %q: %w", sc.Text(), err)
			}
			total += kb << 10
		}
	}
	return total, sc.Err()
}
