package pace

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// window feeds one full measurement window at the current limit: every sample sent with `inflight`
// requests in flight and answered after lat. It returns the limit afterwards.
func window(a *aimd, now time.Time, inflight int, lat time.Duration) int {
	n := max(4*a.limit, 16)
	for range n {
		seq := a.sent(now)
		a.observe(now, observation{seq: seq, inflight: inflight, latency: lat})
	}
	return a.limit
}

// thrashing is the latency of a target that slows down under load, scimserver.SlowDown's formula with a
// 10 ms base and knee 8: 10 ms × (1 + ((n−1)/8)²).
func thrashing(n int) time.Duration {
	x := float64(n-1) / 8
	return time.Duration(float64(10*time.Millisecond) * (1 + x*x))
}

func TestAIMDClimbsToTheKneeAndHolds(t *testing.T) {
	// Throughput n / latency(n), in requests per 10 ms: n=4 3.506, 5 4.000, 6 4.315, 7 4.480, 8 4.531.
	// Gains: 4→5 +14.1 %, 5→6 +7.9 %, 6→7 +3.8 %, 7→8 +1.1 %: the step to 8 gains less than 3 %, so the
	// controller goes back to 7, holds 8 windows there, probes 8 once more and comes back.
	a := newAIMD(4, 32)
	var got []int
	for range 16 {
		got = append(got, window(a, t0, a.limit, thrashing(a.limit)))
	}
	want := []int{5, 6, 7, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("limits after each window = %v, want %v", got, want)
		}
	}
}

func TestAIMDNeverAboveMax(t *testing.T) {
	// Latency flat: every step pays, so only the maximum stops it.
	a := newAIMD(4, 6)
	var got []int
	for range 5 {
		got = append(got, window(a, t0, a.limit, 5*time.Millisecond))
	}
	if want := []int{5, 6, 6, 6, 6}; !equal(got, want) {
		t.Fatalf("limits = %v, want %v", got, want)
	}
	if a := newAIMD(10, 6); a.limit != 6 {
		t.Fatalf("start above max: limit %d, want 6", a.limit)
	}
	if a := newAIMD(0, 0); a.limit != 1 || a.max != 1 {
		t.Fatalf("zero start and max: limit %d max %d, want 1 and 1", a.limit, a.max)
	}
}

func TestAIMDDoesNotRaiseAnUnfilledWindow(t *testing.T) {
	// The caller never has more than 3 requests in flight under a limit of 4: latency says nothing
	// about a 5th, so the limit stays.
	a := newAIMD(4, 32)
	for range 5 {
		if got := window(a, t0, 3, 5*time.Millisecond); got != 4 {
			t.Fatalf("limit = %d, want 4", got)
		}
	}
}

func TestAIMDHalvesOncePerEventAndPauses(t *testing.T) {
	a := newAIMD(16, 32)
	early := a.sent(t0)        // sent before the first 429
	first := a.sent(t0)        // its 429 is the event
	other := a.sent(t0)        // in flight too: same event
	now := t0.Add(time.Second) // no successes so far: no pace yet
	if !a.observe(now, observation{seq: first, inflight: 3, outcome: outcomeCongested, retryAfter: 2 * time.Second}) {
		t.Fatal("first 429 did not halve")
	}
	if a.limit != 8 {
		t.Fatalf("limit %d, want 8", a.limit)
	}
	if want := now.Add(2 * time.Second); !a.pauseUntil.Equal(want) {
		t.Fatalf("pause until %v, want %v", a.pauseUntil, want)
	}
	// Answers to requests sent before the cut: no second halving; a longer Retry-After extends the pause.
	if a.observe(now, observation{seq: other, outcome: outcomeCongested, retryAfter: 5 * time.Second}) {
		t.Fatal("a 429 of the same event halved again")
	}
	a.observe(now, observation{seq: early, outcome: outcomeCongested, retryAfter: time.Second})
	if a.limit != 8 || !a.pauseUntil.Equal(now.Add(5*time.Second)) {
		t.Fatalf("limit %d pause %v, want 8 and %v", a.limit, a.pauseUntil, now.Add(5*time.Second))
	}
	// 503 is congestion too; a request sent after the cut starts a new event.
	later := a.sent(now)
	if !a.observe(now, observation{seq: later, outcome: outcomeCongested}) || a.limit != 4 {
		t.Fatalf("503 after the cut: limit %d, want 4", a.limit)
	}
	for range 5 {
		a.observe(now, observation{seq: a.sent(now), outcome: outcomeCongested})
	}
	if a.limit != 1 || a.halvings != 7 {
		t.Fatalf("limit %d after %d halvings, want 1 after 7", a.limit, a.halvings)
	}
}

