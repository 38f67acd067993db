package compact

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// bigFile is a bbolt file of two buckets of about 8 MiB each.
func bigFile(t *testing.T, name string) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, bucket := range []string{"anchors", "log"} {
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte(bucket))
			if err != nil {
				return err
			}
			for i := range 20000 {
				if err := b.Put(fmt.Appendf(nil, "%08x-%d", uint32(i)*2654435761, i), []byte(strings.Repeat("v", 300))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return db, path
}

// Measure and SameCounts read every page of a file; what they read does not stay in the process's
// RSS (mapped.Drop), measured by the kernel inside the transaction that read it.
func TestMeasureAndSameCountsLetGoOfPages(t *testing.T) {
	src, srcPath := bigFile(t, "src.db")
	dst, dstPath := bigFile(t, "dst.db")
	const small = 512 << 10
	resident := func(path string) int64 {
		n, err := mapped.Resident(path)
		if err != nil {
			t.Skipf("cannot measure the mapping: %v", err)
		}
		return n
	}
	if err := src.View(func(tx *bolt.Tx) error {
		for range tx.Check() {
		}
		if walked := resident(srcPath); walked < 8*small {
			t.Fatalf("after walking every page, only %d bytes are resident: the test cannot see the mapping", walked)
		}
		f := Measure(tx)
		if f.LiveBytes < 10<<20 {
			t.Errorf("Measure: %d live bytes, want more than 10 MiB", f.LiveBytes)
		}
		if got := resident(srcPath); got > small {
			t.Errorf("after Measure, %d bytes of the file are resident, want at most %d", got, small)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := SameCounts(src, dst); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{srcPath, dstPath} {
		if got := resident(path); got > small {
			t.Errorf("after SameCounts, %d bytes of %s are resident, want at most %d", got, filepath.Base(path), small)
		}
	}
}
