package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimsync/scimsync/store"
)

// Verify implements store.State: it reads and decodes every value of the job.
func (s *State) Verify() error {
	snap, err := s.Snapshot()
	if err != nil {
		return err
	}
	if err := store.CheckSnapshot(snap); err != nil {
		return &store.CorruptError{Path: s.Path(), Err: err}
	}
	return nil
}

// Snapshot implements store.State, reading in one repeatable-read transaction so the copy is consistent
// while a replica writes.
func (s *State) Snapshot() (*store.Snapshot, error) {
	snap := &store.Snapshot{Format: store.SnapshotFormat, Watermarks: map[string]string{}, Meta: map[string][]byte{},
		Sets: map[string]map[string][]string{}}
	ctx, cancel := s.ctx()
	defer cancel()
	err := pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, step := range []func(context.Context, pgx.Tx, *store.Snapshot) error{s.snapshotKV, s.snapshotLinks, s.snapshotRecords, s.snapshotSets} {
			if err := step(ctx, tx, snap); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.Path(), err)
	}
	return snap, nil
}

// snapshotKV reads the watermarks, the caller's meta values and the state's own (fingerprint, grant,
// quarantine, abort streak, dialect).
func (s *State) snapshotKV(ctx context.Context, tx pgx.Tx, snap *store.Snapshot) error {
	rows, err := tx.Query(ctx, `SELECT ns, key, value FROM scimsync.kv WHERE job = $1`, s.job)
	if err != nil {
		return err
	}
	meta := map[string][]byte{}
	err = forRows(rows, func(r pgx.Rows) error {
		var ns, key string
		var v []byte
		if err := r.Scan(&ns, &key, &v); err != nil {
			return err
		}
		switch ns {
		case nsWatermark:
			snap.Watermarks[key] = string(v)
		case nsKV:
			snap.Meta[key] = v
		case nsMeta:
			meta[key] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	snap.Fingerprint = string(meta[keyFingerprint])
	snap.Grant = meta[keyGrant]
	for key, dst := range map[string]any{keyQuarantine: &snap.Quarantine, keyAborts: &snap.AbortStreak, keyDialect: &snap.Dialect} {
		if raw, ok := meta[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return s.corrupt("value %s: %w", key, err)
			}
		}
	}
	return nil
}

// snapshotLinks lists the anchors in byte order of kind and source id, as the bbolt file does.
func (s *State) snapshotLinks(ctx context.Context, tx pgx.Tx, snap *store.Snapshot) error {
	rows, err := tx.Query(ctx, `SELECT kind, source_id, created_ns, rec FROM scimsync.anchors WHERE job = $1
ORDER BY kind COLLATE "C", source_id COLLATE "C"`, s.job)
	if err != nil {
		return err
	}
	return forRows(rows, func(r pgx.Rows) error {
		var kind, id string
		var created *int64
		var rec []byte
		if err := r.Scan(&kind, &id, &created, &rec); err != nil {
			return err
		}
		// The creation time lives in its own column; the exported record carries it.
		a, err := s.scanLink(store.Kind(kind), id, created, rec)
		if err != nil {
			return err
		}
		snap.Links = append(snap.Links, store.LinkRecord{Kind: a.Kind, SourceID: id, Record: store.EncodeLink(&a)})
		return nil
	})
}

// snapshotRecords reads the JSON rows: escrows, staged operations, cycles (oldest first) and the log.
func (s *State) snapshotRecords(ctx context.Context, tx pgx.Tx, snap *store.Snapshot) error {
	for _, t := range []struct {
		sql  string
		next func() any
	}{
		{`SELECT rec FROM scimsync.escrows WHERE job = $1 ORDER BY kind COLLATE "C", source_id COLLATE "C"`,
			func() any {
				snap.Escrows = append(snap.Escrows, store.Escrow{})
				return &snap.Escrows[len(snap.Escrows)-1]
			}},
		{`SELECT rec FROM scimsync.staged WHERE job = $1 ORDER BY kind COLLATE "C", source_id COLLATE "C"`,
			func() any {
				snap.Staged = append(snap.Staged, store.StagedOp{})
				return &snap.Staged[len(snap.Staged)-1]
			}},
		{`SELECT rec FROM scimsync.cycles WHERE job = $1 ORDER BY seq`,
			func() any { snap.Cycles = append(snap.Cycles, store.Cycle{}); return &snap.Cycles[len(snap.Cycles)-1] }},
		{`SELECT rec FROM scimsync.log WHERE job = $1 ORDER BY at_ns, id`,
			func() any { snap.Log = append(snap.Log, store.LogEntry{}); return &snap.Log[len(snap.Log)-1] }},
	} {
		rows, err := tx.Query(ctx, t.sql, s.job)
		if err != nil {
			return err
		}
		if err := forRows(rows, func(r pgx.Rows) error {
			var raw []byte
			if err := r.Scan(&raw); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, t.next()); err != nil {
				return s.corrupt("value: %w", err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *State) snapshotSets(ctx context.Context, tx pgx.Tx, snap *store.Snapshot) error {
	rows, err := tx.Query(ctx, `SELECT name, key, members FROM scimsync.sets WHERE job = $1`, s.job)
	if err != nil {
		return err
	}
	return forRows(rows, func(r pgx.Rows) error {
		var name, key string
		var list []string
		if err := r.Scan(&name, &key, &list); err != nil {
			return err
		}
		if snap.Sets[name] == nil {
			snap.Sets[name] = map[string][]string{}
		}
		snap.Sets[name][key] = list
		return nil
	})
}

func forRows(rows pgx.Rows, fn func(pgx.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Restore implements store.State: the job's rows are replaced in one (fenced) transaction; other jobs'
// rows are untouched.
func (s *State) Restore(snap *store.Snapshot) error {
	if err := store.CheckSnapshot(snap); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, t := range []string{"kv", "anchors", "escrows", "staged", "cycles", "log", "sets"} {
		b.Queue(`DELETE FROM scimsync.`+t+` WHERE job = $1`, s.job)
	}
	cycles, err := s.queueRestore(b, snap)
	if err != nil {
		return fmt.Errorf("restore %s: %w", s.Path(), err)
	}
	return s.write("restore", func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		// Cycles one by one, oldest first, so their sequence keeps the history's order.
		for i, c := range snap.Cycles {
			if err := addCycle(ctx, tx, s.job, c.ID, cycles[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// queueRestore queues the inserts of everything in snap but the cycles, which it returns encoded.
func (s *State) queueRestore(b *pgx.Batch, snap *store.Snapshot) (cycles [][]byte, err error) {
	if err := s.queueRestoreKV(b, snap); err != nil {
		return nil, err
	}
	for _, r := range snap.Links {
		var a store.Link
		if err := store.DecodeLink(r.Record, &a); err != nil {
			return nil, fmt.Errorf("anchor %s/%s: %w", r.Kind, r.SourceID, err)
		}
		a.Kind, a.SourceID = r.Kind, r.SourceID
		op := store.LinkOp{Put: true, Link: a}
		if err := queueLink(b, s.job, &op, a.UpdatedAt); err != nil {
			return nil, err
		}
	}
	for _, e := range snap.Escrows {
		if err := queueObject(b, "escrows", s.job, e.Kind, e.SourceID, e); err != nil {
			return nil, fmt.Errorf("escrow %s/%s: %w", e.Kind, e.SourceID, err)
		}
	}
	for _, op := range snap.Staged {
		if err := queueObject(b, "staged", s.job, op.Kind, op.SourceID, op); err != nil {
			return nil, fmt.Errorf("staged op %s/%s: %w", op.Kind, op.SourceID, err)
		}
	}
	for i := range snap.Log {
		if err := queueLog(b, s.job, &snap.Log[i]); err != nil {
			return nil, err
		}
	}
	for name, m := range snap.Sets {
		for k, list := range m {
			queueSet(b, s.job, name, k, list)
		}
	}
	cycles = make([][]byte, len(snap.Cycles))
	for i, c := range snap.Cycles {
		if cycles[i], err = json.Marshal(c); err != nil {
			return nil, err
		}
	}
	return cycles, nil
}

// queueRestoreKV queues the key-value rows: the state's own, the watermarks and the caller's.
func (s *State) queueRestoreKV(b *pgx.Batch, snap *store.Snapshot) error {
	queueKV := func(ns, key string, v []byte) {
		b.Queue(`INSERT INTO scimsync.kv (job, ns, key, value) VALUES ($1, $2, $3, $4)`, s.job, ns, key, v)
	}
	if snap.Fingerprint != "" {
		queueKV(nsMeta, keyFingerprint, []byte(snap.Fingerprint))
	}
	if len(snap.Grant) > 0 {
		queueKV(nsMeta, keyGrant, snap.Grant)
	}
	for key, v := range map[string]any{keyQuarantine: snap.Quarantine, keyAborts: snap.AbortStreak, keyDialect: snap.Dialect} {
		if isNil(v) {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		queueKV(nsMeta, key, raw)
	}
	for k, v := range snap.Watermarks {
		queueKV(nsWatermark, k, []byte(v))
	}
	for k, v := range snap.Meta {
		queueKV(nsKV, k, v)
	}
	return nil
}

func isNil(v any) bool {
	switch p := v.(type) {
	case *store.Quarantine:
		return p == nil
	case *store.AbortStreak:
		return p == nil
	case *store.TargetDialect:
		return p == nil
	}
	return v == nil
}

// OpenLeased takes the job's lease for holder (Acquire) and returns the job's state fenced by it, with a
// goroutine renewing the lease every ttl/3. Close stops the renewals and releases the lease. When a
// renewal finds the lease taken over (or cannot renew it in time), renewals stop and every later write
// fails with store.ErrLeaseLost; Lost is closed then, so the caller can stop its cycle early.
func (db *DB) OpenLeased(ctx context.Context, job, holder string, ttl time.Duration) (*State, *Keeper, error) {
	h, err := db.AcquireHold(ctx, job, holder, ttl)
	if err != nil {
		return nil, nil, err
	}
	st, err := db.OpenHeld(h)
	if err != nil {
		return nil, nil, err
	}
	k := &Keeper{Hold: h, Lost: h.lost, stop: make(chan struct{}), done: make(chan struct{})}
	go k.run(ttl)
	st.onClose = func() error {
		h.busy.Add(-1)
		close(k.stop)
		<-k.done
		rctx, cancel := db.ctx()
		defer cancel()
		return h.end(rctx)
	}
	return st, k, nil
}

// OpenHeld returns the job's state fenced by a lease someone else keeps renewed (a replica
// coordinator): Close leaves the lease alone, since the replica keeps the job between cycles. The hold
// counts as Busy until then.
func (db *DB) OpenHeld(h *Hold) (*State, error) {
	l := h.Lease()
	st, err := db.Open(l.Job, Options{Lease: &l})
	if err != nil {
		return nil, err
	}
	h.busy.Add(1)
	st.onClose = func() error {
		h.busy.Add(-1)
		return nil
	}
	return st, nil
}

// Keeper renews a lease in the background.
type Keeper struct {
	// Hold is the lease kept; its Check tells whether the holder may still send.
	Hold *Hold
	// Lost is closed when the lease was taken over or not renewed in time (Hold.Lost).
	Lost <-chan struct{}
	stop chan struct{}
	done chan struct{}
}

func (k *Keeper) run(ttl time.Duration) {
	defer close(k.done)
	t := time.NewTicker(max(ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3+time.Second)
		err := k.Hold.Renew(ctx)
		cancel()
		if err != nil && errorsIsLost(err) {
			return
		}
		// Another failure (the database briefly unreachable) is retried at the next tick; if it lasts
		// past the local deadline, the hold closes Lost itself, before another replica can take over.
	}
}
