// Package record is the cycle's record step: everything a cycle writes to the job's state, through
// one Recorder over the few state methods it needs. The read step writes nothing; the apply step
// writes through the Recorder (links as their writes succeed, write-ahead markers before a write
// whose answer could be lost; the provisioning log a batch at a time through a LogWriter); the
// cycle's end records escrows and the watermark. A dry run's Recorder writes nothing at all.
package record

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/escrow"
)

// State is the part of the job's state the recorder writes; store.State implements it.
type State interface {
	NewBatcher(maxItems int, maxDelay time.Duration) *store.Batcher
	PutSets(name string, put map[string][]string, del []string, replace bool) error
	Escrows() ([]store.Escrow, error)
	PutEscrows(es ...store.Escrow) error
	DeleteEscrow(kind store.Kind, sourceID string) error
	StageOps(ops ...store.StagedOp) error
	SetWatermarks(links map[string]string) error
	SetFingerprint(fp string) error
	AppendLog(entries ...store.LogEntry) error
	PruneLog(before time.Time) (int, error)
}

// Recorder writes one cycle's state. It is not safe for concurrent use, except for the batchers it
// hands out.
type Recorder struct {
	st  State
	now func() time.Time
	log *zap.Logger
	dry bool
}

// New returns a Recorder; with dryRun it records nothing.
func New(st State, now func() time.Time, log *zap.Logger, dryRun bool) *Recorder {
	return &Recorder{st: st, now: now, log: log, dry: dryRun}
}

// Links returns a batcher that records links (put or delete) as the writes behind them succeed, at
// most maxItems per transaction; Flush it before the step ends and Close it.
func (r *Recorder) Links(maxItems int) *store.Batcher {
	return r.st.NewBatcher(maxItems, 500*time.Millisecond)
}

// PendingKey is the key of an object's pending create in store.SetPendingCreates.
func PendingKey(kind store.Kind, sourceID string) string { return string(kind) + "/" + sourceID }

// MarkPending records creates before any is sent (one transaction), so a create whose answer is lost
// to a crash is still known to the next cycle.
func (r *Recorder) MarkPending(kind store.Kind, sourceIDs []string) error {
	if len(sourceIDs) == 0 || r.dry {
		return nil
	}
	put := make(map[string][]string, len(sourceIDs))
	for _, id := range sourceIDs {
		put[PendingKey(kind, id)] = []string{}
	}
	if err := r.st.PutSets(store.SetPendingCreates, put, nil, false); err != nil {
		return fmt.Errorf("record pending creates: %w", err)
	}
	return nil
}

// ClearPending clears the pending creates the cycle settled.
func (r *Recorder) ClearPending(kind store.Kind, sourceIDs []string) error {
	if len(sourceIDs) == 0 || r.dry {
		return nil
	}
	del := make([]string, len(sourceIDs))
	for i, id := range sourceIDs {
		del[i] = PendingKey(kind, id)
	}
	if err := r.st.PutSets(store.SetPendingCreates, nil, del, false); err != nil {
		return fmt.Errorf("clear pending creates: %w", err)
	}
	return nil
}

// MarkEscrows writes escrows ahead of a change whose progress could be lost (a group's member
// change), so a crash leaves a marker the next cycle acts on.
func (r *Recorder) MarkEscrows(es []store.Escrow) error {
	if r.dry {
		return nil
	}
	if err := r.st.PutEscrows(es...); err != nil {
		return fmt.Errorf("mark member changes: %w", err)
	}
	return nil
}

// Stage keeps the disables and deletes the deletion threshold held back.
func (r *Recorder) Stage(ops []store.StagedOp) error {
	if r.dry {
		return nil
	}
	if err := r.st.StageOps(ops...); err != nil {
		return fmt.Errorf("stage deletions: %w", err)
	}
	return nil
}

// Failure is one object of a kind that failed this cycle, for its escrow.
type Failure struct {
	SourceID string
	Op       string
	Err      string
	// Cause is the error behind the failure; nil for a plan-level failure (a mapping error), which
	// is invalid data.
	Cause error
}

