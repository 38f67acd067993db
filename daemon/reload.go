package daemon

import (
	"context"
	"errors"
	"slices"

	"go.uber.org/zap"
)

// reload re-reads every job file. With --config it applies all of it or none of it: a file that is
// invalid, a change that needs a restart (the state file) or a part that cannot be set up (a metrics
// address in use) keeps the running configuration and names the key. With --jobs each file stands on
// its own: a bad one keeps its job as it was. Running cycles finish with the configuration they began
// with; removed jobs are cancelled.
func (h *Host) reload(ctx context.Context) {
	log := h.logger()
	files, err := h.files()
	if err != nil {
		log.Error("reload: cannot list the job files; keeping the running configuration", zap.Error(err))
		return
	}
	h.mu.Lock()
	old := h.jobs
	h.mu.Unlock()
	runs, errs := h.openAll(files, old)
	for _, err := range errs {
		logReloadError(log, err, h.single)
	}
	if h.single && len(errs) > 0 {
		return
	}
	newLog := log
	if h.single {
		newLog = runs[names(runs)[0]].log
	}
	addr := h.wantListen(runs)
	var stopNew func()
	if addr != h.metricsAddr && addr != "" {
		if stopNew, err = h.serveMetrics(ctx, addr, newLog); err != nil {
			log.Error("reload: keeping the running configuration", zap.String("key", "metrics.listen"), zap.Error(err))
			return
		}
	}
	if err := h.runner.Reload(jobList(runs)); err != nil {
		log.Error("reload: keeping the running configuration", zap.Error(err))
		if stopNew != nil {
			stopNew()
		}
		return
	}
	h.mu.Lock()
	h.jobs, h.log = runs, newLog
	stopOld := func() {}
	if addr != h.metricsAddr {
		if h.stopMetrics != nil {
			stopOld = h.stopMetrics
		}
		h.metricsAddr, h.stopMetrics = addr, stopNew
	}
	h.mu.Unlock()
	stopOld()
	h.afterReload(ctx, old, runs, newLog)
	if newLog != log {
		_ = log.Sync()
	}
}

// logReloadError names the key a reload could not apply, so the admin knows what to fix.
func logReloadError(log *zap.Logger, err error, single bool) {
	what := "reload: the configuration is invalid; keeping the running one"
	if !single {
		what = "reload: a job file is invalid; its job keeps running as it was (or does not start)"
	}
	var ke *keyError
	if errors.As(err, &ke) {
		if errors.Is(err, errNeedsRestart) {
			what = "reload: this key needs a restart; keeping the running configuration (systemctl restart)"
		}
		log.Error(what, zap.String("key", ke.key), zap.Error(ke.err))
		return
	}
	log.Error(what, zap.Error(err))
}

// afterReload starts the status of new jobs, drops that of removed ones and says what changed.
func (h *Host) afterReload(ctx context.Context, old, runs map[string]*jobRun, log *zap.Logger) {
	var added, removed, changed []string
	for name, r := range old {
		if _, ok := runs[name]; !ok {
			removed = append(removed, name)
			if r.stopSocket != nil {
				r.stopSocket()
			}
			h.metrics.Forget(name)
		}
	}
	for name, r := range runs {
		p, ok := old[name]
		switch {
		case !ok:
			added = append(added, name)
			h.begin(ctx, r)
		case p != r:
			r.live.SetConfig(r.cfg)
			if p.version != r.version {
				changed = append(changed, name)
			}
		}
		r.setNext()
	}
	if h.single {
		for name, r := range runs {
			var keys []string
			if p := old[name]; p != nil {
				keys = changedKeys(p.cfg, r.cfg)
			}
			log.Info("configuration reloaded", zap.Strings("changed", keys))
		}
		return
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	log.Info("configuration reloaded", zap.Strings("added", added), zap.Strings("removed", removed), zap.Strings("changed", changed))
}
