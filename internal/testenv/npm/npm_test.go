//go:build linux || darwin

package npm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
)

func TestLineWatcherReportsURLAndForwardsTheRest(t *testing.T) {
	var out bytes.Buffer
	found := make(chan string, 1)
	w := &lineWatcher{next: &out, found: found}
	// The LISTENING line arrives split across writes, as a pipe may deliver it.
	for _, chunk := range []string{"starting\nLISTEN", "ING http://127.0.0.1:1234/scim \nafter", " more\n"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if got := <-found; got != "http://127.0.0.1:1234/scim" {
		t.Errorf("url = %q", got)
	}
	if got, want := out.String(), "starting\nafter more\n"; got != want {
		t.Errorf("forwarded %q, want %q", got, want)
	}
}

func TestTailBufferKeepsTheLastBytes(t *testing.T) {
	b := &tailBuffer{max: 5}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("defg"))
	if got := b.String(); got != "cdefg" {
		t.Errorf("tail = %q, want cdefg", got)
	}
}

func TestInstallWithoutLockFileFails(t *testing.T) {
	_, err := install(context.Background(), "example", t.TempDir(), io.Discard)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("install = %v, want the missing package-lock.json", err)
	}
}
