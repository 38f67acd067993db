// Package store keeps a provisioning job's state across restarts in one bbolt file per job: the connector
// data store (anchors linking source and target objects), the delta watermark, escrows, quarantine, staged
// deletes, cycle history and the provisioning log (see
// https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works, https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status,
// https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions and https://learn.microsoft.com/graph/api/resources/provisioningobjectsummary). The engine
// and the CLI use it through State, which store/postgres implements too, for jobs whose state lives in a
// PostgreSQL database shared by replicas.
//
// Every write is one bbolt transaction, so a crash at any point leaves the file as it was before or after a
// write, never in between. The package holds no business rules: it stores what the engine decides.
//
// One process writes a file at a time. bbolt takes an exclusive flock on open; a second opener, in this
// process or another, gets an error matching ErrLocked that names the file.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimsync/scimsync/store/internal/boltfile"
	"github.com/scimsync/scimsync/store/internal/filelock"
	"github.com/scimsync/scimsync/store/internal/journal"
	"github.com/scimsync/scimsync/store/internal/layout"
	"github.com/scimsync/scimsync/store/internal/mapped"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this build writes. A file with a newer version is refused rather than
// misread, so downgrading scimsync can never corrupt state written by a newer release. Version 2
// writes compact anchors and log entries (store/internal/codec); it reads version 1 records as they are.
const SchemaVersion = 2

// DefaultTimeout bounds how long Open waits for another process to release the file; long enough to ride
// out a daemon restart, short enough that a CLI command run beside a live daemon fails promptly.
const DefaultTimeout = 2 * time.Second

// ErrLocked matches (errors.Is) the error Open returns when another Store holds the file, so the CLI can
// tell "daemon running" apart from a broken file. errors.As with *LockedError gives the path.
var ErrLocked = errors.New("state file is in use")

// ErrCorrupt matches errors caused by a damaged file (a file cut short, garbage meta pages, a stored value
// that does not decode), so the CLI can advise a rebuild instead of retrying, which can never help.
// errors.As with *CorruptError gives the path and the detail.
var ErrCorrupt = layout.ErrCorrupt

// ErrSchemaTooNew matches the refusal to open a file written by a newer scimsync, which this build could
// misread.
var ErrSchemaTooNew = errors.New("state file schema is newer than supported")

// ErrReadOnly matches a write attempted on a Store opened with Options.ReadOnly, a programming error in the
// caller that should not be mistaken for an I/O failure.
var ErrReadOnly = errors.New("state file opened read-only")

// LockedError names the file that is held elsewhere, because with one file per job the operator needs to
// know which job's daemon is running.
type LockedError struct {
	Path string
	// InProcess is true when this process already has the file open; false when another process
	// holds the lock (or it could not be taken within Options.Timeout).
	InProcess bool
}

// Error says which file is held and by whom, worded for an operator who started a second daemon.
func (e *LockedError) Error() string {
	if e.InProcess {
		return fmt.Sprintf("state file %s is already open in this process", e.Path)
	}
	return fmt.Sprintf("state file %s is in use by another scimsync process", e.Path)
}

// Is makes errors.Is(err, ErrLocked) work without string matching.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// CorruptError names the damaged file and what is damaged (a page, or a bucket and key).
type CorruptError = layout.CorruptError

// Options tunes Open; the zero value is what the daemon wants.
type Options struct {
	// Timeout is how long to wait for the file lock; 0 means DefaultTimeout. bbolt would otherwise wait
	// forever, hanging a CLI command started beside a running daemon.
	Timeout time.Duration

	// ReadOnly opens with a shared lock for inspection (`scimsync status`, `logs`) and never creates the
	// file or buckets. Several read-only openers may coexist, but bbolt's writer holds an exclusive
	// lock for as long as it is open, so a read-only Open of a file that a running daemon holds still
	// fails with ErrLocked after Timeout: inspect a live job through the daemon (its status page),
	// and the file directly only when the daemon is stopped.
	// An open that waited while the writer compacted the file (Compact) opens the new file.
	ReadOnly bool
}

// Store is one job's state file. Its methods are safe for concurrent use: bbolt serialises writers and
// lets readers run beside them.
type Store struct {
	// dbMu is held shared by every transaction and exclusively by Compact, which moves db to a new
	// file, and by Close; it guards closed too.
	dbMu     sync.RWMutex
	db       *bolt.DB
	path     string
	abs      string
	readOnly bool
	release  func()
	closed   bool

	// jmu guards jr, the anchor journal of a writable store (journal.go); it is never taken while
	// holding dbMu.
	jmu sync.Mutex
	jr  *journal.Journal

	views atomic.Uint64 // read transactions, for viewLocked's periodic mapped.Drop
}

