package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkLinks100k measures the per-cycle load of the whole connector data store for a large tenant.
func BenchmarkLinks100k(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100_000
	batch := make([]Link, 0, 10_000)
	for i := range n {
		batch = append(batch, sampleLink(KindUser, i))
		if len(batch) == cap(batch) {
			if err := s.PutLinks(batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		all, err := s.Links(KindUser)
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
	as := make([]Link, n)
	for i := range as {
		as[i] = sampleLink(KindUser, i)
	}
	benchPuts(b, as, 500, false)
}

// benchPuts writes as through the batcher of a fresh state, batch links a commit, and closes the
// state; withClose counts the Close (which folds the journal) in the time.
func benchPuts(b *testing.B, as []Link, batch int, withClose bool) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		bt := s.NewBatcher(batch, time.Second)
		for _, a := range as {
			bt.Put(a)
		}
		if err := bt.Close(); err != nil {
			b.Fatal(err)
		}
		if !withClose {
			b.StopTimer()
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkStateBytesPerUser writes what an initial cycle leaves for each created user (its anchor
// through the batcher, as the apply phase does, and its create log entry) and prints the state file's
// size per user: bbolt's data (the pages in use or free for reuse) and the file. It asserts nothing.
func BenchmarkStateBytesPerUser(b *testing.B) {
	const n = 20_000
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "state.db")
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		bt := s.NewBatcher(256, 500*time.Millisecond)
		logs := make([]LogEntry, 0, n)
		for i := range n {
			a, e := realisticUser(i)
			bt.Put(a)
			logs = append(logs, e)
		}
		if err := bt.Close(); err != nil {
			b.Fatal(err)
		}
		if err := s.AppendLog(logs...); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var data int64
		_ = s.view(func(tx *bolt.Tx) error { data = tx.Size(); return nil })
		s.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(data)/n, "data-B/user")
		b.ReportMetric(float64(fi.Size())/n, "file-B/user")
		b.StartTimer()
	}
}

// realisticUser is a Gong preset user as the engine stores it: UUIDs for ids, the preset's paths and
// a create log entry with its steps and modified properties.
func realisticUser(i int) (Link, LogEntry) {
	// Graph ids are random: keys spread over the tree as they do in a real file.
	id := func(k int) string {
		h := uint64(i*4+k+1) * 0x9e3779b97f4a7c15
		return fmt.Sprintf("%08x-%04x-4449-83bd-%012x", uint32(h>>32), uint16(h>>16), h&0xffffffffffff)
	}
	name := fmt.Sprintf("user.name%d@contoso.example", i)
	values := map[string]any{
		"active": true, `emails[type eq "work"].value`: name, "externalId": fmt.Sprintf("user.name%d", i),
		"locale": "fr-FR", "name.familyName": "Family", "name.givenName": "Given",
		`phoneNumbers[type eq "work"].value`: fmt.Sprintf("+33 1 55 55 %04d", i%10000), "title": "Operations Analyst",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:country":         "France",
		"urn:ietf:params:scim:schemas:extension:Gong:2.0:User:stateOrProvince": "IDF",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":   id(2), "userName": name,
	}
	a := Link{Kind: KindUser, SourceID: id(0), TargetID: id(1), Managed: true, Hash: fmt.Sprintf("%032x", i),
		Values: values, MatchedBy: "created", ManagerID: id(3)}
	e := LogEntry{CycleID: "b1901c46604aadc0", Kind: KindUser, SourceID: a.SourceID, TargetID: a.TargetID, Identity: name,
		Action: "Create", Status: "Success", DurationMs: 11, Steps: []Step{
			{Name: "import", Status: "success", Description: "Received user " + name + " from Microsoft Graph"},
			{Name: "scoping", Status: "success", Description: "In scope: assigned and passed the scoping filters"},
			{Name: "matching", Status: "success", Description: "No matching user in the target"},
			{Name: "export", Status: "success", Description: "Create user in the target"}}}
	for _, k := range sortedKeys(values) {
		e.Modified = append(e.Modified, Property{Name: k, New: fmt.Sprint(values[k])})
	}
	return a, e
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// BenchmarkCompact100k measures what Compact costs on the file an initial cycle of 100,000 users
// leaves (links and log entries interleaved): the decision's walk of the page statistics, which every
// cycle pays, and the rewrite, which only a wasteful file pays. It prints the data per user before and
// after and asserts nothing.
func BenchmarkCompact100k(b *testing.B) {
	const n = 100_000
	src, _ := wasteful(b, n)
	raw, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "state.db")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := s.Compact(CompactPolicy{MinReclaim: 1 << 62}); err != nil {
			b.Fatal(err)
		}
		decide := time.Since(t0)
		t0 = time.Now()
		res, err := s.Compact(CompactPolicy{})
		if err != nil || !res.Compacted {
			b.Fatalf("Compact = %+v, %v", res, err)
		}
		b.ReportMetric(float64(decide.Microseconds())/1000, "decide-ms")
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "compact-ms")
		b.ReportMetric(float64(res.Before)/n, "before-B/user")
		b.ReportMetric(float64(res.After)/n, "after-B/user")
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkPendingCreates marks and clears the pending creates of a wave of 50,000 users, as the apply
// step does around a wave (sync/record.MarkPending, ClearPending).
func BenchmarkPendingCreates(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	put := make(map[string][]string, 50000)
	del := make([]string, 0, 50000)
	for i := range 50000 {
		k := fmt.Sprintf("user/%08x-%04x", uint32(i)*2654435761, i)
		put[k] = []string{}
		del = append(del, k)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.PutSets(SetPendingCreates, put, nil, false); err != nil {
			b.Fatal(err)
		}
		if err := s.PutSets(SetPendingCreates, nil, del, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInitialLinks100k writes the links of a 100,000-user initial cycle as the apply step does
// (the engine's batcher, 1,024 a batch, ids as random as Entra's object ids), then closes the state,
// which folds the rest of the journal: what the journal and its folds cost a cycle.
func BenchmarkInitialLinks100k(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	id := func() string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff,
			rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
	}
	as := make([]Link, n)
	for i := range as {
		as[i] = sampleLink(KindUser, i)
		as[i].SourceID, as[i].TargetID = id(), id()
	}
	benchPuts(b, as, 1024, true)
}
