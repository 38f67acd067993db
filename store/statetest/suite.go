package statetest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

func sampleLink(kind store.Kind, i int) store.Link {
	return store.Link{
		Kind:      kind,
		SourceID:  fmt.Sprintf("src-%d", i),
		TargetID:  fmt.Sprintf("tgt-%d", i),
		Managed:   true,
		Hash:      fmt.Sprintf("%064x", i),
		MatchedBy: "userName",
		Values: map[string]any{
			"userName":                     fmt.Sprintf("user%d@contoso.com", i),
			"active":                       true,
			"displayName":                  fmt.Sprintf("User %d", i),
			"name.givenName":               "Given",
			"name.familyName":              fmt.Sprintf("Family%d", i),
			`emails[type eq "work"].value`: fmt.Sprintf("user%d@contoso.com", i),
			"title":                        "Engineer",
			"department":                   "R&D",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": int64(i),
			"roles": []string{"a", "b"},
		},
		ManagerID: fmt.Sprintf("src-%d", i/10),
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		UpdatedAt: time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC),
	}
}

// testLinksCRUD walks one job's links through their whole life on one state.
//
// long: one scenario, step by step, where each step checks what the previous ones left behind.
func testLinksCRUD(t *testing.T, be Backend) {
	s := be.Open(t)

	if _, ok, err := s.Link(store.KindUser, "nope"); ok || err != nil {
		t.Fatalf("missing anchor: ok=%v err=%v", ok, err)
	}
	if m, err := s.Links(store.KindGroup); err != nil || len(m) != 0 {
		t.Fatalf("empty Links = %v, %v", m, err)
	}
	if _, ok, err := s.LinkByTarget(store.KindUser, "nope"); ok || err != nil {
		t.Fatalf("missing target: ok=%v err=%v", ok, err)
	}

	u1, u2 := sampleLink(store.KindUser, 1), sampleLink(store.KindUser, 2)
	g1 := sampleLink(store.KindGroup, 1) // same source id as u1, other kind
	g1.Members = []string{"src-1", "src-2"}
	g1.Values = map[string]any{"displayName": "G"}
	unmanaged := store.Link{Kind: store.KindUser, SourceID: "src-9", Managed: false}
	if err := s.PutLinks(u1, u2, g1, unmanaged); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		kind   store.Kind
		source string
		want   store.Link
	}{
		{store.KindUser, "src-1", u1},
		{store.KindUser, "src-2", u2},
		{store.KindGroup, "src-1", g1},
	}
	for _, tc := range tests {
		got, ok, err := s.Link(tc.kind, tc.source)
		if err != nil || !ok {
			t.Fatalf("Link(%s,%s): ok=%v err=%v", tc.kind, tc.source, ok, err)
		}
		assertLink(t, got, tc.want)
		byT, ok, err := s.LinkByTarget(tc.kind, tc.want.TargetID)
		if err != nil || !ok {
			t.Fatalf("LinkByTarget(%s,%s): ok=%v err=%v", tc.kind, tc.want.TargetID, ok, err)
		}
		assertLink(t, byT, tc.want)
	}
	got, _, _ := s.Link(store.KindUser, "src-9")
	if got.Managed || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("unmanaged anchor: %+v (timestamps should be filled)", got)
	}
	if n, err := s.CountLinks(store.KindUser); err != nil || n != 3 {
		t.Errorf("CountLinks = %d, %v", n, err)
	}

	all, err := s.Links(store.KindUser)
	if err != nil || len(all) != 3 {
		t.Fatalf("Links(user) = %d, %v", len(all), err)
	}
	assertLink(t, all["src-2"], u2)

	// Re-target u1: the index moves, CreatedAt is kept when the update leaves it zero.
	moved := u1
	moved.TargetID = "tgt-new"
	moved.CreatedAt = time.Time{}
	moved.UpdatedAt = time.Time{}
	before := time.Now()
	if err := s.PutLinks(moved); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Link(store.KindUser, "src-1")
	if !got.CreatedAt.Equal(u1.CreatedAt) {
		t.Errorf("CreatedAt not kept: %v", got.CreatedAt)
	}
	if got.UpdatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("UpdatedAt not refreshed: %v", got.UpdatedAt)
	}
	if _, ok, _ := s.LinkByTarget(store.KindUser, "tgt-1"); ok {
		t.Error("old target id still indexed")
	}
	if a, ok, _ := s.LinkByTarget(store.KindUser, "tgt-new"); !ok || a.SourceID != "src-1" {
		t.Errorf("new target id: %v %v", a, ok)
	}

	// Another anchor takes over tgt-2: the index follows the last write and deleting src-2 keeps it.
	thief := store.Link{Kind: store.KindUser, SourceID: "src-3", TargetID: "tgt-2", Managed: true}
	if err := s.PutLinks(thief); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLinks(store.KindUser, "src-2", "never-existed"); err != nil {
		t.Fatal(err)
	}
	if a, ok, _ := s.LinkByTarget(store.KindUser, "tgt-2"); !ok || a.SourceID != "src-3" {
		t.Errorf("LinkByTarget after takeover = %v %v", a.SourceID, ok)
	}
	// Moving src-3 off tgt-2 removes the index entry it owns.
	thief.TargetID = ""
	if err := s.PutLinks(thief); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LinkByTarget(store.KindUser, "tgt-2"); ok {
		t.Error("tgt-2 should be unindexed")
	}

	if _, ok, _ := s.Link(store.KindUser, "src-2"); ok {
		t.Error("src-2 not deleted")
	}
	if _, ok, _ := s.Link(store.KindGroup, "src-1"); !ok {
		t.Error("deleting a user removed the group with the same source id")
	}

	// Validation and no-ops.
	if err := s.PutLinks(store.Link{Kind: store.KindUser}); err == nil {
		t.Error("empty source id: want error")
	}
	if err := s.PutLinks(store.Link{SourceID: "x"}); err == nil {
		t.Error("empty kind: want error")
	}
	if err := s.PutLinks(); err != nil {
		t.Error(err)
	}
	if err := s.DeleteLinks(store.KindUser); err != nil {
		t.Error(err)
	}
	// A failing PutLinks is atomic.
	if err := s.PutLinks(sampleLink(store.KindUser, 50), store.Link{Kind: store.KindUser}); err == nil {
		t.Error("want error")
	}
	if _, ok, _ := s.Link(store.KindUser, "src-50"); ok {
		t.Error("partial PutLinks committed")
	}

	if err := s.ClearLinks(); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Links(store.KindGroup); len(m) != 0 {
		t.Error("ClearLinks left groups")
	}
	if _, ok, _ := s.LinkByTarget(store.KindUser, "tgt-new"); ok {
		t.Error("ClearLinks left the index")
	}
}

