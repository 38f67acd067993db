package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// linkModel is what the anchors should be after a run of writes, kept as plain maps: each anchor's
// target and hash, and the target index as PutLink documents it (the anchor written last wins a
// target; a moved or deleted anchor's entry goes only if it still points at it).
type linkModel struct {
	links   map[Kind]map[string]Link
	index   map[Kind]map[string]string
	created map[Kind]map[string]time.Time
}

func newLinkModel() *linkModel {
	m := &linkModel{links: map[Kind]map[string]Link{}, index: map[Kind]map[string]string{}, created: map[Kind]map[string]time.Time{}}
	for _, k := range []Kind{KindUser, KindGroup} {
		m.links[k], m.index[k], m.created[k] = map[string]Link{}, map[string]string{}, map[string]time.Time{}
	}
	return m
}

func (m *linkModel) apply(op LinkOp) {
	k, id := op.Link.Kind, op.Link.SourceID
	if old, ok := m.links[k][id]; ok && old.TargetID != "" && (!op.Put || old.TargetID != op.Link.TargetID) {
		if m.index[k][old.TargetID] == id {
			delete(m.index[k], old.TargetID)
		}
	}
	if !op.Put {
		delete(m.links[k], id)
		delete(m.created[k], id)
		return
	}
	if _, ok := m.links[k][id]; !ok || !op.Link.CreatedAt.IsZero() {
		m.created[k][id] = op.Link.CreatedAt // zero: set when stored, checked to be set
	}
	m.links[k][id] = op.Link
	if op.Link.TargetID != "" {
		m.index[k][op.Link.TargetID] = id
	}
}

