//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

var errWouldBlock = errors.New("file is locked")

// lockExclusive takes the same flock bbolt takes, without waiting, so Rebuild never moves a file that a
// running scimsync holds open. It works on files bbolt cannot open at all.
func lockExclusive(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errWouldBlock
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}