func testLinkErrorContext(t *testing.T, be Backend) {
	s := be.Open(t)
	err := s.PutLinks(store.Link{Kind: store.KindUser, SourceID: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.PutLinks(store.Link{Kind: store.KindUser, SourceID: "abc"})
	if err == nil || err.Error()[:20] != "put anchor user/abc:" {
		t.Errorf("err = %v", err)
	}
	if _, _, err := s.Link(store.KindUser, "abc"); err == nil {
		t.Error("read after close: want error")
	} else if errors.Is(err, store.ErrCorrupt) {
		t.Errorf("closed store is not corruption: %v", err)
	}
}

// A link read with only some of its values (store.Link.Packed) is refused by every write, alone or
// through a batcher, and the stored link stays whole.
func testPackedLinkRefused(t *testing.T, be Backend) {
	s := be.Open(t)
	whole := sampleLink(store.KindUser, 1)
	must(t, s.PutLinks(whole))
	slim := whole
	slim.Values, slim.Packed = map[string]any{"userName": whole.Values["userName"]}, "the record"
	if err := s.PutLinks(slim); !errors.Is(err, store.ErrPacked) {
		t.Errorf("PutLinks of a packed link: %v, want ErrPacked", err)
	}
	b := s.NewBatcher(10, 0)
	b.Put(slim)
	if err := b.Flush(); !errors.Is(err, store.ErrPacked) {
		t.Errorf("batcher flush of a packed link: %v, want ErrPacked", err)
	}
	got, ok, err := s.Link(store.KindUser, whole.SourceID)
	if err != nil || !ok {
		t.Fatalf("Link: %v %v", ok, err)
	}
	if !reflect.DeepEqual(got.Values, whole.Values) {
		t.Errorf("stored values %v, want %v", got.Values, whole.Values)
	}
}

func assertLink(t *testing.T, got, want store.Link) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s times = %v %v, want %v %v", want, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("anchor %s:\n got %#v\nwant %#v", want, got, want)
	}
}

func testBatcherConcurrentPut(t *testing.T, be Backend) {
	s := be.Open(t)
	b := s.NewBatcher(100, time.Hour)
	const workers, per = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				b.Put(sampleLink(store.KindUser, w*per+i))
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
	all, err := s.Links(store.KindUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*per {
		t.Fatalf("stored %d anchors, want %d", len(all), workers*per)
	}
	assertLink(t, all["src-1234"], sampleLink(store.KindUser, 1234))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func testBatcherSizeTrigger(t *testing.T, be Backend) {
	s := be.Open(t)
	b := s.NewBatcher(10, time.Hour)
	defer b.Close()
	for i := range 25 {
		b.Put(sampleLink(store.KindUser, i))
	}
	// Full batches commit in the background, with no Flush and long before the timer, and group
	// what arrives meanwhile; what is left once they are done is less than a batch, and waits for
	// the timer or a Flush.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := s.CountLinks(store.KindUser)
		if p := b.Pending(); n >= 10 && p < 10 && n+p == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d committed and %d pending without a Flush, want at least 10 committed and less than 10 pending",
				n, b.Pending())
		}
		runtime.Gosched()
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountLinks(store.KindUser); n != 25 || b.Pending() != 0 {
		t.Errorf("after Flush: %d committed, %d pending, want 25 and 0", n, b.Pending())
	}
}

