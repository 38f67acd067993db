package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scimsync/scimsync/store"
)

// expire ends the job's lease now, as the passing of its ttl would: the holder is "paused", it neither
// renews nor knows.
func expire(t *testing.T, job string) {
	t.Helper()
	if _, err := shared.pool.Exec(context.Background(), `UPDATE scimsync.job_leases SET expires_at = now() - interval '1 second' WHERE job = $1`, job); err != nil {
		t.Fatal(err)
	}
}

func acquire(t *testing.T, job, holder string) *Lease {
	t.Helper()
	l, err := shared.Acquire(context.Background(), job, holder, time.Hour)
	if err != nil {
		t.Fatalf("%s acquires %s: %v", holder, job, err)
	}
	return l
}

func TestLeaseTakeoverFencesTheOldHolder(t *testing.T) {
	ctx := context.Background()
	job := newJob()
	la := acquire(t, job, "replica-a")
	a, err := shared.Open(job, Options{Lease: la})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetWatermark("users", "from-a"); err != nil {
		t.Fatalf("the holder writes: %v", err)
	}

	// While A's lease is valid, B cannot take the job.
	_, err = shared.Acquire(ctx, job, "replica-b", time.Hour)
	var held *LeaseHeldError
	if !errors.As(err, &held) || held.Holder != "replica-a" || !errors.Is(err, ErrLeaseHeld) || !errors.Is(err, store.ErrLocked) {
		t.Fatalf("B acquiring a held lease: %v, want LeaseHeldError naming replica-a", err)
	}

	// A pauses past its expiry; B takes over with a higher token.
	expire(t, job)
	lb := acquire(t, job, "replica-b")
	if lb.Token <= la.Token {
		t.Fatalf("takeover token %d, not above %d", lb.Token, la.Token)
	}
	b, err := shared.Open(job, Options{Lease: lb})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.SetWatermark("users", "from-b"); err != nil {
		t.Fatalf("the new holder writes: %v", err)
	}

	// A wakes up: every kind of write fails, and nothing of it lands.
	batch := a.NewBatcher(10, time.Hour)
	batch.Put(store.Link{Kind: store.KindUser, SourceID: "u1", TargetID: "t1"})
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SetWatermark": a.SetWatermark("users", "from-a-again"),
		"PutLinks":     a.PutLinks(store.Link{Kind: store.KindUser, SourceID: "u2"}),
		"Batcher":      batch.Close(),
		"AppendLog":    a.AppendLog(store.LogEntry{ID: "x", Time: time.Now()}),
		"AddCycle":     a.AddCycle(store.Cycle{ID: "c"}),
		"Restart":      a.Restart(),
		"SetGrant":     a.SetGrant(store.Grant{RefreshToken: "rt"}, nil),
		"PruneLog":     func() error { _, err := a.PruneLog(time.Now()); return err }(),
		"Restore":      a.Restore(snap),
		"Renew":        shared.Renew(ctx, la, time.Hour),
	} {
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("%s by the old holder: %v, want ErrLeaseLost", name, err)
		}
	}
	if got, _ := b.Watermark("users"); got != "from-b" {
		t.Errorf("watermark = %q, want the new holder's", got)
	}
	if n, _ := b.CountLinks(store.KindUser); n != 0 {
		t.Errorf("%d anchors written by the old holder", n)
	}
	// Reads stay possible for the old holder (status of a paused replica).
	if _, err := a.Watermark("users"); err != nil {
		t.Errorf("read by the old holder: %v", err)
	}

	// The old holder's Release does not free the new holder's lease.
	if err := shared.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Acquire(ctx, job, "replica-c", time.Hour); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("C after A's stale release: %v, want ErrLeaseHeld", err)
	}
	// The new holder's Release does, and the next token is higher still.
	if err := shared.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if lc := acquire(t, job, "replica-c"); lc.Token <= lb.Token {
		t.Errorf("token after release %d, not above %d", lc.Token, lb.Token)
	}
}

