package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/store/postgres"
	"github.com/scimsync/scimsync/store/postgres/replicas"
)

// coordinated returns the job of a fresh PostgreSQL environment with this process's replica
// coordinator for its database, removed again at the end.
func coordinated(t *testing.T) (*adminEnv, *config.Config, *replicas.Coordinator) {
	t.Helper()
	e, cfg, _ := postgresJob(t)
	co, err := replicaCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopCoordinators(context.Background()); err != nil {
			t.Error(err)
		}
		if coordinatorOf(cfg) != nil {
			t.Error("a coordinator outlived stopCoordinators")
		}
	})
	return e, cfg, co
}

// postgresJob is a fresh PostgreSQL environment, its job's configuration and its database.
func postgresJob(t *testing.T) (*adminEnv, *config.Config, *postgres.DB) {
	t.Helper()
	e := newPostgresEnv(t)
	cfg, err := loadConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, cfg, db
}

// countingTransport stands for the network: it counts what passes the gate.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// TestCycleUnderCoordinatorLease: in a daemon with a coordinator, a cycle of a job it owns writes
// with the coordinator's token and leaves the lease held when it ends; a job it does not own is
// refused like a locked state; once the lease is lost, state writes fail and the gate sends nothing.
func TestCycleUnderCoordinatorLease(t *testing.T) {
	_, cfg, co := coordinated(t)
	ctx := context.Background()
	if co2, err := replicaCoordinator(cfg); err != nil || co2 != co {
		t.Fatalf("a second call made another coordinator: %v", err)
	}
	_, err := openState(cfg, false)
	if !errors.Is(err, store.ErrLocked) || exitCodeOf(err) != exitAborted || !strings.Contains(err.Error(), co.ID()) {
		t.Fatalf("a job the replica does not own: %v (code %d), want ErrLocked naming the replica", err, exitCodeOf(err))
	}
	if mine, err := co.Claim(ctx, []string{cfg.Name}); err != nil || len(mine) != 1 {
		t.Fatalf("claim: %v %v", mine, err)
	}
	h := co.Hold(cfg.Name)
	token := h.Lease().Token

	net := &countingTransport{}
	gt := job.GatedTransport(cfg.Name, net)
	send := func() error {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/scim/Users", strings.NewReader("{}"))
		resp, err := gt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	st, err := openState(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetWatermark("users", "w1"); err != nil {
		t.Fatalf("write under the coordinator's lease: %v", err)
	}
	if err := send(); err != nil || net.n.Load() != 1 {
		t.Fatalf("a request under a good lease: %v, %d sent", err, net.n.Load())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := database(cfg)
	if err != nil {
		t.Fatal(err)
	}
	holders, err := db.Holders(ctx, []string{cfg.Name})
	if err != nil || holders[cfg.Name] != co.ID() || co.Hold(cfg.Name).Lease().Token != token {
		t.Fatalf("after the cycle the lease is %v (%v), token %d → %d: the cycle must leave the replica's lease alone",
			holders, err, token, co.Hold(cfg.Name).Lease().Token)
	}

	// The next cycle opens; then the job is taken over (a new token, as after a pause past the ttl).
	st, err = openState(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := st.(interface{ LeaseLost() <-chan struct{} }).LeaseLost()
	if _, err := db.Acquire(ctx, cfg.Name, "another-replica", time.Nanosecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("another replica took a live lease: %v", err)
	}
	if _, err := db.Acquire(ctx, cfg.Name, co.ID(), time.Hour); err != nil { // same holder: new token
		t.Fatal(err)
	}
	if err := st.SetWatermark("users", "w2"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("write after the takeover: %v, want ErrLeaseLost", err)
	}
	if _, err := co.Claim(ctx, []string{cfg.Name}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	default:
		t.Fatal("the claim after the takeover did not stop the cycle")
	}
	if err := send(); !errors.Is(err, store.ErrLeaseLost) || net.n.Load() != 1 {
		t.Errorf("a request after the takeover: %v, %d sent in all, want ErrLeaseLost and 1", err, net.n.Load())
	}
}

func TestReplicaStatusAndMetrics(t *testing.T) {
	e, cfg, co := coordinated(t)
	if _, err := co.Claim(context.Background(), []string{cfg.Name}); err != nil {
		t.Fatal(err)
	}
	out, err := e.cli(t, "status")
	if err != nil || !strings.Contains(out, "held by    "+co.ID()+" until ") {
		t.Errorf("status does not name the holder: %v\n%s", err, out)
	}
	out, err = e.cli(t, "status", "-o", "json")
	var s status.Snapshot
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.Lease == nil || s.Lease.Holder != co.ID() || s.Lease.Expired {
		t.Errorf("status -o json lease: %+v (%v)", s.Lease, err)
	}

	reg := prometheus.NewRegistry()
	registerReplicaMetrics(t, reg, cfg)
	registerReplicaMetrics(t, reg, cfg) // a reload registers again: no panic, same series
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "replica" && l.GetValue() == holderID() {
					got[f.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if got["scimsync_replica_info"] != 1 || got["scimsync_replica_jobs_owned"] != 1 {
		t.Errorf("replica series %v, want info 1 and 1 job owned", got)
	}
	// A job with a state file has no replica series.
	reg = prometheus.NewRegistry()
	registerReplicaMetrics(t, reg, &config.Config{Name: "file"})
	if families, _ := reg.Gather(); len(families) != 0 {
		t.Errorf("series for a state file: %d", len(families))
	}
	if _, err := replicaCoordinator(&config.Config{Name: "file"}); exitCodeOf(err) != exitConfig {
		t.Errorf("a coordinator for a state file: %v", err)
	}
}

// TestCommandBesideReplicas: an admin command of another process gets the job from the replica that
// owns it (which gives it up at its next claim once idle), and the replica takes it back afterwards;
// while the replica's cycle runs, the command gives up after its wait, exit 3, and withdraws its request.
func TestCommandBesideReplicas(t *testing.T) {
	e, cfg, db := postgresJob(t)
	// The replica runs in "another process": a coordinator this process does not register.
	co, err := replicas.New(db, replicas.Options{ID: "replica-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jobs := []string{cfg.Name}
	if mine, err := co.Claim(ctx, jobs); err != nil || len(mine) != 1 {
		t.Fatalf("claim: %v %v", mine, err)
	}
	stop := make(chan struct{})
	claims := make(chan error, 1)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				close(claims)
				return
			case <-t.C:
				if _, err := co.Claim(ctx, jobs); err != nil {
					claims <- err
				}
			}
		}
	}()
	defer func() { close(stop); <-claims }()

	if _, err := e.cli(t, "restart"); err != nil {
		t.Fatalf("restart beside a replica: %v", err)
	}
	deadline := time.Now().Add(time.Minute) // bounds a hang only
	for co.Hold(cfg.Name) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the replica never took the job back")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The replica's cycle runs and outlasts the command's wait.
	st, err := db.OpenHeld(co.Hold(cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer func(w time.Duration) { job.YieldWait = w }(job.YieldWait)
	job.YieldWait = 300 * time.Millisecond
	_, err = e.cli(t, "restart")
	if !errors.Is(err, store.ErrLocked) || exitCodeOf(err) != exitAborted || !strings.Contains(err.Error(), "replica-1") {
		t.Fatalf("restart while the replica's cycle runs: %v (code %d)", err, exitCodeOf(err))
	}
	if y, err := db.Yielding(ctx, jobs); err != nil || len(y) != 0 {
		t.Errorf("the request outlived the command: %v %v", y, err)
	}
	if co.Hold(cfg.Name) == nil {
		t.Error("the replica lost the job to a command that gave up")
	}
}