func testBatcherDelayFlush(t *testing.T, be Backend) {
	s := be.Open(t)
	b := s.NewBatcher(1000, 50*time.Millisecond)
	defer b.Close()
	b.Put(sampleLink(store.KindGroup, 1))
	if _, ok, _ := s.Link(store.KindGroup, "src-1"); ok {
		t.Fatal("committed before the delay")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := s.Link(store.KindGroup, "src-1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("delay flush never happened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The timer re-arms for the next write.
	b.Put(sampleLink(store.KindGroup, 2))
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := s.Link(store.KindGroup, "src-2"); !ok {
		t.Error("second delay flush did not happen")
	}
}

func testBatcherOrderAndDelete(t *testing.T, be Backend) {
	s := be.Open(t)
	if err := s.PutLinks(sampleLink(store.KindUser, 1)); err != nil {
		t.Fatal(err)
	}
	b := s.NewBatcher(3, time.Hour)
	a2 := sampleLink(store.KindUser, 2)
	b.Put(a2)
	b.Delete(store.KindUser, "src-2") // same batch
	b.Delete(store.KindUser, "src-1") // fills the batch of 3
	a2.Hash = "second"
	b.Put(a2) // next batch: re-created after the delete
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Link(store.KindUser, "src-1"); ok {
		t.Error("src-1 not deleted")
	}
	got, ok, _ := s.Link(store.KindUser, "src-2")
	if !ok || got.Hash != "second" {
		t.Errorf("src-2 = %+v, %v; want re-put with hash second", got.Hash, ok)
	}
	if _, ok, _ := s.LinkByTarget(store.KindUser, "tgt-1"); ok {
		t.Error("index of deleted anchor left behind")
	}
}

func testBatcherErrors(t *testing.T, be Backend) {
	s := be.Open(t)
	b := s.NewBatcher(0, 0)                 // defaults
	b.Put(store.Link{Kind: store.KindUser}) // invalid: rejected at once, reported once
	b.Put(sampleLink(store.KindUser, 1))
	if err := b.Flush(); err == nil {
		t.Error("Flush should report the invalid Put")
	}
	if err := b.Flush(); err != nil {
		t.Errorf("error reported twice: %v", err)
	}
	if _, ok, _ := s.Link(store.KindUser, "src-1"); !ok {
		t.Error("valid Put lost because of an invalid one")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b.Put(sampleLink(store.KindUser, 2))
	if err := b.Flush(); !errors.Is(err, store.ErrBatcherClosed) {
		t.Errorf("Put after Close: err = %v, want store.ErrBatcherClosed", err)
	}
}

// testBatcherCommitFailureRequeues closes the store under the batcher: the commit fails, the writes stay
// queued, and the error is reported by Flush.
func testBatcherCommitFailureRequeues(t *testing.T, be Backend) {
	s := be.Open(t)
	b := s.NewBatcher(100, time.Hour)
	for i := range 5 {
		b.Put(sampleLink(store.KindUser, i))
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

func testCycles(t *testing.T, be Backend) {
	s := be.Open(t)
	if cs, err := s.Cycles(10); err != nil || len(cs) != 0 {
		t.Fatalf("empty Cycles = %v, %v", cs, err)
	}
	c1 := store.Cycle{ID: "c1", Kind: "initial", Started: t0, Finished: t0.Add(time.Minute), Created: 5, Requests: 12}
	c2 := store.Cycle{ID: "c2", Kind: "incremental", Started: t0.Add(time.Hour)}
	for _, c := range []store.Cycle{c1, c2} {
		if err := s.AddCycle(c); err != nil {
			t.Fatal(err)
		}
	}
	// Re-adding c2 when it finishes replaces it in place.
	c2.Finished = c2.Started.Add(time.Second)
	c2.Failed, c2.Error, c2.Quarantined = 3, "boom", true
	if err := s.AddCycle(c2); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit int
		want  []store.Cycle
	}{
		{0, []store.Cycle{c2, c1}},
		{1, []store.Cycle{c2}},
		{5, []store.Cycle{c2, c1}},
	}
	for _, tc := range tests {
		got, err := s.Cycles(tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cycles(%d) = %+v, want %+v", tc.limit, got, tc.want)
		}
	}
	if err := s.AddCycle(store.Cycle{}); err == nil {
		t.Error("empty id: want error")
	}
}

func testCyclesKeepLast500(t *testing.T, be Backend) {
	s := be.Open(t)
	const n = store.MaxCycles + 20
	for i := range n {
		if err := s.AddCycle(store.Cycle{ID: fmt.Sprint(i), Started: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Cycles(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxCycles {
		t.Fatalf("kept %d cycles, want %d", len(got), store.MaxCycles)
	}
	if got[0].ID != fmt.Sprint(n-1) || got[len(got)-1].ID != fmt.Sprint(n-store.MaxCycles) {
		t.Errorf("newest %s oldest %s", got[0].ID, got[len(got)-1].ID)
	}
	// A pruned id is a new cycle again, not an update of a deleted one.
	if err := s.AddCycle(store.Cycle{ID: "0", Kind: "again"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Cycles(1)
	if got[0].ID != "0" || got[0].Kind != "again" {
		t.Errorf("re-added pruned cycle: %+v", got[0])
	}
}

func testEscrows(t *testing.T, be Backend) {
	s := be.Open(t)
	e1 := store.Escrow{Kind: store.KindUser, SourceID: "u1", Op: "create", Attempts: 1, FirstFailed: t0, LastFailed: t0,
		NextRetry: t0.Add(40 * time.Minute), ErrorClass: "transient", Error: "503"}
	e2 := store.Escrow{Kind: store.KindGroup, SourceID: "g1", Op: "members", Attempts: 2, ErrorClass: "reference"}
	for _, e := range []store.Escrow{e1, e2} {
		if err := s.PutEscrow(e); err != nil {
			t.Fatal(err)
		}
	}
	e1.Attempts = 2 // replace
	if err := s.PutEscrow(e1); err != nil {
		t.Fatal(err)
	}
	got, err := s.Escrows()
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Escrow{e2, e1}; !reflect.DeepEqual(got, want) { // ordered by kind: group < user
		t.Errorf("Escrows = %+v, want %+v", got, want)
	}
	if err := s.DeleteEscrow(store.KindGroup, "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEscrow(store.KindGroup, "g1"); err != nil {
		t.Fatalf("deleting an absent escrow: %v", err)
	}
	if got, _ := s.Escrows(); len(got) != 1 || got[0].SourceID != "u1" {
		t.Errorf("after delete: %+v", got)
	}
	if err := s.PutEscrow(store.Escrow{Kind: store.KindUser}); err == nil {
		t.Error("empty source id: want error")
	}
	if err := s.ClearEscrows(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Escrows(); len(got) != 0 {
		t.Errorf("after clear: %+v", got)
	}
}

func testQuarantine(t *testing.T, be Backend) {
	s := be.Open(t)
	if q, err := s.Quarantine(); q != nil || err != nil {
		t.Fatalf("initial store.Quarantine = %v, %v", q, err)
	}
	want := store.Quarantine{Reason: "EncounteredQuarantineException", SeriesBegan: t0, CurrentBegan: t0.Add(time.Hour),
		NextAttempt: t0.Add(6 * time.Hour), SeriesCount: 2, Error: "401", NotifiedReason: "EncounteredQuarantineException"}
	if err := s.SetQuarantine(want); err != nil {
		t.Fatal(err)
	}
	q, err := s.Quarantine()
	if err != nil || q == nil || !reflect.DeepEqual(*q, want) {
		t.Fatalf("Quarantine = %+v, %v", q, err)
	}
	if err := s.ClearQuarantine(); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Quarantine(); q != nil {
		t.Errorf("after clear: %+v", q)
	}
}

func testStagedOps(t *testing.T, be Backend) {
	s := be.Open(t)
	ops := []store.StagedOp{
		{Kind: store.KindUser, SourceID: "u2", TargetID: "t2", Op: "delete", StagedAt: t0},
		{Kind: store.KindUser, SourceID: "u1", TargetID: "t1", Op: "disable", StagedAt: t0},
		{Kind: store.KindGroup, SourceID: "g1", TargetID: "tg", Op: "delete", StagedAt: t0},
	}
	if err := s.StageOps(ops...); err != nil {
		t.Fatal(err)
	}
	got, err := s.StagedOps()
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.StagedOp{ops[2], ops[1], ops[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("StagedOps = %+v, want %+v", got, want)
	}
	// Staging again replaces; a bad op fails the whole call.
	if err := s.StageOps(store.StagedOp{Kind: store.KindUser, SourceID: "u1", Op: "delete"}, store.StagedOp{Kind: store.KindUser}); err == nil {
		t.Error("want error")
	}
	if got, _ := s.StagedOps(); got[1].Op != "disable" {
		t.Error("failed StageOps committed partially")
	}
	if err := s.StageOps(store.StagedOp{Kind: store.KindUser, SourceID: "u1", Op: "delete"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StagedOps(); len(got) != 3 || got[1].Op != "delete" {
		t.Errorf("replace: %+v", got)
	}
	if err := s.ClearStaged(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StagedOps(); len(got) != 0 {
		t.Errorf("after clear: %+v", got)
	}
}

func testRestartKeepsLinks(t *testing.T, be Backend) {
	s := be.Open(t)
	a := sampleLink(store.KindUser, 1)
	setup := []func() error{
		func() error { return s.PutLinks(a) },
		func() error { return s.SetWatermark("users", "delta") },
		func() error { return s.SetFingerprint("fp") },
		func() error { return s.SetMeta("k", []byte("v")) },
		func() error { return s.PutEscrow(store.Escrow{Kind: store.KindUser, SourceID: "u", Op: "create"}) },
		func() error { return s.SetQuarantine(store.Quarantine{Reason: "TooManyDeletes"}) },
		func() error { return s.StageOps(store.StagedOp{Kind: store.KindUser, SourceID: "u", Op: "delete"}) },
		func() error { return s.AddCycle(store.Cycle{ID: "c"}) },
		func() error { return s.AppendLog(store.LogEntry{ID: "l", Time: t0}) },
		func() error {
			return s.SetTargetDialect(store.TargetDialect{TargetURL: "https://t", ElementAdds: true})
		},
	}
	for i, f := range setup {
		if err := f(); err != nil {
			t.Fatalf("setup %d: %v", i, err)
		}
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name string
		ok   func() bool
	}{
		{"watermark cleared", func() bool { w, _ := s.Watermark("users"); return w == "" }},
		{"escrows cleared", func() bool { e, _ := s.Escrows(); return len(e) == 0 }},
		{"quarantine cleared", func() bool { q, _ := s.Quarantine(); return q == nil }},
		{"staged cleared", func() bool { o, _ := s.StagedOps(); return len(o) == 0 }},
		{"anchor kept", func() bool {
			got, ok, _ := s.Link(store.KindUser, a.SourceID)
			return ok && got.TargetID == a.TargetID
		}},
		{"target index kept", func() bool { _, ok, _ := s.LinkByTarget(store.KindUser, a.TargetID); return ok }},
		{"fingerprint kept", func() bool { f, _ := s.Fingerprint(); return f == "fp" }},
		{"meta kept", func() bool { v, _ := s.GetMeta("k"); return string(v) == "v" }},
		{"cycles kept", func() bool { c, _ := s.Cycles(0); return len(c) == 1 }},
		{"log kept", func() bool { l, _ := s.QueryLog(store.LogQuery{}); return len(l) == 1 }},
		{"target dialect kept", func() bool { d, _ := s.TargetDialect(); return d != nil && d.ElementAdds }},
	}
	for _, c := range checks {
		if !c.ok() {
			t.Errorf("after Restart: %s failed", c.name)
		}
	}
}

func logFixture(t *testing.T, be Backend) store.State {
	t.Helper()
	s := be.Open(t)
	entries := []store.LogEntry{
		{ID: "a", CycleID: "c1", Time: t0, Kind: store.KindUser, SourceID: "s-alice", TargetID: "T-1",
			Identity: "Alice@Contoso.com", Action: "Create", Status: "Success",
			Steps:    []store.Step{{Name: "import", Status: "success", Description: "Imported", Details: "{}"}},
			Modified: []store.Property{{Name: "userName", Old: "", New: "alice@contoso.com"}}, DurationMs: 120},
		{ID: "b", CycleID: "c1", Time: t0.Add(time.Minute), Kind: store.KindUser, SourceID: "s-bob", TargetID: "T-2",
			Identity: "bob@contoso.com", Action: "Update", Status: "Failure", ErrorCode: "Conflict", Error: "409"},
		{ID: "c", CycleID: "c2", Time: t0.Add(2 * time.Minute), Kind: store.KindGroup, SourceID: "s-g", TargetID: "T-3",
			Identity: "Sales", Action: "Other", Status: "Skipped"},
		// Same time as c: ordered by id.
		{ID: "d", CycleID: "c2", Time: t0.Add(2 * time.Minute), Kind: store.KindUser, SourceID: "s-alice", TargetID: "T-1",
			Identity: "alice@contoso.com", Action: "Disable", Status: "Success"},
		{ID: "e", CycleID: "c2", Time: t0.Add(3 * time.Minute), Kind: store.KindUser, SourceID: "s-carol",
			Identity: "carol@contoso.com", Action: "StagedDelete", Status: "Warning"},
	}
	if err := s.AppendLog(entries...); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(es []store.LogEntry) string {
	out := ""
	for _, e := range es {
		out += e.ID
	}
	return out
}

func testQueryLog(t *testing.T, be Backend) {
	s := logFixture(t, be)
	tests := []struct {
		name string
		q    store.LogQuery
		want string
	}{
		{"all newest first", store.LogQuery{}, "edcba"},
		{"limit", store.LogQuery{Limit: 2}, "ed"},
		{"status case-insensitive", store.LogQuery{Status: "success"}, "da"},
		{"action", store.LogQuery{Action: "StagedDelete"}, "e"},
		{"cycle", store.LogQuery{CycleID: "c1"}, "ba"},
		{"object source id", store.LogQuery{Object: "s-alice"}, "da"},
		{"object target id", store.LogQuery{Object: "t-2"}, "b"},
		{"object identity substring", store.LogQuery{Object: "ALICE@"}, "da"},
		{"object no match", store.LogQuery{Object: "zed"}, ""},
		{"since inclusive", store.LogQuery{Since: t0.Add(2 * time.Minute)}, "edc"},
		{"until exclusive", store.LogQuery{Until: t0.Add(2 * time.Minute)}, "ba"},
		{"until after all", store.LogQuery{Until: t0.Add(time.Hour)}, "edcba"},
		{"until before all", store.LogQuery{Until: t0.Add(-time.Hour)}, ""},
		{"range", store.LogQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "dcb"},
		{"combined", store.LogQuery{Status: "Success", Object: "alice", Since: t0.Add(time.Second), Limit: 5}, "d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.QueryLog(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Errorf("got %q, want %q", ids(got), tc.want)
			}
		})
	}

	// Full round trip of one entry.
	got, _ := s.QueryLog(store.LogQuery{Object: "T-1", CycleID: "c1"})
	want := store.LogEntry{ID: "a", CycleID: "c1", Time: t0, Kind: store.KindUser, SourceID: "s-alice", TargetID: "T-1",
		Identity: "Alice@Contoso.com", Action: "Create", Status: "Success",
		Steps:    []store.Step{{Name: "import", Status: "success", Description: "Imported", Details: "{}"}},
		Modified: []store.Property{{Name: "userName", Old: "", New: "alice@contoso.com"}}, DurationMs: 120}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func testAppendLogDefaultsAndIdempotence(t *testing.T, be Backend) {
	s := be.Open(t)
	before := time.Now().Add(-time.Second)
	if err := s.AppendLog(store.LogEntry{Action: "Create"}, store.LogEntry{Action: "Update"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.QueryLog(store.LogQuery{})
	if len(got) != 2 || got[0].ID == "" || got[0].ID == got[1].ID || got[0].Time.Before(before) {
		t.Fatalf("defaults not filled: %+v", got)
	}
	// Same time and id replaces.
	e := store.LogEntry{ID: "x", Time: t0, Status: "Failure"}
	if err := s.AppendLog(e); err != nil {
		t.Fatal(err)
	}
	e.Status = "Success"
	if err := s.AppendLog(e); err != nil {
		t.Fatal(err)
	}
	got, _ = s.QueryLog(store.LogQuery{Until: t0.Add(time.Nanosecond)})
	if len(got) != 1 || got[0].Status != "Success" {
		t.Errorf("re-append: %+v", got)
	}
	if err := s.AppendLog(); err != nil {
		t.Error(err)
	}
}

func testPruneLog(t *testing.T, be Backend) {
	s := logFixture(t, be)
	tests := []struct {
		before time.Time
		n      int
		left   string
	}{
		{t0, 0, "edcba"},                    // strictly before
		{t0.Add(time.Minute), 1, "edcb"},    // a
		{t0.Add(2*time.Minute + 1), 3, "e"}, // b, c, d
		{t0.Add(time.Hour), 1, ""},          // e
		{t0.Add(2 * time.Hour), 0, ""},      // nothing left
	}
	for _, tc := range tests {
		n, err := s.PruneLog(tc.before)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.QueryLog(store.LogQuery{})
		if n != tc.n || ids(got) != tc.left {
			t.Errorf("PruneLog(%v) = %d leaving %q, want %d leaving %q", tc.before, n, ids(got), tc.n, tc.left)
		}
	}
}

func testPruneLogChunks(t *testing.T, be Backend) {
	s := be.Open(t)
	const n = pruneChunk*2 + 5
	es := make([]store.LogEntry, n)
	for i := range es {
		es[i] = store.LogEntry{ID: fmt.Sprintf("%06d", i), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.AppendLog(es...); err != nil {
		t.Fatal(err)
	}
	got, err := s.PruneLog(t0.Add(time.Duration(n-3) * time.Millisecond))
	if err != nil || got != n-3 {
		t.Fatalf("PruneLog = %d, %v; want %d", got, err, n-3)
	}
	left, _ := s.QueryLog(store.LogQuery{})
	if len(left) != 3 {
		t.Errorf("left %d", len(left))
	}
}

func testSets(t *testing.T, be Backend) {
	st := be.Open(t)
	if got, err := st.Sets(store.SetGroupMembers); err != nil || len(got) != 0 {
		t.Fatalf("empty set: %v %v", got, err)
	}
	if err := st.PutSets(store.SetGroupMembers, map[string][]string{"g1": {"a", "b"}, "g2": {"c"}}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSets(store.SetGroupMembers, map[string][]string{"g1": {"a"}}, []string{"g2"}, false); err != nil {
		t.Fatal(err)
	}
	got, err := st.Sets(store.SetGroupMembers)
	if err != nil || !reflect.DeepEqual(got, map[string][]string{"g1": {"a"}}) {
		t.Fatalf("after delta: %v %v", got, err)
	}
	// An empty list and a nil one read back as they were put.
	if err := st.PutSets(store.SetGroupMembers, map[string][]string{"g3": {}, "g4": nil}, nil, true); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Sets(store.SetGroupMembers)
	if !reflect.DeepEqual(got, map[string][]string{"g3": {}, "g4": nil}) {
		t.Fatalf("after replace: %v", got)
	}
	// Restart keeps sets: they describe the source, not progress.
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Sets(store.SetGroupMembers); len(got) != 2 {
		t.Fatalf("restart dropped the sets: %v", got)
	}
}

func testTargetDialect(t *testing.T, be Backend) {
	s := be.Open(t)
	if d, err := s.TargetDialect(); err != nil || d != nil {
		t.Fatalf("fresh state: store.TargetDialect = %+v, %v; want nil", d, err)
	}
	want := store.TargetDialect{TargetURL: "https://app.example/scim", ElementAdds: true, LearnedAt: t0}
	if err := s.SetTargetDialect(want); err != nil {
		t.Fatal(err)
	}
	// It survives closing the file, and a read-only opener (`scimsync status`) sees it.
	ro := be.Reopen(t, s, true)
	got, err := ro.TargetDialect()
	if err != nil || got == nil || got.TargetURL != want.TargetURL || !got.ElementAdds || !got.LearnedAt.Equal(t0) {
		t.Fatalf("after reopen: store.TargetDialect = %+v, %v; want %+v", got, err, want)
	}
	if err := ro.SetTargetDialect(want); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("SetTargetDialect on a read-only store: %v, want store.ErrReadOnly", err)
	}
	rw := be.Reopen(t, ro, false)
	if err := rw.ClearTargetDialect(); err != nil {
		t.Fatal(err)
	}
	if d, err := rw.TargetDialect(); err != nil || d != nil {
		t.Errorf("after clear: store.TargetDialect = %+v, %v; want nil", d, err)
	}
	if err := rw.ClearTargetDialect(); err != nil {
		t.Errorf("clearing an absent dialect: %v", err)
	}
}

func testGrantRoundTrip(t *testing.T, be Backend) {
	key := bytes.Repeat([]byte{7}, 32)
	when := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", key}} {
		t.Run(tc.name, func(t *testing.T) {
			st := be.Open(t)
			if g, err := st.Grant(tc.key); err != nil || g != nil {
				t.Fatalf("empty state: grant %v, err %v; want nil, nil", g, err)
			}
			const token = "rt-0123456789-secret-value"
			want := store.Grant{RefreshToken: token, Client: "https://idp.example/token client-a", Authorized: when, Rotated: when.Add(time.Hour)}
			if err := st.SetGrant(want, tc.key); err != nil {
				t.Fatal(err)
			}
			got, err := st.Grant(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if got.RefreshToken != token || got.Client != want.Client || !got.Authorized.Equal(when) ||
				!got.Rotated.Equal(want.Rotated) || got.Encrypted != (tc.key != nil) {
				t.Fatalf("got %+v (token equal: %t), want %+v", got, got.RefreshToken == token, want)
			}
			for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%+v", *got), fmt.Sprintf("%#v", got)} {
				if bytes.Contains([]byte(s), []byte(token)) {
					t.Fatalf("rendering shows the token: %s", s)
				}
			}
			raw := be.Raw(t, st)
			// Without a key the token is stored as is (base64 in the JSON record); with one, neither the
			// token nor its base64 form may be in the file.
			b64 := base64.StdEncoding.EncodeToString([]byte(token))
			if tc.key != nil && (bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(b64[:24]))) {
				t.Fatal("the encrypted state holds the refresh token")
			}
			if tc.key == nil && !bytes.Contains(raw, []byte(b64[:24])) {
				t.Fatal("the plain record is not where the test expects it; the encrypted check proves nothing")
			}
		})
	}
}

func testGrantWrongKey(t *testing.T, be Backend) {
	st := be.Open(t)
	key := bytes.Repeat([]byte{1}, 32)
	if err := st.SetGrant(store.Grant{RefreshToken: "secret-rt", Client: "c"}, key); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string][]byte{"no key": nil, "other key": bytes.Repeat([]byte{2}, 32), "short key": {1, 2}} {
		g, err := st.Grant(k)
		if !errors.Is(err, store.ErrGrantKey) {
			t.Errorf("%s: err %v, want store.ErrGrantKey", name, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret-rt")) {
			t.Errorf("%s: error shows the token: %v", name, err)
		}
		if g != nil && g.RefreshToken != "" {
			t.Errorf("%s: a token came back", name)
		}
	}
	if err := st.ClearGrant(); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Grant(key); g != nil || err != nil {
		t.Fatalf("after ClearGrant: %v, %v", g, err)
	}
}

func testGrantSurvivesRestart(t *testing.T, be Backend) {
	st := be.Open(t)
	if err := st.SetGrant(store.Grant{RefreshToken: "rt", Client: "c"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Grant(nil); err != nil || g == nil || g.RefreshToken != "rt" {
		t.Fatalf("after Restart: %v, %v; `scimsync restart` must keep the authorization", g, err)
	}
}

func testMetaWatermarkFingerprint(t *testing.T, be Backend) {
	s := be.Open(t)

	// Absent values read as empty.
	if wm, err := s.Watermark("users"); err != nil || wm != "" {
		t.Fatalf("Watermark = %q, %v", wm, err)
	}
	if fp, err := s.Fingerprint(); err != nil || fp != "" {
		t.Fatalf("Fingerprint = %q, %v", fp, err)
	}
	if v, err := s.GetMeta("x"); err != nil || v != nil {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}

	steps := []struct {
		name string
		do   func() error
	}{
		{"set users", func() error { return s.SetWatermark("users", "https://graph/users?$deltatoken=1") }},
		{"set both", func() error {
			return s.SetWatermarks(map[string]string{"groups": "g2", "users": "u2"})
		}},
		{"fingerprint", func() error { return s.SetFingerprint("fp1") }},
		{"meta", func() error { return s.SetMeta("k", []byte("v")) }},
		{"meta empty value", func() error { return s.SetMeta("e", []byte{}) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	for name, want := range map[string]string{"users": "u2", "groups": "g2"} {
		if got, _ := s.Watermark(name); got != want {
			t.Errorf("Watermark(%s) = %q, want %q", name, got, want)
		}
	}
	if got, _ := s.Fingerprint(); got != "fp1" {
		t.Errorf("Fingerprint = %q", got)
	}
	if got, _ := s.GetMeta("k"); string(got) != "v" {
		t.Errorf("GetMeta = %q", got)
	}
	if got, _ := s.GetMeta("e"); got == nil || len(got) != 0 {
		t.Errorf("GetMeta(empty) = %#v, want empty non-nil", got)
	}
	if err := s.SetMeta("k", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetMeta("k"); got != nil {
		t.Errorf("GetMeta after delete = %q", got)
	}
	if err := s.SetMeta("", []byte("x")); err == nil {
		t.Error("SetMeta empty key: want error")
	}
	if err := s.SetWatermark("", "x"); err == nil {
		t.Error("SetWatermark empty name: want error")
	}
	if err := s.SetWatermark("users", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Watermark("users"); got != "" {
		t.Errorf("empty link should delete, got %q", got)
	}
	if err := s.ClearWatermarks(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Watermark("groups"); got != "" {
		t.Errorf("after ClearWatermarks: %q", got)
	}
	if got, _ := s.Fingerprint(); got != "fp1" {
		t.Errorf("ClearWatermarks touched the fingerprint: %q", got)
	}
}

func testAbortStreakRoundTripAndRestart(t *testing.T, be Backend) {
	s := be.Open(t)
	if a, err := s.AbortStreak(); err != nil || a.Count != 0 {
		t.Fatalf("fresh: %+v, %v", a, err)
	}
	want := store.AbortStreak{Count: 2, Since: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), LastError: "graph: 503"}
	if err := s.SetAbortStreak(want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AbortStreak(); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AbortStreak(); got != (store.AbortStreak{}) {
		t.Errorf("after restart: %+v", got)
	}
	if err := s.SetAbortStreak(want); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAbortStreak(store.AbortStreak{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AbortStreak(); got != (store.AbortStreak{}) {
		t.Errorf("after clearing: %+v", got)
	}
}
