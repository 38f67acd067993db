package store

import (
	"errors"
	"testing"
)

func TestTargetDialect(t *testing.T) {
	s, path := openTest(t)
	if d, err := s.TargetDialect(); err != nil || d != nil {
		t.Fatalf("fresh state: TargetDialect = %+v, %v; want nil", d, err)
	}
	want := TargetDialect{TargetURL: "https://app.example/scim", ElementAdds: true, LearnedAt: t0}
	if err := s.SetTargetDialect(want); err != nil {
		t.Fatal(err)
	}
	// It survives closing the file, and a read-only opener (`scimsync status`) sees it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ro.TargetDialect()
	if err != nil || got == nil || got.TargetURL != want.TargetURL || !got.ElementAdds || !got.LearnedAt.Equal(t0) {
		t.Fatalf("after reopen: TargetDialect = %+v, %v; want %+v", got, err, want)
	}
	if err := ro.SetTargetDialect(want); !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetTargetDialect on a read-only store: %v, want ErrReadOnly", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if err := rw.ClearTargetDialect(); err != nil {
		t.Fatal(err)
	}
	if d, err := rw.TargetDialect(); err != nil || d != nil {
		t.Errorf("after clear: TargetDialect = %+v, %v; want nil", d, err)
	}
	if err := rw.ClearTargetDialect(); err != nil {
		t.Errorf("clearing an absent dialect: %v", err)
	}
}
