//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// dropMapped is a no-op where the kernel's advice is not available (see mapped_unix.go).
func dropMapped(*bolt.Tx) {}