func TestAIMDIgnoresOtherFailures(t *testing.T) {
	a := newAIMD(8, 32)
	for range 100 {
		if a.observe(t0, observation{seq: a.sent(t0), outcome: outcomeOther}) {
			t.Fatal("a transport error or 500 halved the limit")
		}
	}
	if a.limit != 8 || a.rate != 0 || !a.pauseUntil.IsZero() {
		t.Fatalf("limit %d rate %v pause %v, want 8, 0, none", a.limit, a.rate, a.pauseUntil)
	}
}

func TestAIMDSamplesFromBeforeACutDoNotCount(t *testing.T) {
	a := newAIMD(8, 32)
	old := make([]uint64, 64)
	for i := range old {
		old[i] = a.sent(t0)
	}
	a.observe(t0, observation{seq: a.sent(t0), outcome: outcomeCongested})
	for _, s := range old { // 64 fast answers, enough for 4 windows at limit 4, all from before the cut
		a.observe(t0, observation{seq: s, inflight: 8, latency: time.Millisecond})
	}
	if a.limit != 4 || a.samples != 0 {
		t.Fatalf("limit %d with %d samples, want 4 and 0", a.limit, a.samples)
	}
}

func TestAIMDPaceFollowsTheAllowance(t *testing.T) {
	a := newAIMD(4, 16)
	// A target allowing 20/s with a burst of 20 takes 20 creates in the first 20 ms, then answers 429
	// with Retry-After: 1. It accepted 20 requests in 20 ms + 1 s: 20 / 1.02 = 19.6078/s.
	for i := range 20 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		a.observe(now, observation{seq: a.sent(now), inflight: 1, latency: time.Millisecond})
	}
	at := t0.Add(20 * time.Millisecond)
	a.observe(at, observation{seq: a.sent(at), outcome: outcomeCongested, retryAfter: time.Second})
	if want := 20 / 1.02; math.Abs(a.rate-want) > 1e-9 {
		t.Fatalf("pace %v/s, want %v/s", a.rate, want)
	}
	// It rises by 1 % of itself a second while sending; a long idle gap counts as one second.
	a.sent(at.Add(time.Second))
	if want := 20 / 1.02 * 1.01; math.Abs(a.rate-want) > 1e-9 {
		t.Fatalf("pace after 1 s: %v/s, want %v/s", a.rate, want)
	}
	a.sent(at.Add(time.Hour))
	if want := 20 / 1.02 * 1.01 * 1.01; math.Abs(a.rate-want) > 1e-9 {
		t.Fatalf("pace after an idle hour: %v/s, want %v/s", a.rate, want)
	}
	// Fewer than 4 successes before the next 429 are no estimate: the pace halves instead.
	r := a.rate
	at = at.Add(time.Hour)
	a.observe(at, observation{seq: a.sent(at), inflight: 1, latency: time.Millisecond})
	a.observe(at, observation{seq: a.sent(at), outcome: outcomeCongested})
	if want := r / 2; math.Abs(a.rate-want) > 1e-9 {
		t.Fatalf("pace after a 429 without evidence: %v/s, want %v/s", a.rate, want)
	}
	// And never below 1/s.
	for range 10 {
		a.observe(at, observation{seq: a.sent(at), outcome: outcomeCongested})
	}
	if a.rate != 1 {
		t.Fatalf("pace %v/s, want the floor 1/s", a.rate)
	}
	// A new estimate replaces the pace, upwards too: 100 successes in the second before a 429.
	start := at
	at = at.Add(time.Second)
	for range 100 {
		a.observe(at, observation{seq: a.sent(at), inflight: 1, latency: time.Millisecond})
	}
	a.observe(at, observation{seq: a.sent(at), outcome: outcomeCongested})
	if want := 100 / at.Sub(start).Seconds(); a.rate != want {
		t.Fatalf("pace %v/s, want %v/s", a.rate, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
