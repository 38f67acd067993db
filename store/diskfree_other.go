//go:build !(linux || darwin || freebsd || openbsd)

package store

// diskFree cannot tell here; a compaction that runs out of space finds out from the write (ENOSPC).
func diskFree(string) (uint64, bool) { return 0, false }