func TestLeaseRenew(t *testing.T) {
	ctx := context.Background()
	job := newJob()
	l := acquire(t, job, "a")
	before := l.Expires
	if err := shared.Renew(ctx, l, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if !l.Expires.After(before) {
		t.Errorf("renewal did not extend: %v -> %v", before, l.Expires)
	}
	// Expired but not taken over: nobody else wrote, the holder may go on.
	expire(t, job)
	if err := shared.Renew(ctx, l, time.Hour); err != nil {
		t.Errorf("renewing an expired lease nobody took: %v", err)
	}
	st, _ := shared.Open(job, Options{Lease: l})
	defer st.Close()
	if err := st.SetFingerprint("fp"); err != nil {
		t.Errorf("write after renewal: %v", err)
	}
	if err := shared.Renew(ctx, l, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

// TestLeaseSameHolderRestart: a holder that restarts under the same name gets a new token, which fences
// the writes of its earlier incarnation (a process that was believed dead).
func TestLeaseSameHolderRestart(t *testing.T) {
	job := newJob()
	l1 := acquire(t, job, "host-1")
	old, _ := shared.Open(job, Options{Lease: l1})
	defer old.Close()
	l2 := acquire(t, job, "host-1")
	if l2.Token <= l1.Token {
		t.Fatalf("token %d after %d", l2.Token, l1.Token)
	}
	if err := old.SetFingerprint("x"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("earlier incarnation wrote: %v", err)
	}
}

// TestLeaseRace: replicas racing for a free job; exactly one wins.
func TestLeaseRace(t *testing.T) {
	job := newJob()
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan *Lease, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			l, err := shared.Acquire(context.Background(), job, "replica-"+string(rune('a'+i)), time.Hour)
			if err != nil {
				errs <- err
				return
			}
			wins <- l
		}()
	}
	close(start)
	wg.Wait()
	close(wins)
	close(errs)
	if len(wins) != 1 {
		t.Fatalf("%d replicas won the lease, want 1", len(wins))
	}
	for err := range errs {
		if !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("loser: %v, want ErrLeaseHeld", err)
		}
	}
}

func TestLeaseValidation(t *testing.T) {
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"no job":     func() error { _, err := shared.Acquire(ctx, "", "h", time.Hour); return err },
		"no holder":  func() error { _, err := shared.Acquire(ctx, "j", "", time.Hour); return err },
		"zero ttl":   func() error { _, err := shared.Acquire(ctx, "j", "h", 0); return err },
		"wrong job":  func() error { _, err := shared.Open("j1", Options{Lease: &Lease{Job: "j2", Token: 1}}); return err },
		"empty name": func() error { _, err := shared.Open("", Options{}); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A state fenced by a token for a job without a lease row writes nothing.
	j := newJob()
	st, err := shared.Open(j, Options{Lease: &Lease{Job: j, Holder: "h", Token: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetFingerprint("x"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("write without a lease row: %v, want ErrLeaseLost", err)
	}
}

// TestOpenLeased: the keeper renews, Close releases at once, and a takeover closes Lost.
func TestOpenLeased(t *testing.T) {
	ctx := context.Background()
	job := newJob()
	st, k, err := shared.OpenLeased(ctx, job, "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetWatermark("users", "w"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := shared.OpenLeased(ctx, job, "b", time.Hour); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second replica: %v, want ErrLocked", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.Lost:
		t.Error("Lost closed by a plain Close")
	default:
	}
	if err := st.SetWatermark("users", "after close"); err == nil {
		t.Error("write after Close accepted")
	}
	st2, k2, err := shared.OpenLeased(ctx, job, "b", 300*time.Millisecond)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	defer st2.Close()
	// Someone else takes the job (an operator's forced takeover): the keeper's next renewal notices.
	if _, err := shared.pool.Exec(ctx, `UPDATE scimsync.job_leases SET holder = 'c', token = token + 1 WHERE job = $1`, job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k2.Lost:
	case <-time.After(time.Minute):
		t.Fatal("the keeper never noticed the takeover")
	}
	if err := st2.SetWatermark("users", "x"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("write after takeover: %v", err)
	}
}

// TestPausedWriterDoesNotBlockTakeover: a holder paused in the middle of a state write keeps its
// transaction, and the share lock on the lease row, open. The server ends its session after the idle
// timeout, so another replica's takeover waits for that, not for the pause to end, and the paused write
// never commits.
func TestPausedWriterDoesNotBlockTakeover(t *testing.T) {
	ctx := context.Background()
	name, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Connect(ctx, Config{URL: srv.URL(name), Password: srv.Password, IdleInTransactionTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	job := newJob()
	la, err := db.Acquire(ctx, job, "a", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := fence(ctx, tx, job, la.Token); err != nil {
		t.Fatal(err)
	}
	// "a" is paused here, its transaction open. "b" wants the job once the lease expired.
	bctx, cancel := context.WithTimeout(ctx, time.Minute) // bounds a hang only
	defer cancel()
	var lb *Lease
	for lb == nil {
		lb, err = db.Acquire(bctx, job, "b", time.Hour)
		if err != nil && !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("takeover behind a paused writer: %v", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO scimsync.kv (job, ns, key, value) VALUES ($1, 'meta', 'late', 'x')`, job); err == nil {
		if err := tx.Commit(ctx); err == nil {
			t.Fatal("the paused writer committed after the takeover")
		}
	}
	if lb.Token <= la.Token {
		t.Errorf("token %d after %d", lb.Token, la.Token)
	}
}
