package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/emulator/graphapi"
	"github.com/scimsync/scimsync/emulator/scimserver"
	"github.com/scimsync/scimsync/graph"
	"github.com/scimsync/scimsync/mapping"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/scimclient/target"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
	"github.com/scimsync/scimsync/sync/plan"
)

// BenchmarkCycleMemory prints what a cycle holds in memory: an initial cycle of n users (Gong preset)
// and n/100 groups of 100 members each, then a cycle with nothing to change, read from the emulated
// Graph into the in-process Go target. Both emulators run in this process, so the figures are of the
// whole heap; "before" is the live heap after a collection just before the cycle (the emulators'
// tenant and the target's objects so far), "peak" the highest live heap a collection saw during it
// (runtime/metrics /gc/heap/live:bytes, sampled), "inuse" the highest HeapInuse sampled. The cycle's
// own share lies between peak-after and peak-before (the target grows during an initial cycle).
// MEMORY_BENCH_PROFILE=dir writes the heap profile at each cycle's peak there. Printed, never asserted: run with `go test ./sync/engine -run '^$' -bench 'CycleMemory/10000$' -benchtime 1x`
// (100000 for the larger one; about a minute and 4 GB).
func BenchmarkCycleMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				memoryCycles(b, n)
			}
		})
	}
}

func memoryCycles(b *testing.B, n int) {
	b.StopTimer()
	defer b.StartTimer() // b.Loop wants it running
	tenant := graphapi.GenerateGroupTenant(n, n/100, 100)
	g := graphapi.NewServer(tenant, graphapi.Options{PageSize: 999, Token: "bench"})
	g.Start()
	defer g.Close()
	srv := scimserver.New(scimserver.Options{Token: "t"})
	url := srv.Start()
	defer srv.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`name: memory
source:
  tenantId: 11111111-1111-1111-1111-111111111111
  clientId: 22222222-2222-2222-2222-222222222222
  credential: {type: clientSecret, secretEnv: S}
  servicePrincipalId: %s
target:
  url: %s
  tokenEnv: T
scope: all
users:
  preset: gong
groups:
  enabled: true
`, tenant.ServicePrincipal.ID, url)), "memory.yaml", func(string) (string, bool) { return "x", true })
	if err != nil {
		b.Fatal(err)
	}
	rd, err := graph.New(graph.Options{GraphURL: g.GraphURL(), Credential: staticToken("bench"), HTTPClient: g.Client()})
	if err != nil {
		b.Fatal(err)
	}
	c, err := scimclient.New(scimclient.Options{BaseURL: url, Token: "t", Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	o := engine.Options{Users: cfg.Users.Table, Groups: cfg.Groups.Table, Scope: engine.ScopeAll, Concurrency: 8,
		Fingerprint: cfg.Fingerprint(), Env: &mapping.Env{}, MemberBatchSize: cfg.Groups.MemberBatchSize,
		Policy: plan.Policy{Create: true, Update: true, Delete: true}}
	e := engine.New(rd, engine.Target{Users: target.Users(c), Groups: target.Groups(c)}, st, o)
	for _, name := range []string{"initial", "no-change"} {
		before := liveHeap()
		var profile string
		if dir := os.Getenv("MEMORY_BENCH_PROFILE"); dir != "" {
			profile = filepath.Join(dir, fmt.Sprintf("heap-%d-%s.pprof", n, name))
		}
		m := startHeapSampler(profile)
		start := time.Now()
		b.StartTimer()
		rep, err := e.Cycle(context.Background(), false)
		b.StopTimer()
		took := time.Since(start)
		peak, inuse := m.stop()
		if err != nil || rep.TotalFailed() != 0 {
			b.Fatalf("%s cycle: %v; %d failed", name, err, rep.TotalFailed())
		}
		after := liveHeap()
		fmt.Printf("memory %s cycle, %d users, %d groups: %d created, %d unchanged, %d members added; %.1fs; live heap before %d MiB, "+
			"peak %d MiB, after %d MiB (cycle share %d-%d MiB); HeapInuse max %d MiB\n",
			name, n, n/100, rep.Created, rep.Unchanged, rep.MembersAdded, took.Seconds(), mib(before), mib(peak), mib(after),
			mib(peak-min(peak, after)), mib(peak-min(peak, before)), mib(inuse))
	}
}

type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func mib(v uint64) uint64 { return v >> 20 }

// liveHeap collects and returns the live heap.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapSampler records the highest live heap and HeapInuse while it runs.
type heapSampler struct {
	quit        chan struct{}
	wg          sync.WaitGroup
	peak, inuse uint64
	// profile, when set (MEMORY_BENCH_PROFILE), is where the heap profile at the peak is written.
	profile string
	dumped  uint64
}

func startHeapSampler(profile string) *heapSampler {
	m := &heapSampler{quit: make(chan struct{}), profile: profile}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if live := s[0].Value.Uint64(); live > m.peak {
				if m.profile != "" && live > m.dumped+m.dumped/20 {
					// A new peak: keep the heap profile of the live objects behind it.
					m.dumped = live
					if f, err := os.Create(m.profile); err == nil {
						_ = pprof.WriteHeapProfile(f)
						f.Close()
					}
				}
				m.peak = live
			}
			m.inuse = max(m.inuse, s[1].Value.Uint64()+s[2].Value.Uint64())
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *heapSampler) stop() (peak, inuse uint64) {
	close(m.quit)
	m.wg.Wait()
	return m.peak, m.inuse
}
