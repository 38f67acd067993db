package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func logFixture(t *testing.T) *Store {
	t.Helper()
	s, _ := openTest(t)
	entries := []LogEntry{
		{ID: "a", CycleID: "c1", Time: t0, Kind: KindUser, SourceID: "s-alice", TargetID: "T-1",
			Identity: "Alice@Contoso.com", Action: "Create", Status: "Success",
			Steps:    []Step{{Name: "import", Status: "success", Description: "Imported", Details: "{}"}},
			Modified: []Property{{Name: "userName", Old: "", New: "alice@contoso.com"}}, DurationMs: 120},
		{ID: "b", CycleID: "c1", Time: t0.Add(time.Minute), Kind: KindUser, SourceID: "s-bob", TargetID: "T-2",
			Identity: "bob@contoso.com", Action: "Update", Status: "Failure", ErrorCode: "Conflict", Error: "409"},
		{ID: "c", CycleID: "c2", Time: t0.Add(2 * time.Minute), Kind: KindGroup, SourceID: "s-g", TargetID: "T-3",
			Identity: "Sales", Action: "Other", Status: "Skipped"},
		// Same time as c: ordered by id.
		{ID: "d", CycleID: "c2", Time: t0.Add(2 * time.Minute), Kind: KindUser, SourceID: "s-alice", TargetID: "T-1",
			Identity: "alice@contoso.com", Action: "Disable", Status: "Success"},
		{ID: "e", CycleID: "c2", Time: t0.Add(3 * time.Minute), Kind: KindUser, SourceID: "s-carol",
			Identity: "carol@contoso.com", Action: "StagedDelete", Status: "Warning"},
	}
	if err := s.AppendLog(entries...); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(es []LogEntry) string {
	out := ""
	for _, e := range es {
		out += e.ID
	}
	return out
}

func TestQueryLog(t *testing.T) {
	s := logFixture(t)
	tests := []struct {
		name string
		q    LogQuery
		want string
	}{
		{"all newest first", LogQuery{}, "edcba"},
		{"limit", LogQuery{Limit: 2}, "ed"},
		{"status case-insensitive", LogQuery{Status: "success"}, "da"},
		{"action", LogQuery{Action: "StagedDelete"}, "e"},
		{"cycle", LogQuery{CycleID: "c1"}, "ba"},
		{"object source id", LogQuery{Object: "s-alice"}, "da"},
		{"object target id", LogQuery{Object: "t-2"}, "b"},
		{"object identity substring", LogQuery{Object: "ALICE@"}, "da"},
		{"object no match", LogQuery{Object: "zed"}, ""},
		{"since inclusive", LogQuery{Since: t0.Add(2 * time.Minute)}, "edc"},
		{"until exclusive", LogQuery{Until: t0.Add(2 * time.Minute)}, "ba"},
		{"until after all", LogQuery{Until: t0.Add(time.Hour)}, "edcba"},
		{"until before all", LogQuery{Until: t0.Add(-time.Hour)}, ""},
		{"range", LogQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "dcb"},
		{"combined", LogQuery{Status: "Success", Object: "alice", Since: t0.Add(time.Second), Limit: 5}, "d"},
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
	got, _ := s.QueryLog(LogQuery{Object: "T-1", CycleID: "c1"})
	want := LogEntry{ID: "a", CycleID: "c1", Time: t0, Kind: KindUser, SourceID: "s-alice", TargetID: "T-1",
		Identity: "Alice@Contoso.com", Action: "Create", Status: "Success",
		Steps:    []Step{{Name: "import", Status: "success", Description: "Imported", Details: "{}"}},
		Modified: []Property{{Name: "userName", Old: "", New: "alice@contoso.com"}}, DurationMs: 120}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestAppendLogDefaultsAndIdempotence(t *testing.T) {
	s, _ := openTest(t)
	before := time.Now().Add(-time.Second)
	if err := s.AppendLog(LogEntry{Action: "Create"}, LogEntry{Action: "Update"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.QueryLog(LogQuery{})
	if len(got) != 2 || got[0].ID == "" || got[0].ID == got[1].ID || got[0].Time.Before(before) {
		t.Fatalf("defaults not filled: %+v", got)
	}
	// Same time and id replaces.
	e := LogEntry{ID: "x", Time: t0, Status: "Failure"}
	if err := s.AppendLog(e); err != nil {
		t.Fatal(err)
	}
	e.Status = "Success"
	if err := s.AppendLog(e); err != nil {
		t.Fatal(err)
	}
	got, _ = s.QueryLog(LogQuery{Until: t0.Add(time.Nanosecond)})
	if len(got) != 1 || got[0].Status != "Success" {
		t.Errorf("re-append: %+v", got)
	}
	if err := s.AppendLog(); err != nil {
		t.Error(err)
	}
}

func TestPruneLog(t *testing.T) {
	s := logFixture(t)
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
		got, _ := s.QueryLog(LogQuery{})
		if n != tc.n || ids(got) != tc.left {
			t.Errorf("PruneLog(%v) = %d leaving %q, want %d leaving %q", tc.before, n, ids(got), tc.n, tc.left)
		}
	}
}

func TestPruneLogChunks(t *testing.T) {
	s, _ := openTest(t)
	const n = pruneChunk*2 + 5
	es := make([]LogEntry, n)
	for i := range es {
		es[i] = LogEntry{ID: fmt.Sprintf("%06d", i), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.AppendLog(es...); err != nil {
		t.Fatal(err)
	}
	got, err := s.PruneLog(t0.Add(time.Duration(n-3) * time.Millisecond))
	if err != nil || got != n-3 {
		t.Fatalf("PruneLog = %d, %v; want %d", got, err, n-3)
	}
	left, _ := s.QueryLog(LogQuery{})
	if len(left) != 3 {
		t.Errorf("left %d", len(left))
	}
}