// Open opens or creates the state file at path (creating its directory), upgrades or checks its schema
// and returns a Store. It refuses a file held by another Store (ErrLocked), a damaged file (ErrCorrupt)
// and a file from a newer scimsync (ErrSchemaTooNew), each naming the path.
func Open(path string, o Options) (st *Store, err error) {
	if path == "" {
		return nil, errors.New("open state file: empty path")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if o.ReadOnly {
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("open state file %s: %w", path, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open state file %s: is a directory", path)
	}

	release, ok := filelock.Acquire(abs, o.ReadOnly)
	if !ok {
		return nil, &LockedError{Path: path, InProcess: true}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()

	db, err := boltfile.Open(abs, path, o.Timeout, o.ReadOnly)
	if errors.Is(err, boltfile.ErrTimeout) {
		return nil, &LockedError{Path: path}
	}
	if err != nil {
		return nil, err
	}
	if !o.ReadOnly {
		if err := removeCompactLeftover(abs); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open state file %s: %w", path, err)
		}
	}
	s := &Store{db: db, path: path, abs: abs, readOnly: o.ReadOnly, release: release}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !o.ReadOnly {
		if err := s.openJournal(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return s, nil
}

// init creates missing buckets and checks the schema version in one transaction.
func (s *Store) init() error {
	if s.readOnly {
		return s.view(func(tx *bolt.Tx) error {
			return checkSchema(s.path, tx.Bucket(layout.Meta))
		})
	}
	return s.update(func(tx *bolt.Tx) error {
		for _, name := range layout.All {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(layout.Meta)
		if err := checkSchema(s.path, meta); err != nil {
			return err
		}
		// Migrations from older versions go here, keyed on the stored version.
		return meta.Put(layout.KeySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

func checkSchema(path string, meta *bolt.Bucket) error {
	if meta == nil {
		return nil
	}
	raw := meta.Get(layout.KeySchema)
	if raw == nil {
		return nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return &CorruptError{Path: path, Err: fmt.Errorf("schema version %q is not a number", raw)}
	}
	if v > SchemaVersion {
		return fmt.Errorf("state file %s has schema version %d but this scimsync supports up to %d; upgrade scimsync: %w",
			path, v, SchemaVersion, ErrSchemaTooNew)
	}
	return nil
}

// Path returns the file name given to Open, for messages.
func (s *Store) Path() string { return s.path }

// Close releases the file lock so the next process (or a restarted job) can open it. Close any Batcher
// first: its pending writes are otherwise lost.
func (s *Store) Close() error {
	jerr := s.closeJournal()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	s.release()
	if jerr != nil {
		return jerr
	}
	if err != nil {
		return fmt.Errorf("close state file %s: %w", s.path, err)
	}
	return nil
}

// Check walks every page of the file; for `scimsync status --check` and after an unclean shutdown of the
// machine, since bbolt itself verifies only the meta pages on open.
func (s *Store) Check() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.checkLocked()
}

// checkLocked is Check for a caller that holds dbMu (Compact); it reports the first ten problems.
func (s *Store) checkLocked() error {
	return s.viewLocked(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
			if len(errs) >= 10 {
				break
			}
		}
		mapped.Drop(tx) // every page was read
		if len(errs) > 0 {
			return &CorruptError{Path: s.path, Err: errors.Join(errs...)}
		}
		return nil
	})
}

// Backup writes a consistent copy of the whole file while the daemon keeps running, which is the way to
// hand the state of a live job to another tool since the file itself is locked.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	if err := s.settle(""); err != nil {
		return 0, fmt.Errorf("back up %s: %w", s.path, err)
	}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup state file %s: %w", s.path, err)
	}
	return n, nil
}

// view runs a read transaction, converting a bbolt panic on a damaged page into ErrCorrupt. A damaged
// branch page can point anywhere in the mapping, past the end of the file; SetPanicOnFault turns the
// resulting fault into a panic that recover() sees, instead of a crash with a goroutine dump.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.viewLocked(fn)
}

// viewLocked is view for a caller that holds dbMu.
func (s *Store) viewLocked(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: s.path, Err: boltfile.PanicDetail("reading", r)}
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		err := fn(tx)
		if s.views.Add(1)%dropEveryViews == 0 {
			mapped.Drop(tx)
		}
		return err
	})
}

// dropEveryViews is how many read transactions run between letting go of the file's mapped pages
// (mapped.Drop; a read of many anchors lets go itself): a single-anchor read lands on a random leaf,
// mapped with the kernel's 64 KiB around it, and a step that looks up thousands (the manager step's
// unlinked managers) would otherwise map much of the file (docs/performance.md#memory). At 64, about
// 4 MiB between two drops (256 let 16 MiB pile up in the scale harness), each one madvise call.
const dropEveryViews = 64

