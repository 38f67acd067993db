//go:build !linux

package mapped

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// Drop is a no-op where the kernel's advice is not available (see mapped_linux.go).
func Drop(*bolt.Tx) {}

// Resident is not measured here: only Linux has /proc/self/smaps.
func Resident(string) (int64, error) { return 0, errors.ErrUnsupported }
