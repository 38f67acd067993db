package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/statetest"
)

// boltBackend runs the shared suite on bbolt files.
type boltBackend struct{}

func (boltBackend) Open(t testing.TB) store.State {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "job.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (boltBackend) Reopen(t testing.TB, st store.State, readOnly bool) store.State {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(st.Path(), store.Options{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (boltBackend) Raw(t testing.TB, st store.State) []byte {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStateBolt(t *testing.T) { statetest.Run(t, boltBackend{}) }
