package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damagedFixture writes a state file with enough anchors to span many pages and a quarantine, and
// returns its path and bytes.
func damagedFixture(t *testing.T) (string, []byte) {
	path, data, _ := damagedFixtureHW(t)
	return path, data
}

// damagedFixtureHW also returns the high-water mark in bytes as bbolt reports it (tx.Size): bbolt grows
// the file ahead of use, so bytes past it hold no data.
func damagedFixtureHW(t *testing.T) (string, []byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var as []Link
	for i := range 2000 {
		as = append(as, sampleLink(KindUser, i))
	}
	if err := s.PutLinks(as...); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuarantine(Quarantine{Reason: "TooManyDeletes", SeriesBegan: time.Unix(1e9, 0)}); err != nil {
		t.Fatal(err)
	}
	var hw int64
	_ = s.view(func(tx *bolt.Tx) error { hw = tx.Size(); return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data, int(hw)
}

// expectDamaged opens path read-write and read-only and reads everything, requiring ErrCorrupt naming
// the file from the first step that fails, and no panic or fault.
func expectDamaged(t *testing.T, path, what string) {
	t.Helper()
	for _, ro := range []bool{false, true} {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s (readOnly=%v): panic escaped: %v", what, ro, r)
				}
			}()
			s, err := Open(path, Options{ReadOnly: ro})
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := s.Links(KindUser); err != nil {
				return err
			}
			if _, err := s.Quarantine(); err != nil {
				return err
			}
			return s.Check()
		}()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s (readOnly=%v): err = %v, want ErrCorrupt", what, ro, err)
			continue
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), "state file "+path+" is damaged: ") {
			t.Errorf("%s: the error should say that %s is damaged: %v", what, path, err)
		}
	}
}