// check compares s with the model through every way the store reads anchors.
func (m *linkModel) check(t *testing.T, s *Store, when string, targets []string) {
	t.Helper()
	for _, k := range []Kind{KindUser, KindGroup} {
		for i := range 12 {
			id := fmt.Sprintf("s%d", i)
			a, ok, err := s.Link(k, id)
			want, wok := m.links[k][id]
			if err != nil || ok != wok || ok && (a.TargetID != want.TargetID || a.Hash != want.Hash) {
				t.Fatalf("%s: Link(%s, %s) = %v %v %v, want %v %v", when, k, id, a, ok, err, want, wok)
			}
			if ok && (a.CreatedAt.IsZero() || !m.created[k][id].IsZero() && !a.CreatedAt.Equal(m.created[k][id])) {
				t.Fatalf("%s: %s/%s created at %v, want %v", when, k, id, a.CreatedAt, m.created[k][id])
			}
			if ok && m.created[k][id].IsZero() {
				m.created[k][id] = a.CreatedAt // kept from now on
			}
		}
		for _, tid := range targets {
			a, ok, err := s.LinkByTarget(k, tid)
			src, wok := m.index[k][tid]
			wok = wok && m.links[k][src].TargetID == tid
			if err != nil || ok != wok || ok && a.SourceID != src {
				t.Fatalf("%s: LinkByTarget(%s, %s) = %s %v %v, want %s %v", when, k, tid, a.SourceID, ok, err, src, wok)
			}
		}
		all, err := s.Links(k)
		if err != nil {
			t.Fatal(err)
		}
		got, want := slices.Sorted(mapKeys(all)), slices.Sorted(mapKeys(m.links[k]))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: Links(%s) = %v, want %v", when, k, got, want)
		}
		if n, err := s.CountLinks(k); err != nil || n != len(want) {
			t.Fatalf("%s: CountLinks(%s) = %d %v, want %d", when, k, n, err, len(want))
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// crashFiles copies the state file at path and its journal as they are, as a crash at this moment
// would leave them, passing the journal's bytes through edit when set; it returns the copy's path.
func crashFiles(t *testing.T, path string, edit func(journal []byte)) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "state.db")
	for _, suffix := range []string{"", ".journal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if suffix != "" && edit != nil {
			edit(b)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// crashCopy opens a copy of the files a crash at this moment would leave (crashFiles).
func crashCopy(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(crashFiles(t, path, nil), Options{})
	if err != nil {
		t.Fatalf("open after a crash: %v", err)
	}
	return s
}

// TestJournalReadsAsWrittenThroughCrashes runs random anchor writes through the journal (two kinds,
// anchors moving between targets and claiming each other's, deletes, anchors written several times
// between folds), folding a few at a time, and compares the store with a model of PutLink and
// DeleteLink after every step; a crash is copied at random moments, including after each transaction
// of a fold that then stops, and the copy, opened, must read the same.
func TestJournalReadsAsWrittenThroughCrashes(t *testing.T) {
	defer func(o, c int) { foldOps, foldChunk, foldCommitted = o, c, nil }(foldOps, foldChunk)
	foldOps, foldChunk = 9, 3
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			s, path := openTest(t)
			m := newLinkModel()
			var targets []string
			for i := range 8 {
				targets = append(targets, fmt.Sprintf("t%d", i))
			}
			w := boltBatchWriter{s}
			for step := range 60 {
				var ops []LinkOp
				for range 1 + rng.IntN(5) {
					k := []Kind{KindUser, KindGroup}[rng.IntN(2)]
					op := LinkOp{Put: rng.IntN(4) > 0, Link: Link{Kind: k, SourceID: fmt.Sprintf("s%d", rng.IntN(12))}}
					if op.Put {
						op.Link.TargetID = targets[rng.IntN(len(targets))]
						op.Link.Hash = fmt.Sprintf("h%d", step)
						op.Link.Values = map[string]any{"userName": op.Link.SourceID}
						if rng.IntN(4) == 0 {
							op.Link.CreatedAt = time.Unix(int64(1000+step), 0).UTC()
						}
					}
					ops = append(ops, op)
				}
				if err := w.WriteLinks(ops); err != nil {
					t.Fatal(err)
				}
				for _, op := range ops {
					m.apply(op)
				}
				switch rng.IntN(6) {
				case 0:
					m.check(t, s, fmt.Sprintf("step %d", step), targets)
				case 1:
					c := crashCopy(t, path)
					m.check(t, c, fmt.Sprintf("crash at step %d", step), targets)
					_ = c.Close()
				case 2:
					stopAt, n := rng.IntN(4), 0
					foldCommitted = func() error {
						if n++; n > stopAt {
							return errors.New("crash in the fold")
						}
						return nil
					}
					err := s.settle("")
					foldCommitted = nil
					c := crashCopy(t, path)
					m.check(t, c, fmt.Sprintf("crash in a fold at step %d (fold: %v)", step, err), targets)
					_ = c.Close()
				}
			}
			m.check(t, s, "end", targets)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Close left the journal: %v", err)
			}
			s2, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			m.check(t, s2, "reopened read-only", targets)
		})
	}
}

