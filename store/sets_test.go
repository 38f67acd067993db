package store

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestSets(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Sets(SetGroupMembers); err != nil || len(got) != 0 {
		t.Fatalf("empty set: %v %v", got, err)
	}
	if err := st.PutSets(SetGroupMembers, map[string][]string{"g1": {"a", "b"}, "g2": {"c"}}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSets(SetGroupMembers, map[string][]string{"g1": {"a"}}, []string{"g2"}, false); err != nil {
		t.Fatal(err)
	}
	got, err := st.Sets(SetGroupMembers)
	if err != nil || !reflect.DeepEqual(got, map[string][]string{"g1": {"a"}}) {
		t.Fatalf("after delta: %v %v", got, err)
	}
	if err := st.PutSets(SetGroupMembers, map[string][]string{"g3": {}}, nil, true); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Sets(SetGroupMembers)
	if !reflect.DeepEqual(got, map[string][]string{"g3": {}}) {
		t.Fatalf("after replace: %v", got)
	}
	// Restart keeps sets: they describe the source, not progress.
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Sets(SetGroupMembers); len(got) != 1 {
		t.Fatalf("restart dropped the sets: %v", got)
	}
}