// update runs a write transaction; bbolt rolls it back if fn fails or panics.
func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	if s.readOnly {
		return fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: s.path, Err: boltfile.PanicDetail("writing", r)}
		}
	}()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	err = s.db.Update(fn)
	// The pages the transaction and its commit read stay mapped, each with the neighbours the kernel
	// maps around a fault: a batch of links touches tens of MiB. A read transaction is where the
	// mapping cannot move, so they are let go there (mapped.Drop).
	dropAll(s.db)
	return err
}

// dropAll lets go of the mapped pages of each file (mapped.Drop), inside a read transaction of it.
func dropAll(dbs ...*bolt.DB) {
	for _, db := range dbs {
		_ = db.View(func(tx *bolt.Tx) error { mapped.Drop(tx); return nil })
	}
}

// bucket returns a top-level bucket, or an error when it is missing: only possible for a read-only open
// of a file that was never initialised, which reads as empty via the callers' nil checks instead.

// ---- meta, watermarks, fingerprint ----

// Watermark returns the delta link stored under name ("users", "groups", ...), or "" when there is none,
// which the engine reads as "run an initial cycle".
func (s *Store) Watermark(name string) (string, error) {
	link, err := s.get(layout.Watermarks, []byte(name))
	if err != nil {
		return "", fmt.Errorf("get watermark %s: %w", name, err)
	}
	return string(link), nil
}

// SetWatermark stores the delta link of a completed cycle; the engine calls it only after every object
// of the cycle is settled, so a failed cycle is re-read from the previous watermark.
func (s *Store) SetWatermark(name, link string) error {
	return s.setWatermarks(map[string]string{name: link}, "set watermark "+name)
}

// SetWatermarks stores several delta links atomically, so users and groups never end up from different
// cycles after a crash.
func (s *Store) SetWatermarks(links map[string]string) error {
	return s.setWatermarks(links, "set watermarks")
}

func (s *Store) setWatermarks(links map[string]string, what string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, layout.Watermarks)
		if err != nil {
			return err
		}
		for name, link := range links {
			if name == "" {
				return errors.New("empty watermark name")
			}
			if link == "" {
				err = b.Delete([]byte(name))
			} else {
				err = b.Put([]byte(name), []byte(link))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ClearWatermarks forgets all delta links so the next cycle is initial (https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart resetScope
// Watermark).
func (s *Store) ClearWatermarks() error {
	if err := s.update(func(tx *bolt.Tx) error { return layout.ResetBucket(tx, layout.Watermarks) }); err != nil {
		return fmt.Errorf("clear watermarks: %w", err)
	}
	return nil
}

// Fingerprint returns the hash of mappings and scoping that the last cycle ran with, or "" when none
// was stored; the engine compares it to the current one to decide whether the next cycle must be initial.
func (s *Store) Fingerprint() (string, error) {
	fp, err := s.get(layout.Meta, layout.KeyFingerprint)
	if err != nil {
		return "", fmt.Errorf("get fingerprint: %w", err)
	}
	return string(fp), nil
}

// SetFingerprint records the configuration hash the current state was built with.
func (s *Store) SetFingerprint(fp string) error {
	if err := s.set(layout.Meta, layout.KeyFingerprint, []byte(fp)); err != nil {
		return fmt.Errorf("set fingerprint: %w", err)
	}
	return nil
}

// GetMeta returns a value stored with SetMeta, or nil when absent; an escape hatch so small new pieces of
// state need no schema change.
func (s *Store) GetMeta(key string) ([]byte, error) {
	v, err := s.get(layout.KV, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("get meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta stores value under key; a nil value deletes the key.
func (s *Store) SetMeta(key string, value []byte) error {
	err := errors.New("empty key")
	if key != "" {
		err = s.set(layout.KV, []byte(key), value)
	}
	if err != nil {
		return fmt.Errorf("set meta %s: %w", key, err)
	}
	return nil
}

// get reads the value of key in a top-level bucket (a copy: bbolt's is valid only in the transaction),
// nil when absent.
func (s *Store) get(bucket, key []byte) (v []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			if raw := b.Get(key); raw != nil {
				v = bytes.Clone(raw)
			}
		}
		return nil
	})
	return v, err
}

// set stores value under key in a top-level bucket; a nil value deletes the key.
func (s *Store) set(bucket, key, value []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		b, err := layout.BucketOrErr(tx, bucket)
		if err != nil {
			return err
		}
		if value == nil {
			return b.Delete(key)
		}
		return b.Put(key, value)
	})
}

// layout.ResetBucket empties a top-level bucket by recreating it, which is cheaper than deleting keys one by one.
