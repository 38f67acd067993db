package store

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBatcherErrors(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(0, 0)     // defaults
	b.Put(Link{Kind: KindUser}) // invalid: rejected at once, reported once
	b.Put(sampleLink(KindUser, 1))
	if err := b.Flush(); err == nil {
		t.Error("Flush should report the invalid Put")
	}
	if err := b.Flush(); err != nil {
		t.Errorf("error reported twice: %v", err)
	}
	if _, ok, _ := s.Link(KindUser, "src-1"); !ok {
		t.Error("valid Put lost because of an invalid one")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b.Put(sampleLink(KindUser, 2))
	if err := b.Flush(); !errors.Is(err, ErrBatcherClosed) {
		t.Errorf("Put after Close: err = %v, want ErrBatcherClosed", err)
	}
}

// flakyWriter fails while broken and records what it committed.
type flakyWriter struct {
	mu      sync.Mutex
	broken  bool
	written []string
	commits int
}

func (w *flakyWriter) WriteLinks(ops []LinkOp) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken {
		return errors.New("disk full")
	}
	w.commits++
	for _, op := range ops {
		w.written = append(w.written, op.Link.SourceID)
	}
	return nil
}

// TestBatcherBackgroundCommitFailure: a full batch commits in the background; when that fails, the
// writes stay queued in order and the failure reaches Flush, and nothing is lost once the disk is back.
func TestBatcherBackgroundCommitFailure(t *testing.T) {
	w := &flakyWriter{broken: true}
	b := NewBatcherOn(w, 2, time.Hour)
	for i := range 5 {
		b.Put(sampleLink(KindUser, i))
	}
	if err := b.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush with a broken disk: %v", err)
	}
	w.mu.Lock()
	w.broken = false
	w.mu.Unlock()
	if err := b.Close(); err != nil {
		t.Fatalf("Close after the disk is back: %v", err)
	}
	if got, want := strings.Join(w.written, ","), "src-0,src-1,src-2,src-3,src-4"; got != want {
		t.Fatalf("written %s, want %s in order", got, want)
	}
}