// TestRebuildMovesTheJournalAside: the anchor writes a crash left in the journal belong to the file
// Rebuild moves aside; the fresh file must not fold them in.
func TestRebuildMovesTheJournalAside(t *testing.T) {
	s, path := openTest(t)
	if err := (boltBatchWriter{s}).WriteLinks([]LinkOp{{Put: true, Link: Link{Kind: KindUser, SourceID: "u1", TargetID: "t1"}}}); err != nil {
		t.Fatal(err)
	}
	at := crashFiles(t, path, nil)
	moved, err := Rebuild(at, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(moved + ".journal"); err != nil {
		t.Fatalf("the journal did not move with the file: %v", err)
	}
	fresh, err := Open(at, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, ok, err := fresh.Link(KindUser, "u1"); ok || err != nil {
		t.Fatalf("the rebuilt file has the old file's anchor (ok %v, err %v)", ok, err)
	}
	old, err := Open(moved, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, ok, err := old.Link(KindUser, "u1"); !ok || err != nil {
		t.Fatalf("the moved file lost its journaled anchor (ok %v, err %v)", ok, err)
	}
}

// TestDamagedJournalStopsOpen: a journal that does not check out (a damaged append with a good one
// after it) is damage like a damaged file: Open refuses it with ErrCorrupt, naming the journal, and
// changes neither file.
func TestDamagedJournalStopsOpen(t *testing.T) {
	s, path := openTest(t)
	w := boltBatchWriter{s}
	for _, id := range []string{"u1", "u2"} { // two appends
		if err := w.WriteLinks([]LinkOp{{Put: true, Link: Link{Kind: KindUser, SourceID: id, TargetID: "t-" + id}}}); err != nil {
			t.Fatal(err)
		}
	}
	at := crashFiles(t, path, func(b []byte) {
		b[26+8+2] ^= 0xff // inside the first append (after the 26-byte header and its frame header)
	})
	before, _ := os.ReadFile(at + ".journal")
	_, err := Open(at, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), at+".journal") {
		t.Fatalf("got %v, want ErrCorrupt naming the journal", err)
	}
	if after, _ := os.ReadFile(at + ".journal"); string(after) != string(before) {
		t.Fatal("a damaged journal was changed")
	}
	st, err := Open(at, Options{ReadOnly: true}) // read-only opens do not read the journal
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
}

// TestFailedFoldOnCloseKeepsTheJournal: a fold that fails when the store closes (a full disk) leaves
// the journal in place and Close says so; the next open reads every link and its clean close removes
// the journal. (Folding a journal whose writes never reached the file is TestJournalReadsAsWritten-
// ThroughCrashes's crash copies.)
func TestFailedFoldOnCloseKeepsTheJournal(t *testing.T) {
	defer func() { foldCommitted = nil }()
	s, path := openTest(t)
	ops := []LinkOp{{Put: true, Link: Link{Kind: KindUser, SourceID: "u1", TargetID: "t1"}},
		{Put: true, Link: Link{Kind: KindGroup, SourceID: "g1", TargetID: "t2"}}}
	if err := (boltBatchWriter{s}).WriteLinks(ops); err != nil {
		t.Fatal(err)
	}
	foldCommitted = func() error { return errors.New("no space left on device") }
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Close = %v, want the fold's failure", err)
	}
	foldCommitted = nil
	if _, err := os.Stat(path + ".journal"); err != nil {
		t.Fatalf("the journal of a failed fold is gone: %v", err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if a, ok, err := s2.Link(op.Link.Kind, op.Link.SourceID); !ok || err != nil || a.TargetID != op.Link.TargetID {
			t.Fatalf("%s after reopening: %v %v %v", op.Link, a, ok, err)
		}
		if a, ok, err := s2.LinkByTarget(op.Link.Kind, op.Link.TargetID); !ok || err != nil || a.SourceID != op.Link.SourceID {
			t.Fatalf("%s by target after reopening: %v %v %v", op.Link, a, ok, err)
		}
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a clean close left the journal: %v", err)
	}
}

// TestSmallFoldIsOneTransaction: a fold of no more than foldChunk writes stores the links and the
// index together, in one transaction (one fsync), as the batches did before the journal.
func TestSmallFoldIsOneTransaction(t *testing.T) {
	defer func() { foldCommitted = nil }()
	s, _ := openTest(t)
	ops := []LinkOp{{Put: true, Link: Link{Kind: KindUser, SourceID: "u1", TargetID: "t1"}},
		{Put: true, Link: Link{Kind: KindUser, SourceID: "u2", TargetID: "t2"}}}
	if err := (boltBatchWriter{s}).WriteLinks(ops); err != nil {
		t.Fatal(err)
	}
	commits := 0
	foldCommitted = func() error { commits++; return nil }
	if a, ok, err := s.LinkByTarget(KindUser, "t2"); err != nil || !ok || a.SourceID != "u2" || commits != 1 {
		t.Fatalf("LinkByTarget = %v %v %v after %d fold transactions, want u2 after 1", a, ok, err, commits)
	}
}
