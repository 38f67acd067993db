package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

// eager compacts whatever the waste, so tests need not build large files.
var eager = CompactPolicy{MinReclaim: 1, MinShare: 0.0001}

// fillInterleaved writes n users as an initial cycle does: links in batches of 256 through the
// batcher, and their log entries in batches in between, which leaves freed and half-full pages. The
// journal is folded after every batch, as in a cycle larger than foldOps: folded once, into empty
// buckets, the links would fill their pages (layout.FoldLinks) and leave nothing to compact.
func fillInterleaved(t testing.TB, s *Store, n int) {
	t.Helper()
	defer func(o int) { foldOps = o }(foldOps)
	foldOps = 256
	bt := s.NewBatcher(256, time.Hour)
	logs := make([]LogEntry, 0, 500)
	for i := range n {
		a, e := realisticUser(i)
		bt.Put(a)
		logs = append(logs, e)
		if len(logs) == cap(logs) {
			if err := bt.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendLog(logs...); err != nil {
				t.Fatal(err)
			}
			logs = logs[:0]
		}
	}
	if err := bt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(logs...); err != nil {
		t.Fatal(err)
	}
}

// dumpTx lists every key, value and bucket sequence of a file by walking it with bbolt alone.
func dumpTx(tx *bolt.Tx) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		out[prefix+"#seq"] = strconv.FormatUint(b.Sequence(), 10)
		_ = b.ForEach(func(k, v []byte) error {
			p := prefix + "/" + hex.EncodeToString(k)
			if v == nil {
				walk(p, b.Bucket(k))
			} else {
				out[p] = hex.EncodeToString(v)
			}
			return nil
		})
	}
	_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		walk(string(name), b)
		return nil
	})
	return out
}

