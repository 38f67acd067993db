package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scimsync/scimsync/store/internal/codec"
)

func put(id, rec string) Op {
	return Op{Put: true, Kind: codec.KindUser, SourceID: id, Rec: []byte(rec)}
}

func del(id string) Op { return Op{Kind: codec.KindUser, SourceID: id} }

// written lists a journal's writes as "put id rec" / "delete id", read back through Entries and Record.
func written(t *testing.T, j *Journal) []string {
	t.Helper()
	es := j.Entries()
	var out []string
	for i, e := range es {
		if e.Seq != i {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if !e.Put {
			out = append(out, "delete "+e.SourceID)
			continue
		}
		rec, err := j.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, "put "+e.SourceID+" "+string(rec))
	}
	return out
}

func open(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestAppendReopenReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	j := open(t, path)
	if err := j.Append([]Op{put("a", "rec-a1"), put("b", "rec-b")}); err != nil {
		t.Fatal(err)
	}
	if err := j.Append([]Op{del("b"), put("a", "rec-a2")}); err != nil {
		t.Fatal(err)
	}
	want := []string{"put a rec-a1", "put b rec-b", "delete b", "put a rec-a2"}
	equal(t, "written", written(t, j), want)
	if j.Ops() != 4 || j.Pending(codec.KindUser) != 4 || j.Pending(codec.KindGroup) != 0 {
		t.Fatalf("ops %d, users %d, groups %d", j.Ops(), j.Pending(codec.KindUser), j.Pending(codec.KindGroup))
	}
	// The last write of each anchor is what a read of it sees.
	if rec, put, ok, err := j.Last(codec.KindUser, "a"); err != nil || !ok || !put || string(rec) != "rec-a2" {
		t.Fatalf("last a: %q %v %v %v", rec, put, ok, err)
	}
	if _, put, ok, _ := j.Last(codec.KindUser, "b"); !ok || put {
		t.Fatalf("last b: put %v ok %v, want a delete", put, ok)
	}
	if _, _, ok, _ := j.Last(codec.KindGroup, "a"); ok {
		t.Fatal("a group a was never written")
	}
	// A process that stops without Close leaves the journal for the next one (a crash).
	j2 := open(t, path)
	equal(t, "reopened", written(t, j2), want)
	if err := j2.Append([]Op{put("c", "rec-c")}); err != nil {
		t.Fatal(err)
	}
	equal(t, "appended after reopen", written(t, j2), append(want, "put c rec-c"))
	if err := j2.Reset(); err != nil {
		t.Fatal(err)
	}
	equal(t, "reset", written(t, j2), nil)
	if _, _, ok, _ := j2.Last(codec.KindUser, "a"); ok || j2.Ops() != 0 {
		t.Fatal("reset journal still holds writes")
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty journal stays after Close: %v", err)
	}
	_ = j.Close()
}

// TestCutShortAppendIsDropped cuts the journal at every byte of its last append, as a crash during the
// append can: the earlier appends survive whole, the last is gone, and appending goes on from there.
func TestCutShortAppendIsDropped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.journal")
	j := open(t, path)
	if err := j.Append([]Op{put("a", "rec-a"), del("z")}); err != nil {
		t.Fatal(err)
	}
	good := j.Size()
	if err := j.Append([]Op{put("b", "rec-b"), put("c", "rec-c")}); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	want := []string{"put a rec-a", "delete z"}
	for cut := good; cut < int64(len(full)); cut++ {
		for _, tail := range []string{"cut", "zeros", "garbage"} {
			b := append([]byte(nil), full[:cut]...)
			switch tail {
			case "zeros": // the file grew but the data never landed
				b = append(b, make([]byte, int64(len(full))-cut)...)
			case "garbage":
				for i := cut; i < int64(len(full)); i++ {
					b = append(b, byte(i*7+1))
				}
			}
			p := filepath.Join(dir, fmt.Sprintf("cut-%d-%s", cut, tail))
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			jc, err := Open(p)
			if err != nil {
				t.Fatalf("cut at %d (%s): %v", cut, tail, err)
			}
			equal(t, fmt.Sprintf("cut at %d (%s)", cut, tail), written(t, jc), want)
			if err := jc.Append([]Op{put("d", "rec-d")}); err != nil {
				t.Fatal(err)
			}
			jc2 := open(t, p)
			equal(t, "appended after the cut", written(t, jc2), append(want, "put d rec-d"))
			_ = jc.Close()
			_ = jc2.Close()
		}
	}
}

// TestDamageBeforeGoodRecordsIsReported: a damaged append with a good one after it cannot be a crash's
// doing, so the journal is refused, naming the offset, and left as it is.
func TestDamageBeforeGoodRecordsIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	j := open(t, path)
	if err := j.Append([]Op{put("a", "rec-a")}); err != nil {
		t.Fatal(err)
	}
	first := j.Size()
	if err := j.Append([]Op{put("b", "rec-b")}); err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	b, _ := os.ReadFile(path)
	b[first-2] ^= 0xff // inside the first append's record
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != int64(len(header)) || ce.Path != path {
		t.Fatalf("got %v, want a CorruptError at byte %d", err, len(header))
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(b) {
		t.Fatal("a damaged journal was changed")
	}
	if err := os.WriteFile(path, []byte("something else entirely\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.As(err, &ce) {
		t.Fatalf("a file that is not a journal: %v", err)
	}
}
