package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/daemon/status"
)

// host is the `run` process: the jobs, the runner that schedules them, the metrics listener and the
// signals. With --config it runs one job and reloads all of it or none of it, as before; with --jobs
// it runs every job file of the folder and a reload applies each file on its own.
type host struct {
	// files lists the job files: the one --config, or every file in --jobs.
	files  func() ([]string, error)
	single bool
	// listen is --metrics-listen; with --config and no flag, the job's metrics.listen is used.
	listen string
	opts   daemon.Options
	// newLog builds the logger a configuration asks for (--log-level and --log-format still win).
	newLog func(*config.Config) (*zap.Logger, error)
	// cycled, when set (tests), is told after each cycle once the status is up to date.
	cycled chan<- struct{}

	metrics *metrics.Metrics
	runner  *daemon.Runner
	// servers counts the HTTP servers still shutting down.
	servers sync.WaitGroup

	// mu guards what a reload replaces.
	mu          sync.Mutex
	log         *zap.Logger
	jobs        map[string]*jobRun
	metricsAddr string
	stopMetrics func()
}

// keyError is a job file a reload cannot apply because of one key.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// errNeedsRestart is a change a running daemon cannot apply (the state file: it holds its lock and socket).
var errNeedsRestart = errors.New("this key needs a restart; keeping the running configuration (systemctl restart)")

func (h *host) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		cancel()
		h.servers.Wait() // the listeners are closed when run returns: a new daemon can bind them
	}()
	b := currentBuild()
	h.metrics = metrics.New(metrics.Build{Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion})
	files, err := h.files()
	if err != nil {
		return err
	}
	runs, errs := h.openAll(files, nil)
	if err := h.startLog(runs, errs); err != nil {
		return err
	}
	if addr := h.wantListen(runs); addr != "" {
		stop, err := h.serveMetrics(ctx, addr, h.log)
		if err != nil {
			return withCode(exitConfig, err)
		}
		h.metricsAddr, h.stopMetrics = addr, stop
	}
	if h.runner, err = daemon.New(jobList(runs), h.opts); err != nil {
		return withCode(exitConfig, err)
	}
	h.jobs = runs
	for _, r := range runs {
		h.begin(ctx, r)
	}
	h.runner.Start(ctx)
	notifySystemd("READY=1")
	if h.single {
		cfg := runs[names(runs)[0]].cfg
		h.log.Info("scimsync started", zap.String("schedule", cfg.Schedule), zap.String("state", cfg.StatePath))
	} else {
		h.log.Info("scimsync started", zap.Strings("jobs", names(runs)), zap.Int("maxConcurrent", h.opts.MaxConcurrent))
	}
	h.waitSignals(ctx, cancel)
	return nil
}

// startLog picks the daemon's logger and decides whether the jobs found are enough to start: the one
// job of --config must load; with --jobs, a bad file is logged and the others run.
func (h *host) startLog(runs map[string]*jobRun, errs []error) error {
	if h.single {
		if len(errs) > 0 {
			return errs[0]
		}
		h.log = runs[names(runs)[0]].log
		return nil
	}
	log, err := h.newLog(&config.Config{})
	if err != nil {
		return withCode(exitConfig, err)
	}
	h.log = log
	for _, err := range errs {
		log.Error("a job file is invalid; its job does not run", zap.Error(err))
	}
	if len(runs) == 0 {
		return withCode(exitConfig, errors.New("--jobs: no job to run (the folder holds no valid *.yaml or *.yml job file)"))
	}
	return nil
}

// begin makes a new job visible: its status (socket, state file copy) and its state gauges.
func (h *host) begin(ctx context.Context, r *jobRun) {
	sctx, stop := context.WithCancel(ctx)
	r.stopSocket = stop
	r.live.Refresh(time.Now())
	r.live.ServeSocket(sctx, status.Socket(r.cfg), r.log, &h.servers)
	r.observeState(true)
	r.setNext()
}

