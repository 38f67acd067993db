package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/daemon/status"
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
changed one applies from its next cycle (the running one finishes), an unchanged one is left alone.
A file that is invalid, or that changes the state file (which needs a restart), keeps its job as it
was and names the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := jobsDir(cmd)
			h := &host{single: dir == "", listen: listen, opts: o,
				files: func() ([]string, error) { return []string{configPath(cmd)}, nil },
				newLog: func(c *config.Config) (*zap.Logger, error) {
					return newLogger(logFlags(cmd, c.Logging.Level, c.Logging.Format))
				}}
			if dir != "" {
				h.files = func() ([]string, error) { return jobFiles(dir) }
			}
			return h.run(cmd.Context())
		},
	}
	cmd.Flags().IntVar(&o.MaxConcurrent, "max-concurrent", daemon.DefaultMaxConcurrent, "cycles of different jobs that may run at once")
	cmd.Flags().StringVar(&listen, "metrics-listen", "", "address of the daemon's /metrics, /healthz and /status (default: metrics.listen of the job, with --config)")
	return cmd
}

// jobsDir is --jobs: a folder of job files, one job each.
func jobsDir(cmd *cobra.Command) string {
	d, _ := cmd.Flags().GetString("jobs")
	return d
}

// jobFiles lists the job files in dir: *.yaml and *.yml, hidden files (editor backups) left out.
func jobFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("--jobs: %w", err))
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || (filepath.Ext(n) != ".yaml" && filepath.Ext(n) != ".yml") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// jobFile resolves --job NAME in --jobs DIR: DIR/NAME.yaml or DIR/NAME.yml, else the file whose
// name: is NAME.
func jobFile(dir, name string) (string, error) {
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	files, err := jobFiles(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if cfg, err := config.LoadOffline(f); err == nil && cfg.Name == name {
			return f, nil
		}
	}
	return "", withCode(exitConfig, fmt.Errorf("--job %q: no job file %s.yaml in %s, and no file there has name: %s", name, name, dir, name))
}

// fileVersion is what tells a changed job file from an unchanged one on reload.
func fileVersion(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// jobRun is one job in the daemon: its wired job and what the daemon keeps of it across reloads
// (the status, the metrics series, the status socket).
type jobRun struct {
	h       *host
	file    string
	version string
	cfg     *config.Config
	j       *job
	log     *zap.Logger
	live    *status.Live
	m       *metrics.Job
	// stopSocket closes the job's status socket when the job is removed.
	stopSocket context.CancelFunc
}

// Cycle runs one cycle of the job and brings its status and metrics up to date.
func (r *jobRun) Cycle(ctx context.Context) error {
	start := time.Now()
	r.live.Begin()
	r.h.systemdStatus("")
	r.m.Running(true)
	r.m.WatchTarget(r.j.target)
	res, err := r.j.run(ctx, engine.RunOptions{})
	r.m.Running(false)
	r.observeState(false)
	r.live.End(res, err)
	r.afterCycle(ctx)
	r.h.systemdStatus(r.cfg.Name)
	switch {
	case errors.Is(err, store.ErrLocked):
		r.log.Warn("the state file is in use (a manual sync?); skipping this tick", zap.Error(err))
		return err
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return err
	}
	if res != nil && res.Ran {
		r.m.Cycle(res, err, time.Since(start))
	}
	r.m.Requests(r.j.target)
	return err
}

// observeState reads the state gauges between cycles (see metrics.Job.State); a state that cannot be
// opened leaves them as they were.
func (r *jobRun) observeState(atStart bool) {
	st, err := openState(r.cfg, true)
	if err != nil {
		return
	}
	defer st.Close()
	var last time.Time
	if atStart {
		last = lastSuccessIn(st)
	}
	r.m.State(st, last)
}

// afterCycle brings the status up to date after a cycle: what the state file now holds and when the
// next cycle runs.
func (r *jobRun) afterCycle(ctx context.Context) {
	r.live.Refresh(time.Now())
	r.setNext()
	if r.h.cycled != nil {
		select {
		case r.h.cycled <- struct{}{}:
		case <-ctx.Done():
		}
	}
}

func (r *jobRun) setNext() {
	if r.h.runner == nil {
		return
	}
	next := r.h.runner.Next(r.cfg.Name)
	r.live.SetNext(next)
	r.m.Next(next)
}

// changedKeys names the top-level configuration keys (metrics.listen for the listener) that differ,
// for the reload's log line.
func changedKeys(a, b *config.Config) []string {
	var out []string
	add := func(key string, differ bool) {
		if differ {
			out = append(out, key)
		}
	}
	add("schedule", a.Schedule != b.Schedule)
	add("logging", a.Logging != b.Logging)
	add("metrics.listen", metricsListen(a) != metricsListen(b))
	add("notify", !reflect.DeepEqual(a.Notify, b.Notify))
	add("source", !reflect.DeepEqual(a.Source, b.Source))
	add("target", !reflect.DeepEqual(a.Target, b.Target))
	return out
}

func metricsListen(c *config.Config) string {
	if c == nil || c.Metrics == nil {
		return ""
	}
	return c.Metrics.Listen
}

// waitSignals runs until SIGTERM or SIGINT (or the runner ends); SIGHUP reloads.
func (h *host) waitSignals(ctx context.Context, cancel context.CancelFunc) {
	watchdog, stopWatchdog := watchdogTicker()
	defer stopWatchdog()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case <-watchdog:
			notifySystemd("WATCHDOG=1")
		case err := <-h.runner.ErrCh:
			h.logger().Error("the scheduler could not claim its jobs; no cycle starts until it can", zap.Error(err))
		case s := <-sigs:
			if s == syscall.SIGHUP {
				h.reload(ctx)
				continue
			}
			log := h.logger()
			log.Info("stopping", zap.String("signal", s.String()))
			notifySystemd("STOPPING=1")
			cancel()
			select {
			case <-h.runner.DoneCh:
			case <-time.After(30 * time.Second):
				log.Warn("the cycle did not stop within 30s; exiting anyway")
			}
			return
		case <-h.runner.DoneCh:
			return
		}
	}
}

// names lists the jobs' names, sorted, for log lines.
func names(runs map[string]*jobRun) []string {
	out := make([]string, 0, len(runs))
	for n := range runs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
