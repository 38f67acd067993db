package daemon

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/store"
)

// jobRun is one job in the daemon: its wired job and what the daemon keeps of it across reloads
// (the status, the metrics series, the status socket).
type jobRun struct {
	h       *Host
	file    string
	version string
	cfg     *config.Config
	j       Wired
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
	r.m.WatchTarget(r.j.Target())
	res, err := r.j.Run(ctx)
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
	r.m.Requests(r.j.Target())
	return err
}

// observeState reads the state gauges between cycles (see metrics.Job.State); a state that cannot be
// opened leaves them as they were.
func (r *jobRun) observeState(atStart bool) {
	st, err := r.h.Wiring.OpenState(r.cfg)
	if err != nil {
		return
	}
	defer st.Close()
	var last time.Time
	if atStart {
		last = metrics.LastSuccess(st)
	}
	r.m.State(st, last)
}

// afterCycle brings the status up to date after a cycle: what the state file now holds and when the
// next cycle runs.
func (r *jobRun) afterCycle(ctx context.Context) {
	r.live.Refresh(time.Now())
	r.setNext()
	if r.h.Cycled != nil {
		select {
		case r.h.Cycled <- struct{}{}:
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
func (h *Host) waitSignals(ctx context.Context, cancel context.CancelFunc) {
	watchdog, stopWatchdog := watchdogTicker()
	defer stopWatchdog()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case <-watchdog:
			pctx, done := context.WithTimeout(ctx, 10*time.Second)
			if h.runner.Ping(pctx) == nil {
				notifySystemd("WATCHDOG=1")
			}
			done()
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
