package layout

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// TestFillIfAppending: pages are filled fully only when every key a fold writes sorts after the
// bucket's keys.
func TestFillIfAppending(t *testing.T) {
	db, _ := openTestDB(t)
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, c := range []struct {
			put   string // put before the check
			first string
			want  float64
		}{
			{first: "a", want: 1.0}, // empty: every key is an append
			{put: "b", first: "e", want: 1.0},
			{put: "d", first: "e", want: 1.0},
			{first: "d", want: bolt.DefaultFillPercent},
			{first: "c", want: bolt.DefaultFillPercent},
			{first: "a", want: bolt.DefaultFillPercent},
		} {
			if c.put != "" { // the cases after it see this key too
				if err := b.Put([]byte(c.put), []byte("v")); err != nil {
					return err
				}
			}
			b.FillPercent = bolt.DefaultFillPercent
			if fillIfAppending(b, []byte(c.first)); b.FillPercent != c.want {
				t.Errorf("first key %q: FillPercent %v, want %v", c.first, b.FillPercent, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFoldIntoEmptyBucketFillsPages folds an initial cycle's links (random ids, sorted by the fold)
// into an empty file, in transactions of a chunk each as the journal does: the leaves of the links
// bucket and of the target index come out nearly full, as a compaction would leave them, instead of
// half full. What is stored is checked by the journal's tests against a model of direct writes.
func TestFoldIntoEmptyBucketFillsPages(t *testing.T) {
	db, _ := openTestDB(t)
	const n, chunk = 6000, 1000
	ops := make([]FoldOp, n)
	for i := range ops {
		id := fmt.Sprintf("%08x-user-%d", uint32(i)*2654435761, i)
		a := codec.Link{Kind: codec.KindUser, SourceID: id, TargetID: fmt.Sprintf("%08x-target", uint32(i)*40503), Managed: true,
			Values: map[string]any{"userName": id + "@example.com"}, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
		ops[i] = FoldOp{Seq: i, Kind: codec.KindUser, SourceID: id, Rec: codec.AppendLink(nil, &a, codec.LinkV2)}
	}
	SortFold(ops)
	var idx []IndexOp
	for start := 0; start < n; start += chunk {
		if err := db.Update(func(tx *bolt.Tx) (err error) {
			idx, err = FoldLinks(tx, ops[start:start+chunk], idx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	SortIndex(idx)
	for start := 0; start < len(idx); start += chunk {
		if err := db.Update(func(tx *bolt.Tx) error { return FoldIndex(tx, idx[start:min(start+chunk, len(idx))]) }); err != nil {
			t.Fatal(err)
		}
	}
	err := db.View(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{Links, Targets} {
			st := KindBucket(tx, top, codec.KindUser).Stats()
			fill := float64(st.LeafInuse) / float64(st.LeafAlloc)
			if st.KeyN != n || fill < 0.9 {
				t.Errorf("bucket %s: %d keys, leaves %.0f %% full; want %d keys and at least 90 %%", top, st.KeyN, 100*fill, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openTestDB is a bbolt file with the links and target index buckets, and its path.
func openTestDB(t *testing.T) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{Links, Targets} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return db, path
}
