package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimsync/scimsync/store"
)

// Key namespaces of the kv table.
const (
	nsMeta      = "meta"      // fingerprint, quarantine, abort streak, dialect, oauth grant
	nsKV        = "kv"        // GetMeta / SetMeta
	nsWatermark = "watermark" // delta links
)

// Keys of nsMeta.
const (
	keyFingerprint = "fingerprint"
	keyQuarantine  = "quarantine"
	keyAborts      = "aborts"
	keyDialect     = "dialect"
	keyGrant       = "oauthgrant"
)

// pruneChunk bounds one pruning statement, as in the bbolt store, so a large prune never holds locks on
// the whole log.
const pruneChunk = 10000

// Options tunes DB.Open.
type Options struct {
	// ReadOnly refuses writes (store.ErrReadOnly), for status and logs beside a running daemon; unlike
	// a bbolt file, the database is readable while a replica writes.
	ReadOnly bool
	// Lease, when set, fences every write: it commits only while the job's lease row carries
	// Lease.Token, else it fails with store.ErrLeaseLost. Without a lease, writes are not fenced,
	// which is only safe when nothing else runs the job.
	Lease *Lease
}

// State is one job's state in the database; it implements store.State. Its methods are safe for
// concurrent use.
type State struct {
	db       *DB
	job      string
	readOnly bool
	token    int64 // 0: not fenced

	// base is cancelled by Close, so that any use after Close fails instead of writing unfenced.
	base   context.Context
	cancel context.CancelFunc

	closeMu sync.Mutex
	closed  bool
	onClose func() error
}

func (s *State) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, s.db.timeout)
}

var _ store.State = (*State)(nil)

// Open returns the state of job. It does not take the job's lease; OpenLeased does.
func (db *DB) Open(job string, o Options) (*State, error) {
	if job == "" {
		return nil, errors.New("open state: empty job name")
	}
	s := &State{db: db, job: job, readOnly: o.ReadOnly}
	s.base, s.cancel = context.WithCancel(context.Background())
	if o.Lease != nil {
		if o.Lease.Job != job {
			return nil, fmt.Errorf("open state of job %s with the lease of job %s", job, o.Lease.Job)
		}
		s.token = o.Lease.Token
	}
	return s, nil
}

// Path names the database and the job, without credentials.
func (s *State) Path() string { return s.db.name + " job " + s.job }

// Close releases what OpenLeased took; a State from Open holds nothing. The DB stays open.
func (s *State) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	if s.onClose != nil {
		return s.onClose()
	}
	return nil
}

