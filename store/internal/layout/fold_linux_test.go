package layout

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// A fold's transaction, and a read of many anchors, let go of the file's pages as they go, so neither
// maps the whole file into the process's RSS before it ends (measured by the kernel, /proc/self/smaps).
func TestFoldsAndReadsLetGoOfMappedPages(t *testing.T) {
	db, path := openTestDB(t)
	const n = 30000
	ops := make([]FoldOp, n)
	for i := range ops {
		id := fmt.Sprintf("%08x-user-%d", uint32(i)*2654435761, i) // spread over the whole bucket
		a := codec.Link{Kind: codec.KindUser, SourceID: id, TargetID: "t-" + id + strings.Repeat("x", 400), Managed: true, Hash: strings.Repeat("h", 64),
			Values:    map[string]any{"userName": id + "@example.com", "displayName": strings.Repeat("d", 200)},
			CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
		ops[i] = FoldOp{Seq: i, Kind: codec.KindUser, SourceID: id, Rec: codec.AppendLink(nil, &a, codec.LinkV2)}
	}
	SortFold(ops)
	var idx []IndexOp
	foldLinks := func(tx *bolt.Tx) (err error) { idx, err = FoldLinks(tx, ops, idx[:0]); return err }
	foldIndex := func(tx *bolt.Tx) error { return FoldIndex(tx, idx) }
	decode := DecodeLinkPacked(path, codec.KindUser)
	readAll := func(tx *bolt.Tx) error {
		got, err := ReadLinks(tx, codec.KindUser, decode)
		if err == nil && len(got) != n {
			err = fmt.Errorf("ReadLinks: %d anchors, want %d", len(got), n)
		}
		return err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ops[(i*7919)%n].SourceID // n is not a multiple of 7919: every id once, out of order
	}
	getAll := func(tx *bolt.Tx) error {
		got, err := GetLinks(tx, codec.KindUser, ids, decode)
		if err == nil && len(got) != n {
			err = fmt.Errorf("GetLinks: %d anchors, want %d", len(got), n)
		}
		return err
	}
	measure := func(fold func(tx *bolt.Tx) error) (resident int64) {
		var measured error
		err := db.Update(func(tx *bolt.Tx) error {
			if err := fold(tx); err != nil {
				return err
			}
			resident, measured = mapped.Resident(path) // before the commit: what the step left mapped
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if measured != nil {
			t.Skipf("cannot measure the mapping: %v", measured)
		}
		_ = db.View(func(tx *bolt.Tx) error { mapped.Drop(tx); return nil })
		return resident
	}
	measure(foldLinks) // the file, first written
	SortIndex(idx)
	measure(foldIndex)

	defer func(n int) { dropEvery = n }(dropEvery)
	for _, step := range []struct {
		name string
		fold func(tx *bolt.Tx) error
	}{{"FoldLinks", foldLinks}, {"FoldIndex", foldIndex}, {"ReadLinks", readAll}, {"GetLinks", getAll}} {
		dropEvery = n + 1
		whole := measure(step.fold)
		dropEvery = 32
		kept := measure(step.fold)
		t.Logf("%s: resident before the commit: %d bytes without letting go, %d letting go every %d anchors", step.name, whole, kept, dropEvery)
		// 32 anchors, each a leaf and a branch page with the kernel's 64 KiB fault-around, and the root.
		const most = 2*32*64<<10 + 512<<10
		if whole < 2*most {
			t.Fatalf("%s: without letting go, only %d bytes are resident: the test cannot see the mapping", step.name, whole)
		}
		if kept > most {
			t.Errorf("%s: letting go every %d anchors, %d bytes of the file are resident before the commit, want at most %d", step.name, dropEvery, kept, most)
		}
	}
}
