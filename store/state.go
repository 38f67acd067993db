package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/scimsync/scimsync/store/internal/codec"
)

// State is a job's state as the engine and the CLI use it, whatever keeps it: a bbolt file (Store, the
// embedded default) or a PostgreSQL database shared by replicas (package store/postgres). Both keep the
// same things with the same meaning; the methods are documented on Store.
type State interface {
	// Path names the state for messages: the file, or the database and job.
	Path() string
	Close() error
	// Verify reads back every stored value, so a damaged one is found before a restart relies on it.
	Verify() error

	Watermark(name string) (string, error)
	SetWatermark(name, link string) error
	SetWatermarks(links map[string]string) error
	ClearWatermarks() error
	Fingerprint() (string, error)
	SetFingerprint(fp string) error
	GetMeta(key string) ([]byte, error)
	SetMeta(key string, value []byte) error

	Link(kind Kind, sourceID string) (Link, bool, error)
	Links(kind Kind) (map[string]Link, error)
	LinkByTarget(kind Kind, targetID string) (Link, bool, error)
	PutLinks(as ...Link) error
	DeleteLinks(kind Kind, sourceIDs ...string) error
	ClearLinks() error
	CountLinks(kind Kind) (int, error)
	NewBatcher(maxItems int, maxDelay time.Duration) *Batcher

	AddCycle(c Cycle) error
	Cycles(limit int) ([]Cycle, error)

	PutEscrow(e Escrow) error
	PutEscrows(es ...Escrow) error
	DeleteEscrow(kind Kind, sourceID string) error
	Escrows() ([]Escrow, error)
	ClearEscrows() error

	Quarantine() (*Quarantine, error)
	SetQuarantine(q Quarantine) error
	ClearQuarantine() error
	AbortStreak() (AbortStreak, error)
	SetAbortStreak(a AbortStreak) error

	StageOps(ops ...StagedOp) error
	StagedOps() ([]StagedOp, error)
	ClearStaged() error
	Restart() error

	AppendLog(entries ...LogEntry) error
	QueryLog(q LogQuery) ([]LogEntry, error)
	PruneLog(before time.Time) (int, error)

	Sets(name string) (map[string][]string, error)
	PutSets(name string, put map[string][]string, del []string, replace bool) error

	TargetDialect() (*TargetDialect, error)
	SetTargetDialect(d TargetDialect) error
	ClearTargetDialect() error
	Grant(key []byte) (*Grant, error)
	SetGrant(g Grant, key []byte) error
	ClearGrant() error

	// Snapshot and Restore carry a job's whole state between backends (`scimsync state export|import`).
	Snapshot() (*Snapshot, error)
	Restore(s *Snapshot) error
}

var _ State = (*Store)(nil)

// ErrLeaseLost matches a write refused because the store's lease on its job was taken over by another
// holder (a replica that saw the lease expire): the writer was paused or cut off for longer than the
// lease, and anything it writes now could undo the new holder's work. The only safe reaction is to stop
// the cycle. Only the PostgreSQL backend has leases; a bbolt file is guarded by its file lock instead.
var ErrLeaseLost = errors.New("the job's lease was taken over by another holder")

// SnapshotFormat is the version of the Snapshot layout this build writes and reads.
const SnapshotFormat = codec.SnapshotFormat

// Snapshot is a job's whole state in a backend-neutral form, the document of `scimsync state export`
// (fields documented in store/internal/codec).
type Snapshot = codec.Snapshot

// LinkRecord is one anchor in its stored binary form.
type LinkRecord = codec.LinkRecord

// EncodeLink returns the binary record of a (package store/internal/codec); backends other than bbolt store the same
// record so Values keep their Go types.
func EncodeLink(a *Link) []byte {
	return codec.AppendLink(make([]byte, 0, 256), a, codec.LinkV1)
}

// DecodeLink fills a from a record written by EncodeLink, except Kind and SourceID, which are the
// record's key.
func DecodeLink(rec []byte, a *Link) error { return codec.DecodeLink(rec, a) }

// ErrPacked matches a write refused because the link holds only some of its values (Link.Packed).
var ErrPacked = codec.ErrPacked

// LinkValue is a's value at path: from Values, else, for a link read packed (whose Values are not all
// it holds, Link.Packed), from its record. Code that reads a value of a link the engine loaded for a
// cycle reads it here, never from Values alone. A record that does not decode reads as absent (it was
// decoded whole when read, so only a bug gets here).
func LinkValue(a Link, path string) (any, bool) {
	if v, ok := a.Values[path]; ok || a.Packed == "" {
		return v, ok
	}
	v, ok, err := codec.LinkValue(a.Packed, path)
	if err != nil {
		return nil, false
	}
	return v, ok
}

// UnpackLink restores all the values of a link read by LinksPacked; a link that is not packed is left
// alone. Its error is a damaged record.
func UnpackLink(a *Link) error {
	if err := codec.UnpackLink(a); err != nil {
		return fmt.Errorf("unpack anchor %s: %w", a, err)
	}
	return nil
}

// CheckSnapshot refuses a snapshot this build cannot restore faithfully.
func CheckSnapshot(s *Snapshot) error {
	if s == nil {
		return errors.New("snapshot: empty document")
	}
	if s.Format != SnapshotFormat {
		return fmt.Errorf("snapshot: format %d, this scimsync reads format %d", s.Format, SnapshotFormat)
	}
	for i, r := range s.Links {
		if r.Kind == "" || r.SourceID == "" {
			return fmt.Errorf("snapshot: anchor %d: kind and source id are required", i)
		}
		var a Link
		if err := codec.DecodeLink(r.Record, &a); err != nil {
			return fmt.Errorf("snapshot: anchor %s/%s: %w", r.Kind, r.SourceID, err)
		}
	}
	for i, c := range s.Cycles {
		if c.ID == "" {
			return fmt.Errorf("snapshot: cycle %d: empty id", i)
		}
	}
	for i, e := range s.Escrows {
		if e.Kind == "" || e.SourceID == "" {
			return fmt.Errorf("snapshot: escrow %d: kind and source id are required", i)
		}
	}
	for i, op := range s.Staged {
		if op.Kind == "" || op.SourceID == "" {
			return fmt.Errorf("snapshot: staged op %d: kind and source id are required", i)
		}
	}
	for i, e := range s.Log {
		if e.ID == "" || e.Time.IsZero() {
			return fmt.Errorf("snapshot: log entry %d: id and time are required", i)
		}
	}
	if len(s.Grant) > 0 {
		if _, err := DecodeGrant(s.Grant, nil); err != nil && !errors.Is(err, ErrGrantKey) {
			return fmt.Errorf("snapshot: oauth grant: %w", err)
		}
	}
	return nil
}