// write runs fn in one transaction after the fencing check.
func (s *State) write(what string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("%s: %s: %w", what, s.Path(), store.ErrReadOnly)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if s.token != 0 {
			if err := fence(ctx, tx, s.job, s.token); err != nil {
				return err
			}
		}
		return fn(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *State) corrupt(format string, args ...any) error {
	return &store.CorruptError{Path: s.Path(), Err: fmt.Errorf(format, args...)}
}

// ---- kv ----

func (s *State) getKV(ns, key string) ([]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var v []byte
	err := s.db.pool.QueryRow(ctx, `SELECT value FROM scimsync.kv WHERE job = $1 AND ns = $2 AND key = $3`, s.job, ns, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func putKV(ctx context.Context, tx pgx.Tx, job, ns, key string, value []byte) error {
	if value == nil {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.kv WHERE job = $1 AND ns = $2 AND key = $3`, job, ns, key)
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO scimsync.kv (job, ns, key, value) VALUES ($1, $2, $3, $4)
ON CONFLICT (job, ns, key) DO UPDATE SET value = EXCLUDED.value`, job, ns, key, value)
	return err
}

func (s *State) getJSON(key string, v any) (bool, error) {
	raw, err := s.getKV(nsMeta, key)
	if err != nil || raw == nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, s.corrupt("value %s: %w", key, err)
	}
	return true, nil
}

func (s *State) putJSON(what, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.write(what, func(ctx context.Context, tx pgx.Tx) error { return putKV(ctx, tx, s.job, nsMeta, key, raw) })
}

func (s *State) deleteMeta(what, key string) error {
	return s.write(what, func(ctx context.Context, tx pgx.Tx) error { return putKV(ctx, tx, s.job, nsMeta, key, nil) })
}

// Watermark implements store.State.
func (s *State) Watermark(name string) (string, error) {
	v, err := s.getKV(nsWatermark, name)
	if err != nil {
		return "", fmt.Errorf("get watermark %s: %w", name, err)
	}
	return string(v), nil
}

// SetWatermark implements store.State.
func (s *State) SetWatermark(name, link string) error {
	return s.setWatermarks(map[string]string{name: link}, "set watermark "+name)
}

// SetWatermarks implements store.State.
func (s *State) SetWatermarks(links map[string]string) error {
	return s.setWatermarks(links, "set watermarks")
}

func (s *State) setWatermarks(links map[string]string, what string) error {
	return s.write(what, func(ctx context.Context, tx pgx.Tx) error {
		for name, link := range links {
			if name == "" {
				return errors.New("empty watermark name")
			}
			var v []byte
			if link != "" {
				v = []byte(link)
			}
			if err := putKV(ctx, tx, s.job, nsWatermark, name, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClearWatermarks implements store.State.
func (s *State) ClearWatermarks() error {
	return s.write("clear watermarks", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.kv WHERE job = $1 AND ns = $2`, s.job, nsWatermark)
		return err
	})
}

// Fingerprint implements store.State.
func (s *State) Fingerprint() (string, error) {
	v, err := s.getKV(nsMeta, keyFingerprint)
	if err != nil {
		return "", fmt.Errorf("get fingerprint: %w", err)
	}
	return string(v), nil
}

// SetFingerprint implements store.State.
func (s *State) SetFingerprint(fp string) error {
	return s.write("set fingerprint", func(ctx context.Context, tx pgx.Tx) error {
		return putKV(ctx, tx, s.job, nsMeta, keyFingerprint, []byte(fp))
	})
}

// GetMeta implements store.State.
func (s *State) GetMeta(key string) ([]byte, error) {
	v, err := s.getKV(nsKV, key)
	if err != nil {
		return nil, fmt.Errorf("get meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta implements store.State.
func (s *State) SetMeta(key string, value []byte) error {
	return s.write("set meta "+key, func(ctx context.Context, tx pgx.Tx) error {
		if key == "" {
			return errors.New("empty key")
		}
		return putKV(ctx, tx, s.job, nsKV, key, value)
	})
}

// ---- anchors ----

func (s *State) scanLink(kind store.Kind, sourceID string, created *int64, rec []byte) (store.Link, error) {
	var a store.Link
	if err := store.DecodeLink(rec, &a); err != nil {
		return store.Link{}, s.corrupt("anchor %s/%s: %w", kind, sourceID, err)
	}
	a.Kind, a.SourceID = kind, sourceID
	a.CreatedAt = time.Time{}
	if created != nil {
		a.CreatedAt = time.Unix(0, *created).UTC()
	}
	return a, nil
}

// Link implements store.State.
func (s *State) Link(kind store.Kind, sourceID string) (store.Link, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var created *int64
	var rec []byte
	err := s.db.pool.QueryRow(ctx, `SELECT created_ns, rec FROM scimsync.anchors WHERE job = $1 AND kind = $2 AND source_id = $3`,
		s.job, string(kind), sourceID).Scan(&created, &rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Link{}, false, nil
	}
	if err != nil {
		return store.Link{}, false, fmt.Errorf("get anchor %s/%s: %w", kind, sourceID, err)
	}
	a, err := s.scanLink(kind, sourceID, created, rec)
	if err != nil {
		return store.Link{}, false, fmt.Errorf("get anchor %s/%s: %w", kind, sourceID, err)
	}
	return a, true, nil
}

// Links implements store.State.
func (s *State) Links(kind store.Kind) (map[string]store.Link, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	out := map[string]store.Link{}
	rows, err := s.db.pool.Query(ctx, `SELECT source_id, created_ns, rec FROM scimsync.anchors WHERE job = $1 AND kind = $2`, s.job, string(kind))
	if err != nil {
		return nil, fmt.Errorf("list anchors %s: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var created *int64
		var rec []byte
		if err := rows.Scan(&id, &created, &rec); err != nil {
			return nil, fmt.Errorf("list anchors %s: %w", kind, err)
		}
		a, err := s.scanLink(kind, id, created, rec)
		if err != nil {
			return nil, fmt.Errorf("list anchors %s: %w", kind, err)
		}
		out[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list anchors %s: %w", kind, err)
	}
	return out, nil
}

// LinkByTarget implements store.State; of two anchors claiming the target id, the last written wins.
func (s *State) LinkByTarget(kind store.Kind, targetID string) (store.Link, bool, error) {
	if targetID == "" {
		return store.Link{}, false, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var id string
	var created *int64
	var rec []byte
	err := s.db.pool.QueryRow(ctx, `SELECT source_id, created_ns, rec FROM scimsync.anchors
WHERE job = $1 AND kind = $2 AND target_id = $3 ORDER BY wseq DESC LIMIT 1`, s.job, string(kind), targetID).Scan(&id, &created, &rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Link{}, false, nil
	}
	if err != nil {
		return store.Link{}, false, fmt.Errorf("get anchor by target %s/%s: %w", kind, targetID, err)
	}
	a, err := s.scanLink(kind, id, created, rec)
	if err != nil {
		return store.Link{}, false, fmt.Errorf("get anchor by target %s/%s: %w", kind, targetID, err)
	}
	return a, true, nil
}

// queueLink adds the statement writing op to b. CreatedAt is kept from the stored row when op leaves
// it zero; UpdatedAt is now when zero, as in the bbolt store.
func queueLink(b *pgx.Batch, job string, op *store.LinkOp, now time.Time) error {
	a := op.Link
	if a.Kind == "" || a.SourceID == "" {
		return fmt.Errorf("anchor %s: kind and source id are required", a)
	}
	if !op.Put {
		b.Queue(`DELETE FROM scimsync.anchors WHERE job = $1 AND kind = $2 AND source_id = $3`, job, string(a.Kind), a.SourceID)
		return nil
	}
	if a.Packed != "" {
		return fmt.Errorf("anchor %s: %w", a, store.ErrPacked)
	}
	keep := a.CreatedAt.IsZero()
	created := a.CreatedAt
	if keep {
		created = now
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = now
	}
	a.CreatedAt = created
	// A zero time (a restored record that never had one) is NULL: its UnixNano is out of range.
	var createdNs *int64
	if !created.IsZero() {
		ns := created.UnixNano()
		createdNs = &ns
	}
	b.Queue(`INSERT INTO scimsync.anchors (job, kind, source_id, target_id, created_ns, rec) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (job, kind, source_id) DO UPDATE SET target_id = EXCLUDED.target_id, rec = EXCLUDED.rec,
	created_ns = CASE WHEN $7 AND scimsync.anchors.created_ns IS NOT NULL THEN scimsync.anchors.created_ns ELSE EXCLUDED.created_ns END,
	wseq = nextval('scimsync.anchor_writes')`,
		job, string(a.Kind), a.SourceID, a.TargetID, createdNs, store.EncodeLink(&a), keep)
	return nil
}

// WriteLinks implements store.BatchWriter: one transaction, one round trip for the whole batch.
func (s *State) WriteLinks(ops []store.LinkOp) error {
	return s.writeLinks("write anchors", ops)
}

func (s *State) writeLinks(what string, ops []store.LinkOp) error {
	now := time.Now().UTC()
	b := &pgx.Batch{}
	for i := range ops {
		if err := queueLink(b, s.job, &ops[i], now); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return s.write(what, func(ctx context.Context, tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// NewBatcher implements store.State.
func (s *State) NewBatcher(maxItems int, maxDelay time.Duration) *store.Batcher {
	return store.NewBatcherOn(s, maxItems, maxDelay)
}

// PutLinks implements store.State.
func (s *State) PutLinks(as ...store.Link) error {
	if len(as) == 0 {
		return nil
	}
	ops := make([]store.LinkOp, len(as))
	for i, a := range as {
		ops[i] = store.LinkOp{Put: true, Link: a}
	}
	what := fmt.Sprintf("put %d anchors", len(as))
	if len(as) == 1 {
		what = "put anchor " + as[0].String()
	}
	return s.writeLinks(what, ops)
}

// DeleteLinks implements store.State.
func (s *State) DeleteLinks(kind store.Kind, sourceIDs ...string) error {
	if len(sourceIDs) == 0 {
		return nil
	}
	return s.write(fmt.Sprintf("delete %d anchors %s", len(sourceIDs), kind), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.anchors WHERE job = $1 AND kind = $2 AND source_id = ANY($3)`, s.job, string(kind), sourceIDs)
		return err
	})
}

// ClearLinks implements store.State.
func (s *State) ClearLinks() error {
	return s.write("clear anchors", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.anchors WHERE job = $1`, s.job)
		return err
	})
}

// CountLinks implements store.State.
func (s *State) CountLinks(kind store.Kind) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int
	if err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM scimsync.anchors WHERE job = $1 AND kind = $2`, s.job, string(kind)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count anchors %s: %w", kind, err)
	}
	return n, nil
}

// ---- cycles ----

// AddCycle implements store.State; re-adding an id replaces the entry in place.
func (s *State) AddCycle(c store.Cycle) error {
	if c.ID == "" {
		return errors.New("add cycle : empty cycle id")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("add cycle %s: %w", c.ID, err)
	}
	return s.write("add cycle "+c.ID, func(ctx context.Context, tx pgx.Tx) error {
		return addCycle(ctx, tx, s.job, c.ID, raw)
	})
}

func addCycle(ctx context.Context, tx pgx.Tx, job, id string, raw []byte) error {
	if _, err := tx.Exec(ctx, `INSERT INTO scimsync.cycles (job, id, rec) VALUES ($1, $2, $3)
ON CONFLICT (job, id) DO UPDATE SET rec = EXCLUDED.rec`, job, id, string(raw)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM scimsync.cycles WHERE job = $1 AND seq <= (
	SELECT seq FROM scimsync.cycles WHERE job = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`, job, store.MaxCycles)
	return err
}

// Cycles implements store.State.
func (s *State) Cycles(limit int) ([]store.Cycle, error) {
	q := `SELECT id, rec FROM scimsync.cycles WHERE job = $1 ORDER BY seq DESC`
	args := []any{s.job}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	var out []store.Cycle
	err := s.queryJSON(q, args, func(key string) any {
		out = append(out, store.Cycle{})
		return &out[len(out)-1]
	})
	if err != nil {
		return nil, fmt.Errorf("list cycles: %w", err)
	}
	return out, nil
}

// queryJSON runs q, whose rows are (key, json), decoding each json into next(key).
func (s *State) queryJSON(q string, args []any, next func(key string) any) error {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.db.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var raw []byte
		if err := rows.Scan(&key, &raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, next(key)); err != nil {
			return s.corrupt("value %q: %w", key, err)
		}
	}
	return rows.Err()
}

// ---- escrows and staged operations ----

// PutEscrow implements store.State.
func (s *State) PutEscrow(e store.Escrow) error { return s.PutEscrows(e) }

// PutEscrows implements store.State.
func (s *State) PutEscrows(es ...store.Escrow) error {
	if len(es) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range es {
		if err := queueObject(b, "escrows", s.job, e.Kind, e.SourceID, e); err != nil {
			return fmt.Errorf("put %d escrows (first %s/%s): %w", len(es), es[0].Kind, es[0].SourceID, err)
		}
	}
	return s.write(fmt.Sprintf("put %d escrows (first %s/%s)", len(es), es[0].Kind, es[0].SourceID), func(ctx context.Context, tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// queueObject queues the upsert of one per-object JSON row into table (escrows or staged).
func queueObject(b *pgx.Batch, table, job string, kind store.Kind, sourceID string, v any) error {
	if kind == "" || sourceID == "" {
		return errors.New("kind and source id are required")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO scimsync.`+table+` (job, kind, source_id, rec) VALUES ($1, $2, $3, $4)
ON CONFLICT (job, kind, source_id) DO UPDATE SET rec = EXCLUDED.rec`, job, string(kind), sourceID, string(raw))
	return nil
}

// DeleteEscrow implements store.State.
func (s *State) DeleteEscrow(kind store.Kind, sourceID string) error {
	return s.write(fmt.Sprintf("delete escrow %s/%s", kind, sourceID), func(ctx context.Context, tx pgx.Tx) error {
		if kind == "" || sourceID == "" {
			return errors.New("kind and source id are required")
		}
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.escrows WHERE job = $1 AND kind = $2 AND source_id = $3`, s.job, string(kind), sourceID)
		return err
	})
}

// Escrows implements store.State, ordered by kind and source id as bytes, as in the bbolt store.
func (s *State) Escrows() ([]store.Escrow, error) {
	var out []store.Escrow
	err := s.queryJSON(`SELECT kind || '/' || source_id, rec FROM scimsync.escrows WHERE job = $1
ORDER BY kind COLLATE "C", source_id COLLATE "C"`, []any{s.job}, func(string) any {
		out = append(out, store.Escrow{})
		return &out[len(out)-1]
	})
	if err != nil {
		return nil, fmt.Errorf("list escrows: %w", err)
	}
	return out, nil
}

// ClearEscrows implements store.State.
func (s *State) ClearEscrows() error {
	return s.write("clear escrows", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.escrows WHERE job = $1`, s.job)
		return err
	})
}

// StageOps implements store.State.
func (s *State) StageOps(ops ...store.StagedOp) error {
	if len(ops) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, op := range ops {
		if err := queueObject(b, "staged", s.job, op.Kind, op.SourceID, op); err != nil {
			return fmt.Errorf("stage %d ops: %s/%s: %w", len(ops), op.Kind, op.SourceID, err)
		}
	}
	return s.write(fmt.Sprintf("stage %d ops", len(ops)), func(ctx context.Context, tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// StagedOps implements store.State.
func (s *State) StagedOps() ([]store.StagedOp, error) {
	var out []store.StagedOp
	err := s.queryJSON(`SELECT kind || '/' || source_id, rec FROM scimsync.staged WHERE job = $1
ORDER BY kind COLLATE "C", source_id COLLATE "C"`, []any{s.job}, func(string) any {
		out = append(out, store.StagedOp{})
		return &out[len(out)-1]
	})
	if err != nil {
		return nil, fmt.Errorf("list staged ops: %w", err)
	}
	return out, nil
}

// ClearStaged implements store.State.
func (s *State) ClearStaged() error {
	return s.write("clear staged ops", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM scimsync.staged WHERE job = $1`, s.job)
		return err
	})
}

// Restart implements store.State: watermarks, escrows, staged operations, the abort streak and the
// quarantine go, in one transaction; anchors and the dialect stay.
func (s *State) Restart() error {
	return s.write("restart", func(ctx context.Context, tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM scimsync.kv WHERE job = $1 AND (ns = $2 OR (ns = $3 AND key = ANY($4)))`,
			s.job, nsWatermark, nsMeta, []string{keyAborts, keyQuarantine})
		b.Queue(`DELETE FROM scimsync.escrows WHERE job = $1`, s.job)
		b.Queue(`DELETE FROM scimsync.staged WHERE job = $1`, s.job)
		return tx.SendBatch(ctx, b).Close()
	})
}

// ---- quarantine, abort streak, dialect, grant ----

// Quarantine implements store.State.
func (s *State) Quarantine() (*store.Quarantine, error) {
	var q store.Quarantine
	ok, err := s.getJSON(keyQuarantine, &q)
	if err != nil {
		return nil, fmt.Errorf("get quarantine: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &q, nil
}

// SetQuarantine implements store.State.
func (s *State) SetQuarantine(q store.Quarantine) error {
	return s.putJSON("set quarantine", keyQuarantine, q)
}

// ClearQuarantine implements store.State.
func (s *State) ClearQuarantine() error { return s.deleteMeta("clear quarantine", keyQuarantine) }

// AbortStreak implements store.State.
func (s *State) AbortStreak() (store.AbortStreak, error) {
	var a store.AbortStreak
	if _, err := s.getJSON(keyAborts, &a); err != nil {
		return store.AbortStreak{}, fmt.Errorf("get abort streak: %w", err)
	}
	return a, nil
}

// SetAbortStreak implements store.State; the zero value deletes it.
func (s *State) SetAbortStreak(a store.AbortStreak) error {
	if a.Count == 0 {
		return s.deleteMeta("set abort streak", keyAborts)
	}
	return s.putJSON("set abort streak", keyAborts, a)
}

// TargetDialect implements store.State.
func (s *State) TargetDialect() (*store.TargetDialect, error) {
	var d store.TargetDialect
	ok, err := s.getJSON(keyDialect, &d)
	if err != nil {
		return nil, fmt.Errorf("get target dialect: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// SetTargetDialect implements store.State.
func (s *State) SetTargetDialect(d store.TargetDialect) error {
	return s.putJSON("set target dialect", keyDialect, d)
}

// ClearTargetDialect implements store.State.
func (s *State) ClearTargetDialect() error {
	return s.deleteMeta("clear target dialect", keyDialect)
}

// Grant implements store.State.
func (s *State) Grant(key []byte) (*store.Grant, error) {
	raw, err := s.getKV(nsMeta, keyGrant)
	if err != nil {
		return nil, fmt.Errorf("get oauth grant: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	g, err := store.DecodeGrant(raw, key)
	if err != nil && !errors.Is(err, store.ErrGrantKey) {
		return nil, s.corrupt("oauth grant: %w", err)
	}
	return g, err
}

// SetGrant implements store.State; the commit is durable when it returns (PostgreSQL's synchronous
// commit, the server default).
func (s *State) SetGrant(g store.Grant, key []byte) error {
	raw, err := store.EncodeGrant(g, key)
	if err != nil {
		return fmt.Errorf("set oauth grant: %w", err)
	}
	return s.write("set oauth grant", func(ctx context.Context, tx pgx.Tx) error {
		return putKV(ctx, tx, s.job, nsMeta, keyGrant, raw)
	})
}

// ClearGrant implements store.State.
func (s *State) ClearGrant() error { return s.deleteMeta("clear oauth grant", keyGrant) }

// ---- provisioning log ----

// AppendLog implements store.State.
func (s *State) AppendLog(entries ...store.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	store.PrepareLog(entries, time.Now().UTC())
	b := &pgx.Batch{}
	for i := range entries {
		if err := queueLog(b, s.job, &entries[i]); err != nil {
			return fmt.Errorf("append %d log entries: %w", len(entries), err)
		}
	}
	return s.write(fmt.Sprintf("append %d log entries", len(entries)), func(ctx context.Context, tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

func queueLog(b *pgx.Batch, job string, e *store.LogEntry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("entry %s: %w", e.ID, err)
	}
	b.Queue(`INSERT INTO scimsync.log (job, at_ns, id, cycle_id, rec) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (job, at_ns, id) DO UPDATE SET cycle_id = EXCLUDED.cycle_id, rec = EXCLUDED.rec`,
		job, e.Time.UnixNano(), e.ID, e.CycleID, string(raw))
	return nil
}

// QueryLog implements store.State: newest first, the time range and the cycle filtered by the database
// (an index range), the text filters as the bbolt store applies them.
func (s *State) QueryLog(q store.LogQuery) ([]store.LogEntry, error) {
	sql := `SELECT id, rec FROM scimsync.log WHERE job = $1`
	args := []any{s.job}
	if !q.Since.IsZero() {
		args = append(args, q.Since.UnixNano())
		sql += fmt.Sprintf(` AND at_ns >= $%d`, len(args))
	}
	if !q.Until.IsZero() {
		args = append(args, q.Until.UnixNano())
		sql += fmt.Sprintf(` AND at_ns < $%d`, len(args))
	}
	if q.CycleID != "" {
		args = append(args, q.CycleID)
		sql += fmt.Sprintf(` AND cycle_id = $%d`, len(args))
	}
	sql += ` ORDER BY at_ns DESC, id DESC`
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	defer rows.Close()
	var out []store.LogEntry
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("query log: %w", err)
		}
		var e store.LogEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("query log: %w", s.corrupt("log entry %s: %w", id, err))
		}
		if !q.Match(&e) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	return out, nil
}

// PruneLog implements store.State: it deletes by the time index in chunks, never rewriting the rest.
func (s *State) PruneLog(before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.write("prune log before "+before.Format(time.RFC3339), func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM scimsync.log WHERE ctid IN (
	SELECT ctid FROM scimsync.log WHERE job = $1 AND at_ns < $2 LIMIT $3)`, s.job, before.UnixNano(), pruneChunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneChunk {
			return total, nil
		}
	}
}

// ---- sets ----

// Sets implements store.State.
func (s *State) Sets(name string) (map[string][]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.db.pool.Query(ctx, `SELECT key, members FROM scimsync.sets WHERE job = $1 AND name = $2`, s.job, name)
	if err != nil {
		return nil, fmt.Errorf("read set %s: %w", name, err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k string
		var list []string
		if err := rows.Scan(&k, &list); err != nil {
			return nil, fmt.Errorf("read set %s: %w", name, err)
		}
		out[k] = list
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read set %s: %w", name, err)
	}
	return out, nil
}

// PutSets implements store.State.
func (s *State) PutSets(name string, put map[string][]string, del []string, replace bool) error {
	return s.write("write set "+name, func(ctx context.Context, tx pgx.Tx) error {
		b := &pgx.Batch{}
		if replace {
			b.Queue(`DELETE FROM scimsync.sets WHERE job = $1 AND name = $2`, s.job, name)
		}
		if len(del) > 0 {
			b.Queue(`DELETE FROM scimsync.sets WHERE job = $1 AND name = $2 AND key = ANY($3)`, s.job, name, del)
		}
		for k, list := range put {
			queueSet(b, s.job, name, k, list)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func queueSet(b *pgx.Batch, job, name, key string, list []string) {
	b.Queue(`INSERT INTO scimsync.sets (job, name, key, members) VALUES ($1, $2, $3, $4)
ON CONFLICT (job, name, key) DO UPDATE SET members = EXCLUDED.members`, job, name, key, list)
}