// dumpFile dumps the closed file at path.
func dumpFile(t testing.TB, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out map[string]string
	if err := db.View(func(tx *bolt.Tx) error { out = dumpTx(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDump(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(want) < 100 {
		t.Fatalf("%s: the expected dump has only %d entries", what, len(want))
	}
	if reflect.DeepEqual(got, want) {
		return
	}
	n := 0
	for k, v := range want {
		if got[k] != v && n < 5 {
			t.Errorf("%s: %s differs or is missing", what, k)
			n++
		}
	}
	t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
}

// wasteful returns a closed state file with interleaved writes and pruned log entries, and its dump.
func wasteful(t testing.TB, n int) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillInterleaved(t, s, n)
	s.Close()
	return path, dumpFile(t, path)
}

func TestCompactKeepsEveryRecord(t *testing.T) {
	path, want := wasteful(t, 3000)
	before, _ := os.Stat(path)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Compact(eager)
	if err != nil || !res.Compacted {
		t.Fatalf("Compact = %+v, %v", res, err)
	}
	t.Logf("bbolt data %d -> %d bytes (%d users)", res.Before, res.After, 3000)
	if res.After >= res.Before*9/10 {
		t.Errorf("compaction gave back less than a tenth: %d -> %d", res.Before, res.After)
	}
	// The Store works on the new file: a write after the compaction is in the file after Close.
	a := sampleLink(KindGroup, 1)
	if err := s.PutLinks(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Error("the state file was not replaced")
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sibling file is left behind: %v", err)
	}
	got := dumpFile(t, path)
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "anchors/"+hex.EncodeToString([]byte(KindGroup))) &&
			!strings.HasPrefix(k, "targets/"+hex.EncodeToString([]byte(KindGroup))) {
			t.Errorf("unexpected entry %s after the compaction", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	sameDump(t, "after compaction", got, want)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l, ok, err := s.Link(KindGroup, a.SourceID); err != nil || !ok || !reflect.DeepEqual(l, a) {
		t.Errorf("link written after the compaction: %v %v %+v", ok, err, l)
	}
}

func TestCompactNotWorthIt(t *testing.T) {
	path, want := wasteful(t, 200)
	before, _ := os.Stat(path)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Compact(CompactPolicy{})
	s.Close()
	if err != nil || res.Compacted || res.After != res.Before {
		t.Fatalf("Compact of a small file = %+v, %v; want nothing done", res, err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("the state file was replaced")
	}
	sameDump(t, "untouched", dumpFile(t, path), want)
}

// TestCompactStepFails fails each step of the compaction: before the rename the old file stays and
// the sibling is removed; after it the new file is in place. Either way the Store keeps working.
func TestCompactStepFails(t *testing.T) {
	for _, step := range []string{"written", "renamed", "synced"} {
		t.Run(step, func(t *testing.T) {
			path, want := wasteful(t, 1000)
			before, _ := os.Stat(path)
			boom := errors.New("injected")
			defer func(f func(string) error) { compactStep = f }(compactStep)
			compactStep = func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Compact(eager)
			if !errors.Is(err, boom) {
				t.Fatalf("Compact err = %v, want the injected one", err)
			}
			if res.Compacted != (step != "written") {
				t.Errorf("Compacted = %v after a failure at %s", res.Compacted, step)
			}
			if err := s.SetMeta("after", []byte("x")); err != nil {
				t.Fatal(err)
			}
			s.Close()
			after, _ := os.Stat(path)
			if os.SameFile(before, after) != (step == "written") {
				t.Errorf("replaced = %v after a failure at %s", !os.SameFile(before, after), step)
			}
			if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the sibling file is left behind: %v", err)
			}
			got := dumpFile(t, path)
			if got["kv/"+hex.EncodeToString([]byte("after"))] != hex.EncodeToString([]byte("x")) {
				t.Error("a write after the failed compaction is lost")
			}
			delete(got, "kv/"+hex.EncodeToString([]byte("after")))
			sameDump(t, step, got, want)
		})
	}
}

func TestCompactNoSpace(t *testing.T) {
	for _, how := range []string{"statfs", "ENOSPC"} {
		t.Run(how, func(t *testing.T) {
			path, want := wasteful(t, 1000)
			before, _ := os.Stat(path)
			if how == "statfs" {
				defer func(f func(string) (uint64, bool)) { freeSpace = f }(freeSpace)
				freeSpace = func(string) (uint64, bool) { return 64 << 10, true }
			} else {
				defer func(f func(string) error) { compactStep = f }(compactStep)
				compactStep = func(s string) error {
					if s == "written" {
						return &os.PathError{Op: "write", Path: path + compactSuffix, Err: syscall.ENOSPC}
					}
					return nil
				}
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Compact(eager)
			if !errors.Is(err, ErrNoSpace) || res.Compacted {
				t.Fatalf("Compact = %+v, %v; want ErrNoSpace", res, err)
			}
			t.Log(err)
			if _, err := s.Links(KindUser); err != nil {
				t.Fatal(err)
			}
			s.Close()
			after, _ := os.Stat(path)
			if !os.SameFile(before, after) {
				t.Error("the state file was replaced")
			}
			if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the sibling file is left behind: %v", err)
			}
			sameDump(t, how, dumpFile(t, path), want)
		})
	}
}

// TestCompactDamaged damages a page in use of a file whose meta pages are intact: Compact reports it
// and leaves the file byte for byte as it was.
func TestCompactDamaged(t *testing.T) {
	path, _ := wasteful(t, 1000)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The root page of the anchors bucket's tree, found with bbolt, is damaged.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var pg uint64
	_ = db.View(func(tx *bolt.Tx) error {
		pg = uint64(tx.Bucket([]byte("anchors")).Bucket([]byte(KindUser)).Root())
		return nil
	})
	db.Close()
	data := bytes.Clone(orig)
	for i := int(pg) * 4096; i < int(pg+1)*4096; i++ {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Compact(eager)
	s.Close()
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("the damaged file was replaced")
	}
	if !errors.Is(err, ErrCorrupt) || res.Compacted {
		t.Fatalf("Compact of a damaged file = %+v, %v; want ErrCorrupt", res, err)
	}
	t.Log(err)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Open's own transaction writes to free pages; the damaged page is as it was.
	if lo, hi := int(pg)*4096, int(pg+1)*4096; len(got) < hi || !bytes.Equal(got[lo:hi], data[lo:hi]) {
		t.Error("the damaged page was changed")
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sibling file is left behind: %v", err)
	}
}

func TestCompactReadOnlyAndLeftover(t *testing.T) {
	path, want := wasteful(t, 300)
	if err := os.WriteFile(path+compactSuffix, []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Compact(eager); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Compact err = %v, want ErrReadOnly", err)
	}
	r.Close()
	if _, err := os.Stat(path + compactSuffix); err != nil {
		t.Errorf("a read-only open removed the leftover: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Compact(eager); err == nil {
		t.Error("Compact after Close succeeded")
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a writer's open left the leftover: %v", err)
	}
	sameDump(t, "after removing the leftover", dumpFile(t, path), want)
}

// TestCompactKilled kills (SIGKILL) a helper process at each step of its compaction and opens the file
// it left: always the whole state, the sibling file gone.
func TestCompactKilled(t *testing.T) {
	if os.Getenv("STORE_COMPACT_HELPER") != "" {
		t.Skip("helper")
	}
	for _, step := range []string{"written", "renamed", "synced"} {
		t.Run(step, func(t *testing.T) {
			path, want := wasteful(t, 1000)
			cmd, stdin, stdout := startHelper(t, "TestHelperCompact", "STORE_COMPACT_HELPER="+path, "STORE_COMPACT_STOP="+step)
			defer stdin.Close()
			if line := readLine(t, stdout, "at "); line != "at "+step {
				t.Fatalf("helper says %q", line)
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("open after a kill at %s: %v", step, err)
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the sibling file is left behind: %v", err)
			}
			sameDump(t, "killed at "+step, dumpFile(t, path), want)
		})
	}
}

// startHelper re-executes the test binary to run the test named run, with env added, and returns it
// started with its stdin and stdout.
func startHelper(t *testing.T, run string, env ...string) (*exec.Cmd, io.WriteCloser, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stdout
}

// readLine returns the first line of r that starts with prefix, failing on EOF.
func readLine(t *testing.T, r io.Reader, prefix string) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text()
		}
	}
	t.Fatalf("helper ended without a line starting with %q: %v", prefix, sc.Err())
	return ""
}

// TestHelperCompact is the helper process of TestCompactKilled and TestOpenWaitsAcrossCompact: it
// compacts the file and, at the step STORE_COMPACT_STOP names, says so and waits to be killed; with
// "none" it waits for a line on stdin first and reports the result.
func TestHelperCompact(t *testing.T) {
	path := os.Getenv("STORE_COMPACT_HELPER")
	if path == "" {
		t.Skip("only run as a helper process")
	}
	stop := os.Getenv("STORE_COMPACT_STOP")
	compactStep = func(step string) error {
		if step == stop {
			fmt.Printf("at %s\n", step)
			_, _ = io.Copy(io.Discard, os.Stdin) // until killed
		}
		return nil
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stop == "none" {
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	res, err := s.Compact(eager)
	fmt.Printf("done %v %v\n", res.Compacted, err)
	s.Close()
}

// TestOpenWaitsAcrossCompact opens the file read-only while a helper process holds it and compacts
// it: the open waits for the lock of the file it opened, finds that file replaced and opens the new
// one, so it never reads a file that has no name any more.
func TestOpenWaitsAcrossCompact(t *testing.T) {
	if os.Getenv("STORE_COMPACT_HELPER") != "" {
		t.Skip("helper")
	}
	path, want := wasteful(t, 1000)
	cmd, stdin, stdout := startHelper(t, "TestHelperCompact", "STORE_COMPACT_HELPER="+path, "STORE_COMPACT_STOP=none")
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	out := bufio.NewReader(stdout)
	if line, _ := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper says %q", line)
	}

	var files []*os.File
	opened := make(chan struct{}, 10)
	defer func(f func(string, int, os.FileMode) (*os.File, error)) { boltfile.OSOpenFile = f }(boltfile.OSOpenFile)
	boltfile.OSOpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		files = append(files, f)
		opened <- struct{}{}
		return f, err
	}
	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Open(path, Options{ReadOnly: true, Timeout: 2 * time.Minute})
		done <- result{s, err}
	}()
	<-opened // the old file is open; its lock is the helper's
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if line, _ := out.ReadString('\n'); line != "done true <nil>\n" {
		t.Fatalf("helper says %q", line)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.s.Close()
	if len(files) != 2 {
		t.Fatalf("Open opened the file %d times, want 2 (the old file, then the new one)", len(files))
	}
	now, _ := os.Stat(path)
	held, err := files[1].Stat()
	if err != nil || !os.SameFile(now, held) {
		t.Fatalf("the reader holds another file than %s: %v", path, err)
	}
	var got map[string]string
	_ = r.s.view(func(tx *bolt.Tx) error { got = dumpTx(tx); return nil })
	sameDump(t, "read across a compaction", got, want)
}

// TestCompactBesideWrites writes links from other goroutines while the file is compacted several times:
// every write lands in the file that ends up at the path, none in a replaced one.
func TestCompactBesideWrites(t *testing.T) {
	path, _ := wasteful(t, 1000)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				if err := s.PutLinks(sampleLink(KindGroup, w*each+i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	compacted := 0
	for range 3 {
		res, err := s.Compact(eager)
		if err != nil {
			t.Fatal(err)
		}
		if res.Compacted {
			compacted++
		}
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if compacted == 0 {
		t.Fatal("nothing was compacted")
	}
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountLinks(KindGroup); err != nil || n != writers*each {
		t.Fatalf("%d group links after the compactions (%v), want %d", n, err, writers*each)
	}
}
