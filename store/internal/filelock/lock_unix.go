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
// running scimsync holds open. It works on files bbolt cannot open at all. The lock is on the file that
// path names once it is held: a compaction that replaced the file in between is seen, and the new file
// locked instead.
func Exclusive(path string) (unlock func(), err error) {
	for {
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
		held, herr := f.Stat()
		now, nerr := os.Stat(path)
		if herr != nil || nerr != nil || os.SameFile(held, now) {
			return func() { _ = f.Close() }, nil
		}
		f.Close()
	}
}
