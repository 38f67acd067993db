// Package compact holds what store.Compact decides and checks when it rewrites a bbolt state file: the
// decision from the file's page statistics, the comparison of the copy with the original and the
// file-system steps around the rename.
package compact

import (
	"fmt"
	"os"
	"runtime"

	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// Policy says when a rewrite is worth its cost; the zero value takes the defaults.
type Policy struct {
	// MinReclaim is the least the rewrite must give back, in bytes; 0 means 1 MiB, so a small file is
	// not rewritten for a few pages.
	MinReclaim int64
	// MinShare is the least share of the file the rewrite must give back; 0 means 20 %, so the file
	// is rewritten when its waste is worth a copy of it, not after every cycle.
	MinShare float64
}

// Figures is what the decision reads: the file's data and the bytes its pages really use.
type Figures struct {
	// FileBytes is bbolt's high-water mark: the pages in use, free or pending.
	FileBytes int64
	// LiveBytes is what the buckets' branch and leaf pages use, headers included.
	LiveBytes int64
	PageSize  int64
}

// Measure reads the Figures of tx's file from every bucket's page statistics: one pass over the page
// headers, not the keys.
func Measure(tx *bolt.Tx) Figures {
	f := Figures{FileBytes: tx.Size(), PageSize: int64(tx.DB().Info().PageSize)}
	_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		st := b.Stats()
		f.LiveBytes += int64(st.BranchInuse + st.LeafInuse)
		mapped.Drop(tx) // the bucket's pages were read: they need not stay resident while the next is
		return nil
	})
	return f
}

// Estimate is the size of the compacted file: the live bytes, a sixteenth for the slack of pages that
// cannot take their next element, and the two meta pages, the freelist and the root.
func (f Figures) Estimate() int64 { return f.LiveBytes + f.LiveBytes/16 + 4*f.PageSize }

// Should is the decision: the rewrite must give back at least MinReclaim bytes and MinShare of the
// file. Pages freed by interleaved transactions and half-full pages left by keys inserted in random
// order both count, since the rewrite reclaims both.
func Should(f Figures, p Policy) bool {
	if p.MinReclaim <= 0 {
		p.MinReclaim = 1 << 20
	}
	if p.MinShare <= 0 {
		p.MinShare = 0.2
	}
	reclaim := f.FileBytes - f.Estimate()
	return reclaim >= p.MinReclaim && float64(reclaim) >= p.MinShare*float64(f.FileBytes)
}

// SameCounts compares the keys and buckets of every top-level bucket of two files: a guard against a
// copy that lost something, checked before the copy may replace the original.
func SameCounts(src, dst *bolt.DB) error {
	type count struct{ keys, buckets int }
	counts := func(db *bolt.DB) (map[string]count, error) {
		m := map[string]count{}
		err := db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				st := b.Stats()
				m[string(name)] = count{st.KeyN, st.BucketN}
				mapped.Drop(tx) // as in Measure
				return nil
			})
		})
		return m, err
	}
	a, err := counts(src)
	if err != nil {
		return err
	}
	b, err := counts(dst)
	if err != nil {
		return err
	}
	if len(a) != len(b) {
		return fmt.Errorf("the copy has %d buckets, the original %d", len(b), len(a))
	}
	for name, n := range a {
		if b[name] != n {
			return fmt.Errorf("bucket %s: the copy's keys differ from the original's", name)
		}
	}
	return nil
}

// SyncDir makes a rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}
