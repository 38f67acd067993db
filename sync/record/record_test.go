package record

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func byID(t *testing.T, st *store.Store) map[string]store.Escrow {
	t.Helper()
	all, err := st.Escrows()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Escrow{}
	for _, es := range all {
		out[string(es.Kind)+"/"+es.SourceID] = es
	}
	return out
}

func TestEscrowsKeepFailuresClearSuccessesAndDropExpired(t *testing.T) {
	st := open(t)
	old := t0.Add(-29 * 24 * time.Hour)
	seed := []store.Escrow{
		{Kind: store.KindUser, SourceID: "ok", Op: "Update", Attempts: 2, FirstFailed: t0.Add(-time.Hour), NextRetry: t0},
		{Kind: store.KindUser, SourceID: "again", Op: "Update", Attempts: 3, FirstFailed: t0.Add(-time.Hour), NextRetry: t0},
		{Kind: store.KindUser, SourceID: "expired", Op: "Create", Attempts: 9, FirstFailed: old, NextRetry: t0},
		{Kind: store.KindUser, SourceID: "expired-again", Op: "Create", Attempts: 9, FirstFailed: old, NextRetry: t0},
		{Kind: store.KindGroup, SourceID: "g", Op: "members", Attempts: 1, FirstFailed: old, NextRetry: t0},
	}
	if err := st.PutEscrows(seed...); err != nil {
		t.Fatal(err)
	}
	stale := []store.Escrow{seed[2], seed[3], seed[4]}
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	fails := []Failure{
		{SourceID: "again", Op: "Update", Err: "503", Cause: errors.New("503")},
		{SourceID: "again", Op: "Update", Err: "second failure of the same object counts once"},
		{SourceID: "expired-again", Op: "Create", Err: "bad value"},
		{SourceID: "new", Op: "Create", Err: "bad value"},
	}
	held, err := r.Escrows(store.KindUser, fails, []string{"ok", "again", "unknown"}, stale)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(t, st)
	// again (continued), expired-again (a new series), new; ok cleared, expired dropped.
	if held != 3 {
		t.Errorf("held = %d, want 3", held)
	}
	if _, ok := got["user/ok"]; ok {
		t.Error("the escrow of an object that succeeded was kept")
	}
	if _, ok := got["user/expired"]; ok {
		t.Error("an expired escrow was kept")
	}
	if es := got["user/again"]; es.Attempts != 4 || !es.FirstFailed.Equal(t0.Add(-time.Hour)) {
		t.Errorf("again = %+v, want attempt 4 of the same series", es)
	}
	if es := got["user/expired-again"]; es.Attempts != 1 || !es.FirstFailed.Equal(t0) || es.ErrorClass != escrow.InvalidData.String() {
		t.Errorf("expired-again = %+v, want a new series of invalid data", es)
	}
	if es := got["user/new"]; es.Attempts != 1 {
		t.Errorf("new = %+v", es)
	}
	if _, ok := got["group/g"]; !ok {
		t.Error("recording users touched a group's escrow")
	}
}

func TestEscrowRewrittenDuringTheCycleIsNotStale(t *testing.T) {
	st := open(t)
	old := store.Escrow{Kind: store.KindGroup, SourceID: "g", Op: "members", Attempts: 5, FirstFailed: t0.Add(-30 * 24 * time.Hour)}
	marker := store.Escrow{Kind: store.KindGroup, SourceID: "g", Op: "members", Attempts: 0, FirstFailed: t0, NextRetry: t0}
	if err := st.PutEscrows(marker); err != nil { // the member change marked the group again
		t.Fatal(err)
	}
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	held, err := r.Escrows(store.KindGroup, nil, nil, []store.Escrow{old})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := byID(t, st)["group/g"]; !ok || held != 1 {
		t.Errorf("held = %d; a marker written in this cycle was dropped as expired", held)
	}
}

func TestDryRunRecordsNothing(t *testing.T) {
	st := open(t)
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), true)
	steps := []error{
		r.MarkPending(store.KindUser, []string{"a"}),
		r.MarkEscrows([]store.Escrow{{Kind: store.KindGroup, SourceID: "g", FirstFailed: t0}}),
		r.Stage([]store.StagedOp{{Kind: store.KindUser, SourceID: "a", Op: "disable"}}),
		r.Commit(Read{Watermarks: map[string]string{"users": "link"}, Fingerprint: "fp"}),
	}
	if _, err := r.Escrows(store.KindUser, []Failure{{SourceID: "a", Err: "x"}}, nil, nil); err != nil {
		steps = append(steps, err)
	}
	lw := r.LogWriter(1)
	lw.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: "a", Time: t0})
	lw.Close(time.Hour)
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	pending, _ := st.Sets(store.SetPendingCreates)
	staged, _ := st.StagedOps()
	wm, _ := st.Watermark("users")
	logged, _ := st.QueryLog(store.LogQuery{})
	if len(byID(t, st)) != 0 || len(pending) != 0 || len(staged) != 0 || wm != "" || len(logged) != 0 {
		t.Errorf("a dry run wrote state: escrows %v, pending %v, staged %v, watermark %q, log %v", byID(t, st), pending, staged, wm, logged)
	}
}

