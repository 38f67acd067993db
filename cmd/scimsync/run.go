package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/job"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
)

// newRunCmd is the daemon systemd runs: a first cycle of every job at start, then one per schedule tick.
func newRunCmd() *cobra.Command {
	var o daemon.Options
	var listen string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run as a daemon: a cycle at start, then on the schedule (default every 40 minutes)",
		Long: `Run as a daemon: the job of --config, or every job file (*.yaml, *.yml) in --jobs DIR. Each
job's first cycle starts at once, later ones follow its cron schedule (default "@every 40m"); a tick
that comes while the job's cycle still runs queues one more. Cycles of different jobs run at once, up
to --max-concurrent; a failing or quarantined job never delays another. SIGTERM or SIGINT cancels the
cycles in flight (what was already sent is recorded, the watermark is not advanced) and exits.
SIGHUP reloads: every job file is read again; a new file starts a job, a removed one stops it, a
changed one applies from its next cycle (the running one finishes), an unchanged one keeps its
schedule and its cycle in flight (its secret files are read again).
A file that is invalid, or that changes the state file (which needs a restart), keeps its job as it
was and names the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			// A replica renews its leases at least three times per lease TTL, so a missed claim or
			// two never loses a job, whatever --claim-interval or the daemon file ask
			// (SCIMSYNC_LEASE_TTL shortens both, for tests).
			ttl, err := job.LeaseTTL()
			if err != nil {
				return err
			}
			o.MaxClaimInterval = ttl / 3
			h := &daemon.Host{Dir: jobsDir(cmd), File: configPath(cmd), Listen: listen, Options: o,
				Wiring: wiring{cmd: cmd}, Status: job.StoredStatus,
				Build: metrics.Build{Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion}}
			h.Options.Claimer = job.NewClaimer(h)
			err = h.Run(cmd.Context())
			// The cycles have ended: give this replica's jobs back at once rather than at lease expiry.
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if serr := job.StopCoordinators(stopCtx); serr != nil && err == nil {
				h.Logger().Warn("releasing the replica's leases failed; other replicas take the jobs at lease expiry", zap.Error(serr))
			}
			if errors.Is(err, daemon.ErrConfig) {
				return withCode(exitConfig, err)
			}
			return err
		},
	}
	cmd.Flags().IntVar(&o.MaxConcurrent, "max-concurrent", 0, "cycles of different jobs that may run at once (default: maxConcurrent of the daemon file, else 4)")
	cmd.Flags().DurationVar(&o.ClaimInterval, "claim-interval", 0, "how often to ask which jobs this replica holds (default: claimInterval of the daemon file, else 10s; at most a third of the lease TTL)")
	cmd.Flags().StringVar(&listen, "metrics-listen", "", "address of the daemon's /metrics, /healthz and /status (default: metrics.listen of the job, with --config)")
	return cmd
}

// jobsDir is --jobs: a folder of job files, one job each.
func jobsDir(cmd *cobra.Command) string {
	d, _ := cmd.Flags().GetString("jobs")
	return d
}

// wiring is how the daemon turns a job file into a running job: the same steps as `sync`.
type wiring struct{ cmd *cobra.Command }

func (w wiring) Load(file string) (*config.Config, error) { return loadConfig(file) }

func (w wiring) Logger(c *config.Config) (*zap.Logger, error) {
	return newLogger(logFlags(w.cmd, c.Logging.Level, c.Logging.Format))
}

func (w wiring) Open(c *config.Config, log *zap.Logger, p engine.Progress) (daemon.Wired, error) {
	j, err := openJob(c, log, p)
	if err != nil {
		return nil, err
	}
	return wiredJob{j}, nil
}

func (w wiring) OpenState(c *config.Config) (store.State, error) { return job.OpenState(c, true) }

// wiredJob is a job as the daemon runs it.
type wiredJob struct{ j *job.Job }

func (w wiredJob) Run(ctx context.Context) (*engine.Result, error) {
	return w.j.Run(ctx, engine.RunOptions{})
}

func (w wiredJob) Target() *scimclient.Client { return w.j.Target() }