// TestTruncatedFile cuts a valid file at page boundaries and inside pages: the layout check must refuse
// it before bbolt maps it (a read past the end of a mapped file is SIGBUS, which kills the process).
func TestTruncatedFile(t *testing.T) {
	path, data, hw := damagedFixtureHW(t)
	const page = 4096
	if hw < 100*page || hw > len(data) {
		t.Fatalf("fixture uses %d of %d bytes", hw, len(data))
	}
	// Cutting the unused tail that bbolt allocated ahead loses nothing.
	if err := os.WriteFile(path, data[:hw], 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("cut at the high-water mark: %v", err)
	}
	if n, err := s.CountLinks(KindUser); err != nil || n != 2000 {
		t.Errorf("cut at the high-water mark: %d anchors, %v; want 2000", n, err)
	}
	s.Close()
	for _, n := range []int{100, page, 2*page - 1, 2 * page, 3 * page, hw / 2, hw/2 + 17, hw - page, hw - 1} {
		if err := os.WriteFile(path, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		expectDamaged(t, path, "truncated to "+strconv.Itoa(n))
	}
}

// setMeta rewrites a field of both meta pages and fixes their checksums, as a file damaged by a tool
// that kept bbolt's format would look.
func setMeta(data []byte, page int, field int, v uint64) {
	for _, off := range []int{0, page} {
		m := data[off+16 : off+16+64]
		binary.NativeEndian.PutUint64(m[field:], v)
		h := fnv.New64a()
		h.Write(m[:56])
		binary.NativeEndian.PutUint64(m[56:], h.Sum64())
	}
}

// TestTruncatedWhileOpen cuts the file under an open Store (another process, a restore gone wrong): the
// mapping still covers the old length, so reads fault; the fault must come back as ErrCorrupt instead of
// killing the process with SIGBUS.
func TestTruncatedWhileOpen(t *testing.T) {
	path, _, hw := damagedFixtureHW(t)
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, int64(hw/8)); err != nil {
		t.Fatal(err)
	}
	_, err = s.Links(KindUser)
	if err == nil {
		err = s.Check()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	t.Log(err)
}

// TestDamagedMeta covers the meta pages: one bad page is survivable (bbolt keeps two for that), two are
// not, and a valid-looking meta that claims more pages than the file has is refused.
func TestDamagedMeta(t *testing.T) {
	path, data := damagedFixture(t)
	const page = 4096
	write := func(d []byte) {
		if err := os.WriteFile(path, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	garbage := func(d []byte, off int) {
		for i := off + 16; i < off+16+64; i++ {
			d[i] ^= 0x5a
		}
	}

	d := bytes.Clone(data)
	garbage(d, 0)
	write(d)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("one damaged meta page: %v", err)
	}
	if n, err := s.CountLinks(KindUser); err != nil || n != 2000 {
		t.Errorf("one damaged meta page: %d anchors, %v; want 2000", n, err)
	}
	s.Close()

	d = bytes.Clone(data)
	garbage(d, 0)
	garbage(d, page)
	write(d)
	expectDamaged(t, path, "both meta pages garbage")

	d = bytes.Clone(data)
	setMeta(d, page, 40, uint64(len(data)/page+1))
	write(d)
	expectDamaged(t, path, "meta claims one page more than the file has")

	d = bytes.Clone(data)
	setMeta(d, page, 16, uint64(len(data)/page+5)) // root bucket past the high-water mark
	write(d)
	expectDamaged(t, path, "root page past the end")
}

// TestDamagedValues flips bytes inside stored values (bbolt has no checksum on data pages, so it cannot
// notice): reads must fail with ErrCorrupt naming the bucket and key.
func TestDamagedValues(t *testing.T) {
	path, data := damagedFixture(t)
	write := func(d []byte) {
		if err := os.WriteFile(path, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// An anchor record starts with its version byte (2) then the target id, a compact literal
	// (length << 2).
	d := bytes.Clone(data)
	rec := []byte("\x02\x20tgt-1234")
	i := bytes.Index(d, rec)
	if i < 0 {
		t.Fatal("anchor record of src-1234 not found in the file")
	}
	d[i] = 9
	write(d)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, err = s.Links(KindUser)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "anchor user/src-1234: unknown anchor record version 9") {
		t.Errorf("Links: err = %v, want ErrCorrupt naming user/src-1234", err)
	}
	// Writing the anchor again replaces the damaged record.
	if err := s.PutLinks(sampleLink(KindUser, 1234)); err != nil {
		t.Errorf("rewriting the damaged anchor: %v", err)
	} else if _, err := s.Links(KindUser); err != nil {
		t.Errorf("after rewriting the damaged anchor: %v", err)
	}
	s.Close()

	d = bytes.Clone(data)
	i = bytes.Index(d, []byte(`{"Reason":"TooManyDeletes"`))
	if i < 0 {
		t.Fatal("quarantine not found in the file")
	}
	d[i] = '#'
	write(d)
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := s.Quarantine(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "meta/quarantine") {
		t.Errorf("Quarantine: err = %v, want ErrCorrupt naming meta/quarantine", err)
	}
}

// TestVerifyAndRebuild: Verify finds a damaged value that Open does not; Rebuild keeps the damaged file
// byte for byte under a timestamped name and leaves a fresh, empty state; a held file is refused.
func TestVerifyAndRebuild(t *testing.T) {
	path, data := damagedFixture(t)
	d := bytes.Clone(data)
	i := bytes.Index(d, []byte("\x02\x18tgt-42"))
	if i < 0 {
		t.Fatal("anchor record of src-42 not found")
	}
	d[i] = 7
	if err := os.WriteFile(path, d, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify: err = %v, want ErrCorrupt", err)
	}
	if _, err := Rebuild(path, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)); !errors.Is(err, ErrLocked) {
		t.Errorf("Rebuild of an open file: err = %v, want ErrLocked", err)
	}
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	moved, err := Rebuild(path, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".damaged-20260301T120000Z"; moved != want {
		t.Errorf("moved to %s, want %s", moved, want)
	}
	if kept, err := os.ReadFile(moved); err != nil || !bytes.Equal(kept, before) {
		t.Errorf("the damaged file was not kept as it was (%v)", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(); err != nil {
		t.Errorf("fresh file: %v", err)
	}
	if n, _ := s.CountLinks(KindUser); n != 0 {
		t.Errorf("fresh file holds %d anchors", n)
	}
	if q, _ := s.Quarantine(); q != nil {
		t.Errorf("fresh file holds a quarantine: %+v", q)
	}
}