func TestPendingCreatesMarkedThenCleared(t *testing.T) {
	st := open(t)
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	if err := r.MarkPending(store.KindUser, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := r.ClearPending(store.KindUser, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Sets(store.SetPendingCreates)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[PendingKey(store.KindUser, "b")]; !ok || len(got) != 1 {
		t.Errorf("pending = %v, want only user/b", got)
	}
}

// countingLog counts the state's log appends and can fail them, or hold each until gate gives way.
type countingLog struct {
	*store.Store
	appends, entries int
	fail             error
	gate             chan struct{}
}

func (c *countingLog) AppendLog(entries ...store.LogEntry) error {
	if c.gate != nil {
		<-c.gate
	}
	c.appends++
	if c.fail != nil {
		return c.fail
	}
	c.entries += len(entries)
	return c.Store.AppendLog(entries...)
}

func TestLogWriterAppendsPerBatchAndTheRestOnClose(t *testing.T) {
	st := &countingLog{Store: open(t)}
	r := New(st, func() time.Time { return t0.Add(48 * time.Hour) }, zap.NewNop(), false)
	old := store.LogEntry{CycleID: "old", Kind: store.KindUser, SourceID: "x", Time: t0}
	if err := st.Store.AppendLog(old); err != nil {
		t.Fatal(err)
	}
	lw := r.LogWriter(3)
	for i := range 7 {
		lw.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: string(rune('a' + i)), Time: t0.Add(47 * time.Hour)})
	}
	lw.Close(24 * time.Hour) // two full batches and the rest
	got, err := st.QueryLog(store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if st.appends != 3 || st.entries != 7 || len(got) != 7 {
		t.Errorf("%d appends of %d entries, %d stored; want 3 appends, 7 entries, the old one pruned", st.appends, st.entries, len(got))
	}
	for _, le := range got {
		if le.CycleID != "c" {
			t.Errorf("entry %+v: the entry past the retention was kept", le)
		}
	}
}

// TestLogWriterDoesNotWaitForTheDisk: Add is called by the apply workers under the cycle's lock, so
// it must not wait for an append (a transaction and its fsync) while fewer than logQueue batches wait.
// Were it to append itself, this test would hang at the first full batch.
func TestLogWriterDoesNotWaitForTheDisk(t *testing.T) {
	st := &countingLog{Store: open(t), gate: make(chan struct{})}
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	lw := r.LogWriter(2)
	n := 2*(1+logQueue) + 1 // one batch being appended, logQueue waiting, one entry held
	for i := range n {
		lw.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: fmt.Sprintf("u%02d", i), Time: t0.Add(time.Duration(i))})
	}
	close(st.gate) // the disk answers
	lw.Close(0)
	got, err := st.QueryLog(store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if st.appends != 1+logQueue+1 || len(got) != n {
		t.Fatalf("%d appends, %d entries stored; want %d and %d", st.appends, len(got), 1+logQueue+1, n)
	}
	for i, le := range got { // newest first
		if want := fmt.Sprintf("u%02d", n-1-i); le.SourceID != want {
			t.Fatalf("entry %d is %s, want %s: the log lost its order", i, le.SourceID, want)
		}
	}
}

func TestLogWriterFailureIsNotFatal(t *testing.T) {
	st := &countingLog{Store: open(t), fail: errors.New("disk full")}
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	lw := r.LogWriter(2)
	for range 5 {
		lw.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: "a", Time: t0})
	}
	lw.Close(0)
	// Every batch was tried once, none kept for ever: the writer holds no more than a batch.
	if st.appends != 3 || len(lw.buf) != 0 {
		t.Errorf("%d appends, %d entries held; want 3 appends and none held", st.appends, len(lw.buf))
	}
}

func TestTeeLogsAndHandsOn(t *testing.T) {
	st := &countingLog{Store: open(t)}
	r := New(st, func() time.Time { return t0 }, zap.NewNop(), false)
	lw := r.LogWriter(10)
	var seen []string
	tee := lw.Tee(func(le store.LogEntry) { seen = append(seen, le.SourceID) })
	tee.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: "a", Time: t0})
	tee.Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: "b", Time: t0})
	lw.Tee(nil).Add(store.LogEntry{CycleID: "c", Kind: store.KindUser, SourceID: "c", Time: t0})
	lw.Close(0)
	if len(seen) != 2 || seen[0] != "a" || seen[1] != "b" || st.entries != 3 {
		t.Errorf("handed on %v, logged %d; want [a b] and 3", seen, st.entries)
	}
}
