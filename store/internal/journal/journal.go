// Package journal is the bbolt store's write-behind log of anchor writes. bbolt stores anchors in a
// B+tree keyed by source id, a random key: every anchor of a batch lands on a leaf of its own, so a
// commit of 1,024 anchors rewrote about a thousand 4 KiB leaves in the anchors bucket and as many in
// the target index, about 30 % of scimsync's CPU in a 100,000-user cycle (docs/performance.md#cpu).
// Appended here instead, a batch costs one sequential write and one fsync; the store folds the
// journal into its buckets in key order now and then (layout.FoldLinks), rewriting each leaf once
// per fold instead of once per batch.
//
// A file is a header line and then one frame per append,
//
//	length (uint32, little-endian) | CRC-32C of the payload (uint32) | payload
//
// and a payload is a run of writes, each an operation byte (1 put, 2 delete) and three uvarint-length
// strings: the kind, the source id and, for a put, the anchor record as the bbolt file stores it
// (codec.LinkV2; empty for a delete). Frames are appended and synced; the file is emptied once folded.
// A crash can cut only the last append short, so a damaged frame at the end of the file is dropped on
// open, while a damaged frame followed by a good one is damage to report (CorruptError), never to skip.
package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"github.com/scimsync/scimsync/store/internal/codec"
	"github.com/scimsync/scimsync/store/internal/compact"
)

// header opens every journal file; a file without it is not ours to fold.
const header = "scimsync anchor journal 1\n"

