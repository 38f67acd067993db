package statetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

// Fill writes one of everything a state keeps, so a round trip that drops a part shows.
func Fill(t testing.TB, st store.State) {
	t.Helper()
	g := sampleLink(store.KindGroup, 7)
	g.Members = []string{"src-1", "src-2"}
	g.Values = map[string]any{"displayName": "G", "n": 2, "f": 2.5, "nil": nil}
	must(t, st.PutLinks(sampleLink(store.KindUser, 1), sampleLink(store.KindUser, 2), g))
	must(t, st.SetWatermarks(map[string]string{"users": "https://graph/u?$deltatoken=1", "groups": "g1"}))
	must(t, st.SetFingerprint("fp-1"))
	must(t, st.SetMeta("k", []byte{0, 1, 2}))
	must(t, st.PutEscrows(store.Escrow{Kind: store.KindUser, SourceID: "src-1", Op: "update", Attempts: 2, FirstFailed: t0,
		LastFailed: t0.Add(time.Minute), NextRetry: t0.Add(time.Hour), ErrorClass: "transient", Error: "503"}))
	must(t, st.StageOps(store.StagedOp{Kind: store.KindUser, SourceID: "src-2", TargetID: "tgt-2", Op: "delete", StagedAt: t0}))
	must(t, st.SetQuarantine(store.Quarantine{Reason: "TooManyDeletes", SeriesBegan: t0, CurrentBegan: t0, NextAttempt: t0.Add(time.Hour), SeriesCount: 1}))
	must(t, st.SetAbortStreak(store.AbortStreak{Count: 2, Since: t0, LastError: "graph: 503"}))
	must(t, st.SetTargetDialect(store.TargetDialect{TargetURL: "https://app/scim", ElementAdds: true, LearnedAt: t0}))
	must(t, st.SetGrant(store.Grant{RefreshToken: "rt", Client: "c", Authorized: t0, Rotated: t0}, make([]byte, 32)))
	must(t, st.PutSets(store.SetGroupMembers, map[string][]string{"g7": {"src-1", "src-2"}, "empty": {}, "nil": nil}, nil, true))
	must(t, st.PutSets(store.SetAssignments, map[string][]string{"principals": {"p1"}}, nil, true))
	for i, id := range []string{"c1", "c2", "c3"} {
		must(t, st.AddCycle(store.Cycle{ID: id, Kind: "incremental", Started: t0.Add(time.Duration(i) * time.Hour), Created: i}))
	}
	must(t, st.AppendLog(
		store.LogEntry{ID: "l1", CycleID: "c1", Time: t0, Kind: store.KindUser, SourceID: "src-1", Action: "Create", Status: "Success",
			Steps: []store.Step{{Name: "export", Status: "success"}}, Modified: []store.Property{{Name: "userName", New: "a"}}},
		store.LogEntry{ID: "l2", CycleID: "c2", Time: t0.Add(time.Hour), Kind: store.KindGroup, SourceID: "src-7", Action: "Update", Status: "Failure", Error: "409"}))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Equal fails t when a and b differ in what they keep.
func Equal(t testing.TB, a, b *store.Snapshot) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("snapshots differ:\n got %+v\nwant %+v", b, a)
	}
}

func testSnapshotRoundTrip(t *testing.T, be Backend) {
	src := be.Open(t)
	Fill(t, src)
	snap, err := src.Snapshot()
	must(t, err)
	if len(snap.Links) != 3 || len(snap.Log) != 2 || len(snap.Cycles) != 3 || snap.Quarantine == nil || len(snap.Grant) == 0 {
		t.Fatalf("snapshot misses parts: %+v", snap)
	}
	if snap.Cycles[0].ID != "c1" || snap.Cycles[2].ID != "c3" {
		t.Errorf("cycles not oldest first: %v %v", snap.Cycles[0].ID, snap.Cycles[2].ID)
	}

	dst := be.Open(t)
	must(t, dst.PutLinks(sampleLink(store.KindUser, 99)))
	must(t, dst.AppendLog(store.LogEntry{ID: "old", Time: t0}))
	must(t, dst.Restore(snap))
	again, err := dst.Snapshot()
	must(t, err)
	Equal(t, snap, again)
	if _, ok, _ := dst.Link(store.KindUser, "src-99"); ok {
		t.Error("Restore kept an anchor that was not in the snapshot")
	}
	// Values keep their Go types through the binary records.
	g, ok, err := dst.Link(store.KindGroup, "src-7")
	if err != nil || !ok || g.Values["n"] != 2 || g.Values["f"] != 2.5 {
		t.Errorf("restored group: %+v %v %v", g.Values, ok, err)
	}
	if a, ok, _ := dst.LinkByTarget(store.KindUser, "tgt-2"); !ok || a.SourceID != "src-2" {
		t.Error("restored anchors are not indexed by target id")
	}
	gr, err := dst.Grant(make([]byte, 32))
	if err != nil || gr == nil || gr.RefreshToken != "rt" || !gr.Encrypted {
		t.Errorf("restored grant: %v %v", gr, err)
	}
	cs, _ := dst.Cycles(1)
	if len(cs) != 1 || cs[0].ID != "c3" {
		t.Errorf("newest restored cycle: %+v", cs)
	}
	must(t, dst.Verify())

	// A record without times (written by hand, or by an old build) restores as it is.
	bare := store.Link{Kind: store.KindUser, SourceID: "bare", TargetID: "tgt-bare"}
	withBare := *snap
	withBare.Links = append([]store.LinkRecord{{Kind: store.KindUser, SourceID: "bare", Record: store.EncodeLink(&bare)}}, snap.Links...)
	must(t, dst.Restore(&withBare))
	if a, ok, err := dst.Link(store.KindUser, "bare"); err != nil || !ok || !a.CreatedAt.IsZero() || a.TargetID != "tgt-bare" {
		t.Errorf("anchor without times: %+v %v %v", a, ok, err)
	}
	must(t, dst.Restore(snap))

	// A document this build cannot read changes nothing.
	for name, bad := range map[string]*store.Snapshot{
		"newer format": {Format: store.SnapshotFormat + 1},
		"bad anchor":   {Format: store.SnapshotFormat, Links: []store.LinkRecord{{Kind: store.KindUser, SourceID: "x", Record: []byte{9, 9}}}},
		"no kind":      {Format: store.SnapshotFormat, Escrows: []store.Escrow{{SourceID: "x"}}},
		"nil":          nil,
	} {
		if err := dst.Restore(bad); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
	}
	after, err := dst.Snapshot()
	must(t, err)
	Equal(t, snap, after)
}

func testReadOnly(t *testing.T, be Backend) {
	rw := be.Open(t)
	must(t, rw.SetWatermark("users", "w1"))
	ro := be.Reopen(t, rw, true)
	if got, err := ro.Watermark("users"); err != nil || got != "w1" {
		t.Fatalf("read-only Watermark = %q, %v", got, err)
	}
	for name, err := range map[string]error{
		"SetWatermark": ro.SetWatermark("users", "w2"),
		"PutLinks":     ro.PutLinks(sampleLink(store.KindUser, 1)),
		"AppendLog":    ro.AppendLog(store.LogEntry{ID: "x", Time: t0}),
		"Restart":      ro.Restart(),
	} {
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("%s on a read-only state: %v, want ErrReadOnly", name, err)
		}
	}
	b := ro.NewBatcher(10, time.Hour)
	b.Put(sampleLink(store.KindUser, 1))
	if err := b.Close(); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("batcher on a read-only state: %v, want ErrReadOnly", err)
	}
}
