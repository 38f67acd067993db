// Package memtarget holds a process's Go memory near a target (--memory-target) without trading
// the cycle's time for it.
//
// Go's collector lets the heap grow to twice the live data (GOGC=100). A 100,000-user initial cycle
// kept 107-125 MB live at its peak, so its heap reached 260 MB and its RSS 313-360 MiB, over the 256
// MiB it should fit (docs/performance.md#the-memory-target). A fixed soft limit (GOMEMLIMIT) holds the heap,
// but when the live data itself grows to the limit (a full round or a mass change at that size keeps
// more) the collector runs nearly back to back: in the scale harness a 176 MiB GOMEMLIMIT tripled the
// mass change's CPU. So the limit here moves: it is the target while the live heap leaves the
// collector room, and rises with the live heap otherwise, as far as a ceiling (a cgroup's limit),
// where the alternative to collecting harder is being killed. The idea is Uber's GC tuning
// (https://www.uber.com/blog/how-we-saved-70k-cores-across-30-mission-critical-services/), done
// with Go's own memory limit (https://go.dev/doc/gc-guide#Memory_limit) instead of GOGC.
package memtarget

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/dustin/go-humanize"
)

// Default is --memory-target's default: it holds a 100,000-user initial cycle within 256 MiB of RSS,
// the Go memory at this target and the binary's and the state file's pages beside it
// (docs/performance.md#memory).
const Default = "200MiB"

// Parse reads a --memory-target value: a size (200MiB, 1GiB, 500MB) or 0, which turns the target off.
func Parse(raw string) (int64, error) {
	n, err := humanize.ParseBytes(raw)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("--memory-target %q: not a size (200MiB, 1GiB, or 0 to turn it off)", raw)
	}
	return int64(n), nil
}

// StartTarget starts a Tuner for target under ceiling; nil, and the limit left alone, when the target
// is off (0) or GOMEMLIMIT is set (the admin's own limit, which Go applied at start).
func StartTarget(target, ceiling int64) *Tuner {
	if target <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return Start(target, ceiling)
}

// Headroom is the least the heap may grow past the live data between collections, as a fraction of
// it: the limit never makes the collector run more often than GOGC=50 would.
const Headroom = 0.5

// Limit is the soft memory limit for a process whose last collection found live bytes of heap and
// overhead bytes of everything else the limit counts (stacks, runtime metadata, fragmentation):
// target while that leaves the heap Headroom, the live heap plus its headroom when the target does
// not, never above ceiling. target <= 0 means no target: ceiling alone.
func Limit(target, ceiling int64, live, overhead uint64) int64 {
	if ceiling <= 0 {
		ceiling = math.MaxInt64
	}
	if target <= 0 {
		return ceiling
	}
	need := float64(live)*(1+Headroom) + float64(overhead)
	limit := target
	if need > float64(target) {
		limit = math.MaxInt64
		if need < math.MaxInt64 {
			limit = int64(need)
		}
	}
	return min(limit, ceiling)
}

// Tuner sets the process's memory limit after every collection (Limit); Stop gives back the limit it
// found.
type Tuner struct {
	target, ceiling, before int64
	mu                      sync.Mutex // guards stopped and samples, so no limit is set after Stop
	stopped                 bool
	samples                 []metrics.Sample
}

// metricNames are the runtime/metrics read after each collection, in the order adjust reads them.
var metricNames = [...]string{
	"/gc/heap/live:bytes",                 // the heap the last collection marked live
	"/memory/classes/total:bytes",         // everything the runtime mapped
	"/memory/classes/heap/released:bytes", // of which given back to the system
	"/memory/classes/heap/objects:bytes",  // of which heap objects, live or not yet collected
	"/memory/classes/heap/free:bytes",     // of which free heap not yet given back
}

// Start sets the limit for target under ceiling (<= 0: none) and keeps it current after every
// collection until Stop.
func Start(target, ceiling int64) *Tuner {
	t := &Tuner{target: target, ceiling: ceiling, before: debug.SetMemoryLimit(-1)}
	for _, name := range metricNames {
		t.samples = append(t.samples, metrics.Sample{Name: name})
	}
	t.adjust()
	runtime.SetFinalizer(&sentinel{t: t}, afterGC)
	return t
}

// Stop ends the tuning and restores the limit the process had before Start.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetMemoryLimit(t.before)
	}
}

// sentinel is garbage from the moment it is made: its finalizer runs after the next collection and
// arms it again, which is how a Go program hears of each collection.
type sentinel struct{ t *Tuner }

func afterGC(s *sentinel) {
	if s.t.adjust() {
		runtime.SetFinalizer(s, afterGC)
	}
}

// adjust sets the limit for what the last collection found; false once stopped.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	var v [len(metricNames)]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 { // KindBad where this Go lacks it: 0
			v[i] = s.Value.Uint64()
		}
	}
	live, total, released, objects, free := v[0], v[1], v[2], v[3], v[4]
	inUse := total - min(total, released)
	overhead := inUse - min(inUse, objects+free)
	debug.SetMemoryLimit(Limit(t.target, t.ceiling, live, overhead))
	return true
}