// Escrows keeps the objects of kind that failed as escrows, so that incremental cycles read and retry
// them although they did not change in the directory, and drops the escrows of the objects that
// succeeded (done). stale are escrows the read step found expired (28 days of failures): they are
// dropped, as the service drops such entries, unless the object failed again and starts a new series.
// It returns how many escrows of kind are kept.
func (r *Recorder) Escrows(kind store.Kind, failures []Failure, done []string, stale []store.Escrow) (held int, err error) {
	if r.dry {
		return 0, nil
	}
	all, err := r.st.Escrows()
	if err != nil {
		return 0, fmt.Errorf("read escrows: %w", err)
	}
	prev := map[string]store.Escrow{}
	for _, es := range all {
		if es.Kind == kind && !isStale(es, stale) {
			prev[es.SourceID] = es
		}
	}
	failed := map[string]bool{}
	now := r.now()
	var put []store.Escrow
	for _, f := range failures {
		if failed[f.SourceID] || f.SourceID == "" {
			continue
		}
		failed[f.SourceID] = true
		var last *store.Escrow
		if es, had := prev[f.SourceID]; had {
			last = &es
		}
		class := escrow.Classify(f.Cause)
		if f.Cause == nil {
			class = escrow.InvalidData
		}
		put = append(put, escrow.Next(last, kind, f.SourceID, f.Op, class, f.Err, now))
	}
	if err := r.st.PutEscrows(put...); err != nil {
		return 0, fmt.Errorf("record escrows: %w", err)
	}
	if err := r.dropStale(kind, all, stale, failed); err != nil {
		return 0, err
	}
	// held ends up as the escrows kept after this cycle: the earlier ones not cleared, plus the new.
	held = len(prev)
	for id := range failed {
		if _, had := prev[id]; !had {
			held++
		}
	}
	cleared := map[string]bool{}
	for _, id := range done {
		if _, had := prev[id]; !had || failed[id] || cleared[id] {
			continue
		}
		cleared[id] = true
		if err := r.st.DeleteEscrow(kind, id); err != nil {
			return 0, fmt.Errorf("clear escrow: %w", err)
		}
		held--
	}
	return held, nil
}

// dropStale deletes the expired escrows of kind still stored as the read step found them.
func (r *Recorder) dropStale(kind store.Kind, all, stale []store.Escrow, failed map[string]bool) error {
	for _, es := range all {
		if es.Kind != kind || failed[es.SourceID] || !isStale(es, stale) {
			continue
		}
		r.log.Warn("dropping an escrow after 28 days of failures", zap.String("kind", string(es.Kind)),
			zap.String("object", es.SourceID), zap.String("error", es.Error))
		if err := r.st.DeleteEscrow(es.Kind, es.SourceID); err != nil {
			return fmt.Errorf("drop escrow: %w", err)
		}
	}
	return nil
}

// isStale reports whether es is one of the expired escrows, unchanged since the read: an escrow
// written again during the cycle (a new member-change marker) starts a new series.
func isStale(es store.Escrow, stale []store.Escrow) bool {
	for _, s := range stale {
		if s.Kind == es.Kind && s.SourceID == es.SourceID && s.FirstFailed.Equal(es.FirstFailed) {
			return true
		}
	}
	return false
}

// Read is what a cycle read that is recorded once its changes were applied, so the watermark never
// moves past changes that were not provisioned.
type Read struct {
	// GroupsRead is set when the groups were read; Members and MembersGone are the membership changes
	// to record, MembersReplace when they replace every stored list.
	GroupsRead     bool
	Members        map[string][]string
	MembersGone    []string
	MembersReplace bool
	// Assignments is the app's assignments ("users", "groups", "roles"); nil in the all-users scope.
	Assignments map[string][]string
	// Watermarks are the delta links by name ("users", "groups").
	Watermarks map[string]string
	// Fingerprint identifies the mappings and scoping the cycle ran with.
	Fingerprint string
}