const (
	opPut    = 1
	opDelete = 2
	frame    = 8         // length and checksum
	maxFrame = 256 << 20 // an append is split in frames of about half this; a longer length is damage
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Op is one anchor write: a put carries the encoded record.
type Op struct {
	Put      bool
	Kind     codec.Kind
	SourceID string
	Rec      []byte
}

// Entry is where an Op lies in the file, in the order written (Seq).
type Entry struct {
	Seq      int
	Put      bool
	Kind     codec.Kind
	SourceID string
	off      int64 // of the anchor record
	n        int   // its length
}

// CorruptError names the journal and the offset of a damaged record.
type CorruptError struct {
	Path   string
	Offset int64
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("anchor journal %s: record at byte %d: %v", e.Path, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Journal is an open journal file; its methods are not safe for concurrent use (the store holds a lock).
type Journal struct {
	f    *os.File
	path string
	size int64 // bytes of good records (and the header) written
	// entries are the writes in the order written; last indexes each anchor's last one.
	entries []Entry
	last    map[anchor]int
	kind    map[codec.Kind]int // writes not yet folded, per kind
	buf     []byte
	// recSize is about how long Prepare's last records were, to size the next batch's buffer.
	recSize int
}

// Open opens the journal at path, creating it if needed, and reads what it holds: the entries of a
// journal a crashed process left are returned by Entries until Reset. A damaged last record (an
// append cut short) is cut off; any other damage is a CorruptError and the file is left as it is.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open anchor journal: %w", err)
	}
	j := &Journal{f: f, path: path, last: map[anchor]int{}, kind: map[codec.Kind]int{}}
	if err := j.load(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return j, nil
}

// load reads every record, indexing the last write of each anchor.
func (j *Journal) load() error {
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("anchor journal %s: %w", j.path, err)
	}
	end := fi.Size()
	if end == 0 {
		if err := j.writeHeader(); err != nil {
			return err
		}
		// The journal's name must survive a power loss as its synced writes do.
		if err := compact.SyncDir(filepath.Dir(j.path)); err != nil {
			return fmt.Errorf("anchor journal %s: sync its directory: %w", j.path, err)
		}
		return nil
	}
	head := make([]byte, len(header))
	if _, err := j.f.ReadAt(head, 0); err != nil || string(head) != header {
		if end < int64(len(header)) && bytes.HasPrefix([]byte(header), head[:end]) {
			return j.writeHeader() // the header's own write was cut short
		}
		return &CorruptError{Path: j.path, Err: errors.New("not a scimsync anchor journal (bad header)")}
	}
	j.size = int64(len(header))
	return j.scan(end)
}

func (j *Journal) writeHeader() error {
	if _, err := j.f.WriteAt([]byte(header), 0); err != nil {
		return fmt.Errorf("anchor journal %s: %w", j.path, err)
	}
	if err := j.f.Truncate(int64(len(header))); err != nil {
		return fmt.Errorf("anchor journal %s: %w", j.path, err)
	}
	j.size = int64(len(header))
	return j.sync()
}

// scan indexes the frames from j.size to end, cutting off a damaged tail.
func (j *Journal) scan(end int64) error {
	for off := j.size; off < end; {
		payload, err := j.frameAt(off, end)
		if errors.Is(err, errTail) {
			return j.cut(off, end)
		}
		if err != nil {
			return &CorruptError{Path: j.path, Offset: off, Err: err}
		}
		for p := 0; p < len(payload); {
			e, used, err := decode(payload[p:])
			if err != nil {
				return &CorruptError{Path: j.path, Offset: off + frame + int64(p), Err: err}
			}
			e.Seq, e.off = len(j.entries), off+frame+int64(p+used-e.n)
			j.index(e)
			p += used
		}
		off += frame + int64(len(payload))
		j.size = off
	}
	return nil
}

// errTail marks damage that only an append cut short can leave: it and all after it are dropped.
var errTail = errors.New("unfinished append")

// frameAt checks the frame at off and returns its payload. An append cut short by a crash
// can leave a frame running past the end of the file, a frame whose checksum fails and after which
// nothing good follows, or zeros (space allocated but never written): errTail. A bad frame followed
// by a good one is damage.
func (j *Journal) frameAt(off, end int64) ([]byte, error) {
	var fr [frame]byte
	if end-off < frame {
		return nil, errTail
	}
	if _, err := j.f.ReadAt(fr[:], off); err != nil {
		return nil, err
	}
	n := int64(binary.LittleEndian.Uint32(fr[0:]))
	if n == 0 || n > maxFrame || off+frame+n > end {
		// Without a length the next frame cannot be found: nothing after it can be read anyway.
		return nil, errTail
	}
	payload := make([]byte, n)
	if _, err := j.f.ReadAt(payload, off+frame); err != nil {
		return nil, err
	}
	if crc32.Checksum(payload, crcTable) == binary.LittleEndian.Uint32(fr[4:]) {
		return payload, nil
	}
	if next := off + frame + n; next < end {
		if _, err := j.frameAt(next, end); err == nil {
			return nil, errors.New("checksum mismatch, with good records after it")
		}
	}
	return nil, errTail
}

// cut drops a damaged tail: the append that wrote it never returned, so nothing relied on it.
func (j *Journal) cut(off, end int64) error {
	if err := j.f.Truncate(off); err != nil {
		return fmt.Errorf("anchor journal %s: cut the unfinished append at byte %d of %d: %w", j.path, off, end, err)
	}
	j.size = off
	return j.sync()
}

// decode reads one write from the start of p and says how many bytes it took.
func decode(p []byte) (e Entry, used int, err error) {
	switch p[0] {
	case opPut:
		e.Put = true
	case opDelete:
	default:
		return e, 0, fmt.Errorf("unknown operation %d", p[0])
	}
	rest := p[1:]
	kind, rest, ok := text(rest)
	id, rest, ok2 := text(rest)
	rec, rest, ok3 := text(rest)
	if !ok || !ok2 || !ok3 || kind == "" || id == "" {
		return e, 0, errors.New("bad kind, source id or record length")
	}
	if e.Put == (len(rec) == 0) {
		return e, 0, errors.New("a put without a record, or a delete with one")
	}
	e.Kind, e.SourceID, e.n = codec.Kind(kind), id, len(rec)
	return e, len(p) - len(rest), nil
}

func text(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// anchor is the key of one anchor; its strings are those of the writes, so indexing one allocates nothing.
type anchor struct {
	kind codec.Kind
	id   string
}

func (j *Journal) index(e Entry) {
	j.last[anchor{e.Kind, e.SourceID}] = len(j.entries)
	j.entries = append(j.entries, e)
	j.kind[e.Kind]++
}

// Append writes ops at the end of the journal and syncs them: afterwards they survive a crash. On an
// error none of them counts as written (the next Append writes over what this one may have left).
// Each append is one frame, so an append a crash cut short is always the journal's last.
func (j *Journal) Append(ops []Op) error {
	b := j.buf[:0]
	entries := make([]Entry, 0, len(ops))
	at := -1
	for _, op := range ops {
		if at < 0 || len(b)-at > maxFrame/2 {
			b = closeFrame(b, at)
			at = len(b)
			b = append(b, make([]byte, frame)...)
		}
		if op.Put {
			b = append(b, opPut)
		} else {
			b = append(b, opDelete)
		}
		b = binary.AppendUvarint(b, uint64(len(op.Kind)))
		b = append(b, op.Kind...)
		b = binary.AppendUvarint(b, uint64(len(op.SourceID)))
		b = append(b, op.SourceID...)
		b = binary.AppendUvarint(b, uint64(len(op.Rec)))
		entries = append(entries, Entry{Seq: len(j.entries) + len(entries), Put: op.Put, Kind: op.Kind, SourceID: op.SourceID,
			off: j.size + int64(len(b)), n: len(op.Rec)})
		b = append(b, op.Rec...)
	}
	b = closeFrame(b, at)
	j.buf = b
	_, err := j.f.WriteAt(b, j.size)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// What this append left must not follow the next one's frames (best effort: a crash
		// before the next append would find it a cut-short tail anyway).
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("append to anchor journal %s: %w", j.path, err)
	}
	for _, e := range entries {
		j.index(e)
	}
	j.size += int64(len(b))
	if cap(j.buf) > 4<<20 {
		j.buf = nil // one large batch need not pin its buffer
	}
	return nil
}

// closeFrame fills in the length and checksum of the frame that starts at at (none when at < 0).
func closeFrame(b []byte, at int) []byte {
	if at < 0 {
		return b
	}
	p := b[at+frame:]
	binary.LittleEndian.PutUint32(b[at:], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[at+4:], crc32.Checksum(p, crcTable))
	return b
}

func (j *Journal) sync() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync anchor journal %s: %w", j.path, err)
	}
	return nil
}

