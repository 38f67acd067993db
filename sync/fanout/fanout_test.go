package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEachRunsEveryItemWithinTheLimit(t *testing.T) {
	const n, limit = 50, 3
	var inFlight, peak atomic.Int32
	seen := make([]int32, n)
	// Every call waits until limit calls are in flight (or all that remain), so the bound is reached
	// without relying on timing.
	var mu sync.Mutex
	started := 0
	gate := make(chan struct{})
	err := Each(context.Background(), limit, n, func(_ context.Context, i int) error {
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		mu.Lock()
		started++
		if started == limit {
			close(gate)
		}
		mu.Unlock()
		<-gate
		atomic.AddInt32(&seen[i], 1)
		inFlight.Add(-1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak in flight = %d, want %d", p, limit)
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("item %d ran %d times", i, c)
		}
	}
}

func TestEachFirstErrorCancelsTheOthers(t *testing.T) {
	boom := errors.New("boom")
	var cancelled atomic.Int32
	err := Each(context.Background(), 1, 5, func(ctx context.Context, i int) error {
		if i == 0 {
			return boom
		}
		if ctx.Err() != nil {
			cancelled.Add(1)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// One at a time: the four later calls all start after the first failed.
	if cancelled.Load() != 4 {
		t.Errorf("%d calls saw the cancellation, want 4", cancelled.Load())
	}
}

func TestEachWithNothingToDo(t *testing.T) {
	if err := Each(context.Background(), 0, 0, func(context.Context, int) error { return errors.New("called") }); err != nil {
		t.Fatal(err)
	}
}

func TestChunksCoversAndClears(t *testing.T) {
	items := []int{1, 2, 3, 4, 5, 6, 7}
	var seen [][]int
	Chunks(context.Background(), items, 3, func(part []int) { seen = append(seen, append([]int(nil), part...)) })
	if fmt.Sprint(seen) != "[[1 2 3] [4 5 6] [7]]" || fmt.Sprint(items) != "[0 0 0 0 0 0 0]" {
		t.Fatalf("parts %v, items after %v", seen, items)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	Chunks(ctx, []int{1, 2, 3, 4}, 2, func([]int) { calls++; cancel() })
	if calls != 1 {
		t.Fatalf("%d calls after the context was cancelled, want 1", calls)
	}
}
