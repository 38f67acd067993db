//go:build linux || darwin

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/scimsync/scimsync/store"
)

// stateFigures is what a state file holds after a cycle: its size and where the bytes are.
type stateFigures struct {
	fileBytes int64
	// diskBytes is what the file takes on disk (its blocks); dataBytes is bbolt's high-water mark, the
	// pages in use or free for reuse; the file may be longer (bbolt grows it in steps).
	diskBytes, dataBytes int64
	// buckets maps a top-level bucket to the bytes its keys and values take in leaf pages (nested
	// buckets included); the rest of the file is branch pages, free pages and page slack.
	buckets map[string]int64
}

// readStateFigures measures the state file at path (closed: the job opens it per cycle).
func readStateFigures(path string) (stateFigures, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stateFigures{}, err
	}
	f := stateFigures{fileBytes: fi.Size(), buckets: map[string]int64{}}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.diskBytes = st.Blocks * 512
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: os.Getenv("SCIMSYNC_BENCH_STATE_DEBUG") == ""})
	if err != nil {
		return f, err
	}
	defer db.Close()
	if os.Getenv("SCIMSYNC_BENCH_STATE_DEBUG") != "" {
		fmt.Printf("    debug db: %+v pagesize %d\n", db.Stats(), db.Info().PageSize)
	}
	err = db.View(func(tx *bolt.Tx) error {
		f.dataBytes = tx.Size()
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			f.buckets[string(name)] = int64(st.LeafInuse)
			if os.Getenv("SCIMSYNC_BENCH_STATE_DEBUG") != "" {
				fmt.Printf("    debug %s: %+v\n", name, st)
			}
			return nil
		})
	})
	if err == nil && os.Getenv("SCIMSYNC_BENCH_STATE_DEBUG") != "" {
		db.Close()
		st, err := store.Open(path, store.Options{ReadOnly: true})
		if err == nil {
			as, _ := st.Links(store.KindUser)
			for _, a := range as {
				fmt.Printf("    debug anchor: %#v\n", a)
				break
			}
			es, _ := st.QueryLog(store.LogQuery{Limit: 1})
			raw, _ := json.Marshal(es)
			fmt.Printf("    debug log: %s\n", raw)
			st.Close()
		}
	}
	return f, err
}

func (f stateFigures) print(users int) {
	per := func(n int64) float64 { return float64(n) / float64(max(users, 1)) }
	fmt.Printf("  %-44s %10.1f MiB  (%.0f bytes per user; on disk %.1f MiB, bbolt data %.1f MiB = %.0f bytes per user)\n",
		"state file", mib(uint64(f.fileBytes)), per(f.fileBytes), mib(uint64(f.diskBytes)), mib(uint64(f.dataBytes)), per(f.dataBytes))
	names := make([]string, 0, len(f.buckets))
	for n, v := range f.buckets {
		if v > 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool { return f.buckets[names[i]] > f.buckets[names[j]] })
	for _, n := range names {
		fmt.Printf("    %-42s %10.1f MiB  (%.0f bytes per user)\n", "bucket "+n+" (leaf bytes in use)",
			mib(uint64(f.buckets[n])), float64(f.buckets[n])/float64(max(users, 1)))
	}
}
