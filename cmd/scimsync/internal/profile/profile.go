// Package profile writes Go profiles for one run of the binary (--cpu-profile, --heap-profile).
package profile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// Profiles writes Go profiles for one run of the binary, so memory and CPU can be measured where an
// admin runs scimsync: its own process, the directory and the target outside it (docs/performance.md).
// The heap profile is the one taken when the live heap was highest, not at exit, when the cycle's data
// is already gone.
type Profiles struct {
	cpu      *os.File
	heapPath string
	stop     chan struct{}
	done     sync.WaitGroup
}

// Start starts a CPU profile into cpuPath and the peak-heap profile into heapPath, each when not empty;
// nil when neither is asked for. Stop it before the process exits.
func Start(cpuPath, heapPath string) (*Profiles, error) {
	if cpuPath == "" && heapPath == "" {
		return nil, nil
	}
	p := &Profiles{heapPath: heapPath, stop: make(chan struct{})}
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		p.cpu = f
	}
	if heapPath != "" {
		// Check the path now rather than at the first peak.
		if err := writeHeapProfile(heapPath); err != nil {
			p.Stop()
			return nil, fmt.Errorf("--heap-profile: %w", err)
		}
		p.done.Add(1)
		go p.watchHeap()
	}
	return p, nil
}

// watchHeap samples the live heap (what the last collection kept) and writes a heap profile each time
// it grows by a tenth over the highest so far.
func (p *Profiles) watchHeap() {
	defer p.done.Done()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var high uint64
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if live := sample[0].Value.Uint64(); live > high+high/10 {
			high = live
			if err := writeHeapProfile(p.heapPath); err != nil {
				fmt.Fprintln(os.Stderr, "scimsync: --heap-profile:", err)
				return
			}
		}
	}
}

// Stop ends the profiles; safe on nil.
func (p *Profiles) Stop() {
	if p == nil {
		return
	}
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "scimsync: --cpu-profile:", err)
		}
	}
	close(p.stop)
	p.done.Wait()
}

// writeHeapProfile replaces path with the heap as of the last collection, through a temporary file so a
// reader never sees half a profile.
func writeHeapProfile(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	runtime.GC() // the profile is as of the last collection: make that now
	err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
