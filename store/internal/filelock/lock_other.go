//go:build !unix

package filelock

import "errors"

// ErrWouldBlock is Exclusive's answer when another process holds the file.
var ErrWouldBlock = errors.New("file is locked")

// Exclusive is a no-op where bbolt does not use flock: the rename itself fails on Windows while
// another process has the file open.
func Exclusive(string) (func(), error) { return func() {}, nil }
