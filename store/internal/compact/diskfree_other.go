//go:build !(linux || darwin || freebsd || openbsd)

package compact

// DiskFree cannot tell here; a compaction that runs out of space finds out from the write (ENOSPC).
func DiskFree(string) (uint64, bool) { return 0, false }