// openAll loads and wires every job file. A file that did not change keeps its running job; one that
// fails keeps its old job if it had one (in the result) and is reported in errs.
func (h *host) openAll(files []string, old map[string]*jobRun) (map[string]*jobRun, []error) {
	byFile := map[string]*jobRun{}
	for _, r := range old {
		byFile[r.file] = r
	}
	runs := map[string]*jobRun{}
	states := map[string]string{}
	var errs []error
	for _, f := range files {
		r, err := h.openRun(f, byFile[f], old)
		if err == nil {
			if other, ok := runs[r.cfg.Name]; ok {
				err = &keyError{key: "name", err: fmt.Errorf("%s: job %q is also defined by %s", f, r.cfg.Name, other.file)}
			} else if other, ok := states[r.cfg.StatePath]; ok {
				err = &keyError{key: "state", err: fmt.Errorf("%s: state %s is also used by %s", f, r.cfg.StatePath, other)}
			}
		}
		if err != nil {
			errs = append(errs, err)
			r = byFile[f]
			if r == nil {
				continue
			}
		}
		runs[r.cfg.Name], states[r.cfg.StatePath] = r, f
	}
	return runs, errs
}

// openRun wires one job file; prev is the running job of the same file, old every running job (a
// renamed file keeps its job's status and series).
func (h *host) openRun(file string, prev *jobRun, old map[string]*jobRun) (*jobRun, error) {
	v := fileVersion(file)
	if prev != nil && prev.version == v && v != "" {
		return prev, nil
	}
	cfg, err := loadConfig(file)
	if err != nil {
		return nil, err
	}
	if p := old[cfg.Name]; p != nil {
		prev = p
	}
	if prev != nil && prev.cfg.StatePath != cfg.StatePath {
		return nil, &keyError{key: "state", err: fmt.Errorf("%s: %w (running %s, file %s)", file, errNeedsRestart, prev.cfg.StatePath, cfg.StatePath)}
	}
	log, err := h.newLog(cfg)
	if err != nil {
		return nil, &keyError{key: "logging", err: withCode(exitConfig, err)}
	}
	log = log.With(zap.String("job", cfg.Name))
	r := &jobRun{h: h, file: file, version: v, cfg: cfg, log: log}
	if prev != nil {
		r.live, r.m, r.stopSocket = prev.live, prev.m, prev.stopSocket
	} else {
		r.live, r.m = status.NewLive(cfg, readStored), h.metrics.Job(cfg.Name)
	}
	if r.j, err = openJob(cfg, log, r.live); err != nil {
		return nil, err
	}
	return r, nil
}

// jobList is what the runner schedules.
func jobList(runs map[string]*jobRun) []daemon.Job {
	out := make([]daemon.Job, 0, len(runs))
	for _, n := range names(runs) {
		r := runs[n]
		out = append(out, daemon.Job{Name: n, Schedule: r.cfg.Schedule, Version: r.version, Cycler: r})
	}
	return out
}

// wantListen is where /metrics listens: --metrics-listen, or the one job's metrics.listen.
func (h *host) wantListen(runs map[string]*jobRun) string {
	if h.listen != "" || !h.single {
		return h.listen
	}
	for _, r := range runs {
		return metricsListen(r.cfg)
	}
	return ""
}

// logger is the daemon's current logger (a reload may replace it).
func (h *host) logger() *zap.Logger {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log
}

// systemdStatus is the one-line state `systemctl status` shows; ended names the job whose cycle
// just ended (the runner learns of it only when Cycle returns).
func (h *host) systemdStatus(ended string) {
	var running, total int
	var next time.Time
	for _, s := range h.runner.Jobs() {
		total++
		if s.Running && s.Name != ended {
			running++
		}
		if !s.Next.IsZero() && (next.IsZero() || s.Next.Before(next)) {
			next = s.Next
		}
	}
	switch {
	case running == 0:
		systemdStatus(idleStatus(next))
	case h.single:
		systemdStatus("cycle running")
	default:
		systemdStatus(strconv.Itoa(running) + " of " + strconv.Itoa(total) + " jobs running")
	}
}

// serveMetrics exposes /metrics, /healthz and the status on addr until ctx ends or stop is called.
func (h *host) serveMetrics(ctx context.Context, addr string, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	ctx, stop = context.WithCancel(ctx)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// the status answers from memory, so it works while a cycle holds the state file
	h.statusRoutes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	h.servers.Add(1)
	go func() {
		defer h.servers.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	return stop, nil
}
