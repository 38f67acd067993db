package main

import (
	"context"
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

// The names the in-process tests knew the job wiring by before it moved to package job.

const leaseTTLEnv = job.LeaseTTLEnv

func openState(cfg *config.Config, readOnly bool) (store.State, error) {
	return job.OpenState(cfg, readOnly)
}

func healthPath(statePath string) string { return job.HealthPath(statePath) }

func database(cfg *config.Config) (*postgres.DB, error) { return job.Database(cfg) }

func holderID() string { return job.HolderID() }

func replicaCoordinator(cfg *config.Config) (*replicas.Coordinator, error) {
	return job.ReplicaCoordinator(cfg)
}

func coordinatorOf(cfg *config.Config) *replicas.Coordinator { return job.CoordinatorOf(cfg) }

func stopCoordinators(ctx context.Context) error { return job.StopCoordinators(ctx) }

// replicaJobs is a daemon of one job as the Claimer sees it.
type replicaJobs struct {
	cfg *config.Config
	reg *prometheus.Registry
}

func (r replicaJobs) JobConfig(string) *config.Config { return r.cfg }
func (r replicaJobs) Registry() *prometheus.Registry  { return r.reg }

// registerReplicaMetrics has a new Claimer (a daemon's first claim after a start or a reload) claim
// cfg's job, which puts the replica's series on reg.
func registerReplicaMetrics(t *testing.T, reg *prometheus.Registry, cfg *config.Config) {
	t.Helper()
	if _, err := job.NewClaimer(replicaJobs{cfg, reg}).Claim(context.Background(), []string{cfg.Name}); err != nil {
		t.Fatal(err)
	}
}

func readStored(cfg *config.Config, now time.Time) (*status.Snapshot, error) {
	return job.StoredStatus(cfg, now)
}
