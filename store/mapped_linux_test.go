package store

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// mappedRSS is how much of the file at path is resident in this process's mappings (mapped.Resident).
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	n, err := mapped.Resident(path)
	if err != nil {
		t.Skipf("cannot measure the mapping: %v", err)
	}
	return n
}

// The pages of the state file a transaction walked stop counting in the process's RSS once the store
// is done with them, and nothing read afterwards differs from what was written.
func TestMappedPagesLeaveRSS(t *testing.T) {
	s, path := openTest(t)
	const n = 12000
	want := make(map[string]string, n)
	batch := make([]Link, 0, 1000)
	for i := range n {
		id := fmt.Sprintf("%08x-user-%d", uint32(i)*2654435761, i) // spread over the whole bucket
		a := Link{Kind: KindUser, SourceID: id, TargetID: "t-" + id, Managed: true, Hash: strings.Repeat("h", 64),
			Values: map[string]any{"userName": id + "@example.com", "displayName": "User " + strconv.Itoa(i)}}
		want[id] = a.TargetID
		batch = append(batch, a)
		if len(batch) == cap(batch) {
			if err := s.PutLinks(batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// The few pages a commit reads after its transaction let the others go, each with the neighbours
	// the kernel maps around a fault (fault-around, 64 KiB by default).
	const small = 512 << 10

	// A read that keeps its pages: the measurement sees them.
	walked := int64(0)
	if err := s.view(func(tx *bolt.Tx) error {
		for range tx.Check() {
		}
		walked = mappedRSS(t, path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("resident after walking every page: %d bytes", walked)
	if walked < 8*small {
		t.Fatalf("after walking every page, %d bytes of the file are resident; the test cannot see the mapping", walked)
	}

	got, err := s.Links(KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if rss := mappedRSS(t, path); rss > small {
		t.Errorf("after Links, %d bytes of the state file are still resident, want at most %d", rss, small)
	}
	if len(got) != len(want) {
		t.Fatalf("Links: %d anchors, want %d", len(got), len(want))
	}
	for id, tid := range want {
		if got[id].TargetID != tid || got[id].Values["userName"] != id+"@example.com" {
			t.Fatalf("anchor %s: %+v", id, got[id])
		}
	}

	// A write lets go of what the reads before it mapped.
	if err := s.view(func(tx *bolt.Tx) error {
		for range tx.Check() {
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLinks(Link{Kind: KindUser, SourceID: "one-more", TargetID: "t-one-more"}); err != nil {
		t.Fatal(err)
	}
	if rss := mappedRSS(t, path); rss > small {
		t.Errorf("after a write, %d bytes of the state file are still resident, want at most %d", rss, small)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if rss := mappedRSS(t, path); rss > small {
		t.Errorf("after Check, %d bytes of the state file are still resident, want at most %d", rss, small)
	}
	// Many single reads at random places let go every dropEveryViews read transactions: after a read
	// that did, little of the file is resident.
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	for i := 0; i < 2000 || s.views.Load()%dropEveryViews != 0; i++ {
		if i%2 == 0 {
			if _, ok, err := s.Link(KindUser, ids[i%len(ids)]); err != nil || !ok {
				t.Fatalf("Link(%s) = %v, %v", ids[i%len(ids)], ok, err)
			}
		} else if _, ok, err := s.LinkByTarget(KindUser, want[ids[i%len(ids)]]); err != nil || !ok {
			t.Fatalf("LinkByTarget(%s) = %v, %v", want[ids[i%len(ids)]], ok, err)
		}
	}
	if rss := mappedRSS(t, path); rss > small {
		t.Errorf("after many single reads, %d bytes of the state file are still resident, want at most %d", rss, small)
	}
	if n, err := s.CountLinks(KindUser); err != nil || n != len(want)+1 {
		t.Fatalf("CountLinks = %d, %v; want %d", n, err, len(want)+1)
	}
	if rss := mappedRSS(t, path); rss > small {
		t.Errorf("after CountLinks, %d bytes of the state file are still resident, want at most %d", rss, small)
	}
	a, ok, err := s.Link(KindUser, "one-more")
	if err != nil || !ok || a.TargetID != "t-one-more" {
		t.Fatalf("Link(one-more) = %+v, %v, %v", a, ok, err)
	}
}
