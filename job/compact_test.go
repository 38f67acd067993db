package job

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scimsync/scimsync/store"
)

// wastefulState writes links in small transactions between log appends, as an initial cycle does, so
// the file has enough free and half-full pages for the default compaction policy.
func wastefulState(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for b := range 40 {
		links := make([]store.Link, 0, 100)
		logs := make([]store.LogEntry, 0, 100)
		for i := range 100 {
			n := uint64(b*100+i+1) * 0x9e3779b97f4a7c15
			id := fmt.Sprintf("%016x-%04d", n, i)
			name := fmt.Sprintf("user%d@contoso.example", b*100+i)
			links = append(links, store.Link{Kind: store.KindUser, SourceID: id, TargetID: "t-" + id, Managed: true,
				Values: map[string]any{"userName": name, "displayName": "User " + name, "title": "Operations Analyst"}})
			logs = append(logs, store.LogEntry{Kind: store.KindUser, SourceID: id, Identity: name, Action: "Create", Status: "Success"})
		}
		if err := st.PutLinks(links...); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendLog(logs...); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestCloseStateCompacts(t *testing.T) {
	tests := []struct {
		name     string
		dryRun   bool
		readOnly bool // Compact fails: the warning, and the state is closed all the same
		cycleErr error
		want     string // the log line, "" for none
	}{
		{"after a cycle", false, false, nil, "compacted the state file"},
		{"after a failed cycle", false, false, errors.New("target unreachable"), "compacted the state file"},
		{"compaction fails", false, true, nil, "could not compact the state file; it stays as it was"},
		{"dry run", true, false, nil, ""},
		{"damaged state", false, false, &store.CorruptError{Path: "x", Err: errors.New("bad page")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := wastefulState(t)
			core, logs := observer.New(zapcore.InfoLevel)
			j := &Job{log: zap.New(core), dryRun: tt.dryRun}
			st, err := store.Open(path, store.Options{ReadOnly: tt.readOnly})
			if err != nil {
				t.Fatal(err)
			}
			j.closeState(st, tt.cycleErr)
			got := logs.All()
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("logged %v, want nothing", got)
				}
			} else if len(got) != 1 || got[0].Message != tt.want {
				t.Fatalf("logged %v, want %q", got, tt.want)
			} else if f := got[0].ContextMap(); !tt.readOnly && f["bytesAfter"].(int64) >= f["bytesBefore"].(int64) {
				t.Errorf("compaction grew the file: %v", f)
			}
			// closeState closed the state: a writer can open it again.
			st, err = store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
		})
	}
}
