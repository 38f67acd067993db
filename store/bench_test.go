package store

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAnchors100k measures the per-cycle load of the whole connector data store for a large tenant.
func BenchmarkAnchors100k(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100_000
	batch := make([]Anchor, 0, 10_000)
	for i := range n {
		batch = append(batch, sampleAnchor(KindUser, i))
		if len(batch) == cap(batch) {
			if err := s.PutAnchors(batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		all, err := s.Anchors(KindUser)
		if err != nil {
			b.Fatal(err)
		}
		if len(all) != n {
			b.Fatalf("loaded %d", len(all))
		}
	}
}

// BenchmarkBatcher10k measures the apply phase of a 10,000-object initial cycle: one Put per object,
// committed in fsynced batches.
func BenchmarkBatcher10k(b *testing.B) {
	const n = 10_000
	as := make([]Anchor, n)
	for i := range as {
		as[i] = sampleAnchor(KindUser, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		bt := s.NewBatcher(500, time.Second)
		for _, a := range as {
			bt.Put(a)
		}
		if err := bt.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
