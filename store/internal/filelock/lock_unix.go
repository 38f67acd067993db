//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// ErrWouldBlock is Exclusive's answer when another process holds the file.
var ErrWouldBlock = errors.New("file is locked")

// Exclusive takes the same flock bbolt takes, without waiting, so store.Rebuild never moves a file that a
// running scimsync holds open. It works on files bbolt cannot open at all.
func Exclusive(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrWouldBlock
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}
