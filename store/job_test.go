package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestCycles(t *testing.T) {
	s, _ := openTest(t)
	if cs, err := s.Cycles(10); err != nil || len(cs) != 0 {
		t.Fatalf("empty Cycles = %v, %v", cs, err)
	}
	c1 := Cycle{ID: "c1", Kind: "initial", Started: t0, Finished: t0.Add(time.Minute), Created: 5, Requests: 12}
	c2 := Cycle{ID: "c2", Kind: "incremental", Started: t0.Add(time.Hour)}
	for _, c := range []Cycle{c1, c2} {
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
		want  []Cycle
	}{
		{0, []Cycle{c2, c1}},
		{1, []Cycle{c2}},
		{5, []Cycle{c2, c1}},
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
	if err := s.AddCycle(Cycle{}); err == nil {
		t.Error("empty id: want error")
	}
}

func TestCyclesKeepLast500(t *testing.T) {
	s, _ := openTest(t)
	const n = MaxCycles + 20
	for i := range n {
		if err := s.AddCycle(Cycle{ID: fmt.Sprint(i), Started: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Cycles(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxCycles {
		t.Fatalf("kept %d cycles, want %d", len(got), MaxCycles)
	}
	if got[0].ID != fmt.Sprint(n-1) || got[len(got)-1].ID != fmt.Sprint(n-MaxCycles) {
		t.Errorf("newest %s oldest %s", got[0].ID, got[len(got)-1].ID)
	}
	// A pruned id is a new cycle again, not an update of a deleted one.
	if err := s.AddCycle(Cycle{ID: "0", Kind: "again"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Cycles(1)
	if got[0].ID != "0" || got[0].Kind != "again" {
		t.Errorf("re-added pruned cycle: %+v", got[0])
	}
}

func TestEscrows(t *testing.T) {
	s, _ := openTest(t)
	e1 := Escrow{Kind: KindUser, SourceID: "u1", Op: "create", Attempts: 1, FirstFailed: t0, LastFailed: t0,
		NextRetry: t0.Add(40 * time.Minute), ErrorClass: "transient", Error: "503"}
	e2 := Escrow{Kind: KindGroup, SourceID: "g1", Op: "members", Attempts: 2, ErrorClass: "reference"}
	for _, e := range []Escrow{e1, e2} {
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
	if want := []Escrow{e2, e1}; !reflect.DeepEqual(got, want) { // ordered by kind: group < user
		t.Errorf("Escrows = %+v, want %+v", got, want)
	}
	if err := s.DeleteEscrow(KindGroup, "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEscrow(KindGroup, "g1"); err != nil {
		t.Fatalf("deleting an absent escrow: %v", err)
	}
	if got, _ := s.Escrows(); len(got) != 1 || got[0].SourceID != "u1" {
		t.Errorf("after delete: %+v", got)
	}
	if err := s.PutEscrow(Escrow{Kind: KindUser}); err == nil {
		t.Error("empty source id: want error")
	}
	if err := s.ClearEscrows(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Escrows(); len(got) != 0 {
		t.Errorf("after clear: %+v", got)
	}
}

func TestQuarantine(t *testing.T) {
	s, _ := openTest(t)
	if q, err := s.Quarantine(); q != nil || err != nil {
		t.Fatalf("initial Quarantine = %v, %v", q, err)
	}
	want := Quarantine{Reason: "EncounteredQuarantineException", SeriesBegan: t0, CurrentBegan: t0.Add(time.Hour),
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

func TestStagedOps(t *testing.T) {
	s, _ := openTest(t)
	ops := []StagedOp{
		{Kind: KindUser, SourceID: "u2", TargetID: "t2", Op: "delete", StagedAt: t0},
		{Kind: KindUser, SourceID: "u1", TargetID: "t1", Op: "disable", StagedAt: t0},
		{Kind: KindGroup, SourceID: "g1", TargetID: "tg", Op: "delete", StagedAt: t0},
	}
	if err := s.StageOps(ops...); err != nil {
		t.Fatal(err)
	}
	got, err := s.StagedOps()
	if err != nil {
		t.Fatal(err)
	}
	if want := []StagedOp{ops[2], ops[1], ops[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("StagedOps = %+v, want %+v", got, want)
	}
	// Staging again replaces; a bad op fails the whole call.
	if err := s.StageOps(StagedOp{Kind: KindUser, SourceID: "u1", Op: "delete"}, StagedOp{Kind: KindUser}); err == nil {
		t.Error("want error")
	}
	if got, _ := s.StagedOps(); got[1].Op != "disable" {
		t.Error("failed StageOps committed partially")
	}
	if err := s.StageOps(StagedOp{Kind: KindUser, SourceID: "u1", Op: "delete"}); err != nil {
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

func TestRestartKeepsAnchors(t *testing.T) {
	s, _ := openTest(t)
	a := sampleAnchor(KindUser, 1)
	setup := []func() error{
		func() error { return s.PutAnchors(a) },
		func() error { return s.SetWatermark("users", "delta") },
		func() error { return s.SetFingerprint("fp") },
		func() error { return s.SetMeta("k", []byte("v")) },
		func() error { return s.PutEscrow(Escrow{Kind: KindUser, SourceID: "u", Op: "create"}) },
		func() error { return s.SetQuarantine(Quarantine{Reason: "TooManyDeletes"}) },
		func() error { return s.StageOps(StagedOp{Kind: KindUser, SourceID: "u", Op: "delete"}) },
		func() error { return s.AddCycle(Cycle{ID: "c"}) },
		func() error { return s.AppendLog(LogEntry{ID: "l", Time: t0}) },
		func() error { return s.SetTargetDialect(TargetDialect{TargetURL: "https://t", ElementAdds: true}) },
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
		{"anchor kept", func() bool { got, ok, _ := s.Anchor(KindUser, a.SourceID); return ok && got.TargetID == a.TargetID }},
		{"target index kept", func() bool { _, ok, _ := s.AnchorByTarget(KindUser, a.TargetID); return ok }},
		{"fingerprint kept", func() bool { f, _ := s.Fingerprint(); return f == "fp" }},
		{"meta kept", func() bool { v, _ := s.GetMeta("k"); return string(v) == "v" }},
		{"cycles kept", func() bool { c, _ := s.Cycles(0); return len(c) == 1 }},
		{"log kept", func() bool { l, _ := s.QueryLog(LogQuery{}); return len(l) == 1 }},
		{"target dialect kept", func() bool { d, _ := s.TargetDialect(); return d != nil && d.ElementAdds }},
	}
	for _, c := range checks {
		if !c.ok() {
			t.Errorf("after Restart: %s failed", c.name)
		}
	}
}