// Ops is how many writes the journal holds.
func (j *Journal) Ops() int { return len(j.entries) }

// Pending is how many of the journal's writes are of kind.
func (j *Journal) Pending(kind codec.Kind) int { return j.kind[kind] }

// Size is the journal's length in bytes.
func (j *Journal) Size() int64 { return j.size }

// Last returns the journal's last write of an anchor: ok is false when it holds none, and put false
// when that write deleted it; rec is the record of a put.
func (j *Journal) Last(kind codec.Kind, sourceID string) (rec []byte, put, ok bool, err error) {
	i, ok := j.last[anchor{kind, sourceID}]
	if !ok || !j.entries[i].Put {
		return nil, false, ok, nil
	}
	rec, err = j.Record(j.entries[i])
	return rec, true, true, err
}

// Link decodes the journal's last write of an anchor with decode: ok is false when the journal holds
// none, found false when that write deleted the anchor.
func (j *Journal) Link(kind codec.Kind, sourceID string, decode func([]byte, *codec.Link) error) (a codec.Link, found, ok bool, err error) {
	rec, put, ok, err := j.Last(kind, sourceID)
	if err != nil || !ok || !put {
		return a, false, ok, err
	}
	err = decode(rec, &a)
	return a, err == nil, true, err
}

// Entries returns every write in the order written (Seq is the index); valid until the next Append
// or Reset.
func (j *Journal) Entries() []Entry { return j.entries }

// Record reads the anchor record of a put.
func (j *Journal) Record(e Entry) ([]byte, error) { return j.appendRecord(nil, e) }

// appendRecord appends the anchor record of a put to dst.
func (j *Journal) appendRecord(dst []byte, e Entry) ([]byte, error) {
	dst = slices.Grow(dst, e.n)
	rec := dst[len(dst) : len(dst)+e.n]
	if _, err := j.f.ReadAt(rec, e.off); err != nil {
		return dst, &CorruptError{Path: j.path, Offset: e.off, Err: err}
	}
	return dst[:len(dst)+e.n], nil
}

// Reset empties the journal once every write it held is stored elsewhere.
func (j *Journal) Reset() error {
	if err := j.f.Truncate(int64(len(header))); err != nil {
		return fmt.Errorf("empty anchor journal %s: %w", j.path, err)
	}
	if err := j.sync(); err != nil {
		return err
	}
	j.size = int64(len(header))
	clear(j.last)
	j.entries = j.entries[:0]
	clear(j.kind)
	return nil
}

// Close closes the file; an empty journal is removed, so a cleanly closed state leaves none behind.
func (j *Journal) Close() error {
	empty := len(j.entries) == 0
	err := j.f.Close()
	if err == nil && empty {
		if rmErr := os.Remove(j.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = rmErr
		}
	}
	if err != nil {
		return fmt.Errorf("close anchor journal %s: %w", j.path, err)
	}
	return nil
}
