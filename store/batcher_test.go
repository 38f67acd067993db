package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestBatcherConcurrentPut(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(100, time.Hour)
	const workers, per = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				b.Put(sampleAnchor(KindUser, w*per+i))
			}
		}()
	}
	wg.Wait()
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if b.Pending() != 0 {
		t.Errorf("Pending after Flush = %d", b.Pending())
	}
	all, err := s.Anchors(KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*per {
		t.Fatalf("stored %d anchors, want %d", len(all), workers*per)
	}
	assertAnchor(t, all["src-1234"], sampleAnchor(KindUser, 1234))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBatcherSizeTrigger(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(10, time.Hour)
	defer b.Close()
	for i := range 25 {
		b.Put(sampleAnchor(KindUser, i))
	}
	// Two full batches committed synchronously; five wait for the timer or a Flush.
	if n, _ := s.CountAnchors(KindUser); n != 20 {
		t.Errorf("committed %d, want 20", n)
	}
	if b.Pending() != 5 {
		t.Errorf("Pending = %d, want 5", b.Pending())
	}
}

func TestBatcherDelayFlush(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(1000, 50*time.Millisecond)
	defer b.Close()
	b.Put(sampleAnchor(KindGroup, 1))
	if _, ok, _ := s.Anchor(KindGroup, "src-1"); ok {
		t.Fatal("committed before the delay")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := s.Anchor(KindGroup, "src-1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("delay flush never happened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The timer re-arms for the next write.
	b.Put(sampleAnchor(KindGroup, 2))
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := s.Anchor(KindGroup, "src-2"); !ok {
		t.Error("second delay flush did not happen")
	}
}

func TestBatcherOrderAndDelete(t *testing.T) {
	s, _ := openTest(t)
	if err := s.PutAnchors(sampleAnchor(KindUser, 1)); err != nil {
		t.Fatal(err)
	}
	b := s.NewBatcher(3, time.Hour)
	a2 := sampleAnchor(KindUser, 2)
	b.Put(a2)
	b.Delete(KindUser, "src-2") // same batch
	b.Delete(KindUser, "src-1") // fills the batch of 3
	a2.Hash = "second"
	b.Put(a2) // next batch: re-created after the delete
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Anchor(KindUser, "src-1"); ok {
		t.Error("src-1 not deleted")
	}
	got, ok, _ := s.Anchor(KindUser, "src-2")
	if !ok || got.Hash != "second" {
		t.Errorf("src-2 = %+v, %v; want re-put with hash second", got.Hash, ok)
	}
	if _, ok, _ := s.AnchorByTarget(KindUser, "tgt-1"); ok {
		t.Error("index of deleted anchor left behind")
	}
}

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

// TestBatcherCommitFailureRequeues closes the store under the batcher: the commit fails, the writes stay
// queued, and the error is reported by Flush.
func TestBatcherCommitFailureRequeues(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatcher(100, time.Hour)
	for i := range 5 {
		b.Put(sampleAnchor(KindUser, i))
	}
	s.Close()
	err := b.Flush()
	if err == nil {
		t.Fatal("Flush on closed store: want error")
	}
	if b.Pending() != 5 {
		t.Errorf("Pending = %d, want 5 requeued", b.Pending())
	}
	if got := fmt.Sprint(err); got == "" {
		t.Error("empty error")
	}
}
