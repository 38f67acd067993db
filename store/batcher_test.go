package store

import (
	"errors"
	"testing"
)

func TestBatcherErrors(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(0, 0) // defaults
	if b.max != DefaultBatchItems || b.delay != DefaultBatchDelay {
		t.Errorf("defaults: %d %v", b.max, b.delay)
	}
	b.Put(Anchor{Kind: KindUser}) // invalid: rejected at once, reported once
	b.Put(sampleAnchor(KindUser, 1))
	if err := b.Flush(); err == nil {
		t.Error("Flush should report the invalid Put")
	}
	if err := b.Flush(); err != nil {
		t.Errorf("error reported twice: %v", err)
	}
	if _, ok, _ := s.Anchor(KindUser, "src-1"); !ok {
		t.Error("valid Put lost because of an invalid one")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b.Put(sampleAnchor(KindUser, 2))
	if err := b.Flush(); !errors.Is(err, ErrBatcherClosed) {
		t.Errorf("Put after Close: err = %v, want ErrBatcherClosed", err)
	}
}