// Commit records what the cycle read.
func (r *Recorder) Commit(rd Read) error {
	if r.dry {
		return nil
	}
	if rd.GroupsRead {
		if err := r.st.PutSets(store.SetGroupMembers, rd.Members, rd.MembersGone, rd.MembersReplace); err != nil {
			return fmt.Errorf("save group members: %w", err)
		}
	}
	if rd.Assignments != nil {
		if err := r.st.PutSets(store.SetAssignments, rd.Assignments, nil, true); err != nil {
			return fmt.Errorf("save assignments: %w", err)
		}
	}
	if err := r.st.SetWatermarks(rd.Watermarks); err != nil {
		return fmt.Errorf("save watermark: %w", err)
	}
	if err := r.st.SetFingerprint(rd.Fingerprint); err != nil {
		return fmt.Errorf("save fingerprint: %w", err)
	}
	return nil
}

// LogBatch is how many provisioning-log entries a LogWriter holds before it appends them: one
// transaction per batch keeps the cost of a write per entry small, and the memory a cycle holds for
// its log bounded whatever the cycle's size.
const LogBatch = 512

// LogWriter takes a cycle's provisioning-log entries as its steps make them and appends them to the
// state a batch at a time, so a cycle of 100,000 users never holds its whole log. A failed append is
// logged, never fatal: the changes were made. It is safe for concurrent use.
//
// Full batches are appended by a goroutine of the writer's own, in order: Add is called by the apply
// workers while they count a result under the cycle's lock, and an append is a transaction with an
// fsync, so appending there stopped every worker for each batch (175 times in a 100,000-user cycle).
// Add waits only when logQueue batches are waiting already: the disk is slower than the cycle.
type LogWriter struct {
	r     *Recorder
	batch int

	mu    sync.Mutex
	buf   []store.LogEntry
	queue chan []store.LogEntry // nil until the first full batch
	done  chan struct{}         // closed when the goroutine has appended the last batch
}

// logQueue is how many full batches may wait for the writer's goroutine.
const logQueue = 4

// LogWriter returns the cycle's log writer, appending every batch entries (LogBatch when batch is 0
// or less); Close it when the cycle ends.
func (r *Recorder) LogWriter(batch int) *LogWriter {
	if batch <= 0 {
		batch = LogBatch
	}
	return &LogWriter{r: r, batch: batch}
}

// Add takes one entry; a full batch goes to the writer's goroutine.
func (w *LogWriter) Add(le store.LogEntry) {
	if w.r.dry {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, le)
	if len(w.buf) < w.batch {
		return
	}
	if w.queue == nil {
		w.queue, w.done = make(chan []store.LogEntry, logQueue), make(chan struct{})
		go w.run()
	}
	w.queue <- w.buf
	// A new slice: the goroutine owns the full one.
	w.buf = make([]store.LogEntry, 0, w.batch)
}

// run appends the batches queued, in order.
func (w *LogWriter) run() {
	defer close(w.done)
	for entries := range w.queue {
		w.append(entries)
	}
}

// append appends entries to the state, logging a failure.
func (w *LogWriter) append(entries []store.LogEntry) {
	if len(entries) == 0 {
		return
	}
	if err := w.r.st.AppendLog(entries...); err != nil {
		w.r.log.Error("writing the provisioning log failed", zap.Int("entries", len(entries)), zap.Error(err))
	}
}

// Tee is a sink that hands each entry to a LogWriter and, when set, to a func: on-demand provisioning
// shows the entries of its users as well as logging them.
type Tee struct {
	w    *LogWriter
	also func(store.LogEntry)
}

// Tee returns the sink for w and also (nil: w alone).
func (w *LogWriter) Tee(also func(store.LogEntry)) Tee { return Tee{w, also} }

// Add hands le to the writer, then to also.
func (t Tee) Add(le store.LogEntry) {
	t.w.Add(le)
	if t.also != nil {
		t.also(le)
	}
}

// Close appends the entries still held and prunes entries older than retention.
func (w *LogWriter) Close(retention time.Duration) {
	if w.r.dry {
		return
	}
	w.mu.Lock()
	if w.queue != nil {
		close(w.queue)
		<-w.done
	}
	w.append(w.buf) // after the queued batches, so the log stays in order
	w.buf, w.queue = nil, nil
	w.mu.Unlock()
	if retention > 0 {
		if _, err := w.r.st.PruneLog(w.r.now().Add(-retention)); err != nil {
			w.r.log.Error("pruning the provisioning log failed", zap.Error(err))
		}
	}
}
