//go:build linux || darwin || freebsd || openbsd

package compact

import "golang.org/x/sys/unix"

// DiskFree returns the bytes an unprivileged process may still write in dir's file system; ok is false
// when it cannot tell, and the write itself then finds out (ENOSPC).
func DiskFree(dir string) (free uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true //nolint:unconvert // the field types differ by platform
}
