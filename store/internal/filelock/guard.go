// Package filelock keeps two processes, and two Stores of one process, from writing one state file:
// an in-process guard that fails at once, and the flock bbolt takes, tried without waiting.
package filelock

import (
	"path/filepath"
	"sync"
)

// bbolt's flock is per open file description, so on Linux a second Open of the same file in this process
// already fails; the guard makes that immediate (no Timeout wait), gives a clearer message and keeps the
// guarantee on platforms where bbolt falls back to per-process fcntl locks.
var (
	guardMu sync.Mutex
	guard   = map[string]int{} // absolute path -> -1 writer, n>0 readers
)

// Acquire takes the in-process guard of the file at abs, shared when readOnly; ok is false when this
// process holds it already in a way that excludes the caller. release is idempotent.
func Acquire(abs string, readOnly bool) (release func(), ok bool) {
	key := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		key = r
	}
	guardMu.Lock()
	defer guardMu.Unlock()
	n := guard[key]
	if n < 0 || (n > 0 && !readOnly) {
		return nil, false
	}
	if readOnly {
		guard[key] = n + 1
	} else {
		guard[key] = -1
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			guardMu.Lock()
			defer guardMu.Unlock()
			if guard[key] <= 1 {
				delete(guard, key)
			} else {
				guard[key]--
			}
		})
	}, true
}
