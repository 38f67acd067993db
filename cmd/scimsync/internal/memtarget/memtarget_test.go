package memtarget

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

const mib = 1 << 20

// limitNow is the memory limit in force.
func limitNow() int64 { return debug.SetMemoryLimit(-1) }

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		name            string
		target, ceiling int64
		live, overhead  uint64
		want            int64
	}{
		{"small heap: the target", 200 * mib, 0, 50 * mib, 10 * mib, 200 * mib},
		{"live plus half of it fits exactly", 200 * mib, 0, 120 * mib, 20 * mib, 200 * mib},
		{"live heap outgrows the target: half of it on top", 200 * mib, 0, 180 * mib, 10 * mib, 280 * mib},
		{"never above the ceiling", 200 * mib, 250 * mib, 180 * mib, 10 * mib, 250 * mib},
		{"a target above the ceiling is cut to it", 300 * mib, 250 * mib, 10 * mib, 0, 250 * mib},
		{"no target: the ceiling", 0, 250 * mib, 180 * mib, 10 * mib, 250 * mib},
		{"no target, no ceiling: no limit", 0, 0, 180 * mib, 10 * mib, math.MaxInt64},
		{"no ceiling given as MaxInt64", 200 * mib, math.MaxInt64, 10 * mib, 0, 200 * mib},
		{"a live heap too big to count stays unlimited", 200 * mib, 0, math.MaxUint64, 0, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Limit(tc.target, tc.ceiling, tc.live, tc.overhead); got != tc.want {
				t.Errorf("Limit(%d, %d, %d, %d) = %d, want %d", tc.target, tc.ceiling, tc.live, tc.overhead, got, tc.want)
			}
		})
	}
}

// collectUntil runs collections until cond holds, at most 200 of them (the tuner hears of a collection
// from a finalizer, which runs on its own goroutine soon after).
func collectUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		runtime.GC()
		runtime.Gosched()
		if cond() {
			return
		}
	}
	t.Fatalf("not reached after 200 collections; limit %d", debug.SetMemoryLimit(-1))
}

func TestTunerFollowsTheLiveHeapAndStops(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	tu := Start(8*mib, 0)
	if got := limitNow(); got < 8*mib {
		t.Fatalf("limit right after Start = %d, want at least the target", got)
	}
	live := make([]byte, 64*mib)
	for i := range live {
		live[i] = byte(i)
	}
	// 64 MiB live: the limit must leave half of it on top, whatever the target says.
	collectUntil(t, func() bool { return limitNow() >= 96*mib })
	runtime.KeepAlive(live)
	live = nil
	// Once the data is gone the target is back in force.
	collectUntil(t, func() bool { return limitNow() < 64*mib })

	tu.Stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit after Stop = %d, want the one before Start, %d", got, before)
	}
	big := make([]byte, 64*mib)
	for range 5 {
		runtime.GC()
		runtime.Gosched()
	}
	runtime.KeepAlive(big)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit changed after Stop: %d, want %d", got, before)
	}
}

func TestTunerHoldsTheCeiling(t *testing.T) {
	tu := Start(8*mib, 32*mib)
	defer tu.Stop()
	live := make([]byte, 64*mib)
	for i := range live {
		live[i] = byte(i)
	}
	// The live heap is over the ceiling; the limit stays at the ceiling (collecting harder there is
	// better than the kernel's kill).
	for range 5 {
		runtime.GC()
		runtime.Gosched()
	}
	runtime.KeepAlive(live)
	if got := limitNow(); got != 32*mib {
		t.Fatalf("limit = %d, want the ceiling %d", got, 32*mib)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int64
		bad  bool
	}{
		{"200MiB", 200 * mib, false},
		{"1GiB", 1 << 30, false},
		{"500MB", 500_000_000, false},
		{"0", 0, false},
		{"lots", 0, true},
		{"", 0, true},
		{"-5MiB", 0, true},
		{"99999999999PiB", 0, true},
	} {
		got, err := Parse(tc.raw)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d (error: %v)", tc.raw, got, err, tc.want, tc.bad)
		}
	}
}

func TestStartTargetLeavesTheLimitAlone(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	if tu := StartTarget(0, 0); tu != nil {
		tu.Stop()
		t.Error("a target of 0 started a tuner")
	}
	t.Setenv("GOMEMLIMIT", "300MiB")
	if tu := StartTarget(200*mib, 0); tu != nil {
		tu.Stop()
		t.Error("with GOMEMLIMIT set, a tuner started")
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit changed to %d, want %d", got, before)
	}
}
