package scimserver

import (
	"net"
	"sync"
	"testing"
)

// ClosedAddr returns a 127.0.0.1 address nothing listens on: every connection to it is refused, as to
// a target that is down.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Silent listens on 127.0.0.1, accepts connections and never answers, as a target whose application
// hangs behind a live socket. accepted counts the connections so far; everything is closed when the
// test ends.
func Silent(tb testing.TB) (addr string, accepted func() int) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
}
