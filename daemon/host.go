package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/scimsync/scimsync/config"
	"github.com/scimsync/scimsync/daemon/metrics"
	"github.com/scimsync/scimsync/daemon/status"
	"github.com/scimsync/scimsync/scimclient"
	"github.com/scimsync/scimsync/store"
	"github.com/scimsync/scimsync/sync/engine"
)

// Wiring is what the host needs from the program to run a job file: the steps `scimsync sync` takes too.
type Wiring interface {
	// Load reads and checks a job file, secrets included.
	Load(file string) (*config.Config, error)
	// Logger builds the logger a job's configuration asks for.
	Logger(cfg *config.Config) (*zap.Logger, error)
	// Open wires a job; progress receives its running cycle.
	Open(cfg *config.Config, log *zap.Logger, progress engine.Progress) (Wired, error)
	// OpenState opens the job's state read-only, between cycles.
	OpenState(cfg *config.Config) (store.State, error)
}

// Wired is one wired job.
type Wired interface {
	// Run runs one cycle.
	Run(ctx context.Context) (*engine.Result, error)
	// Target is the job's SCIM client, for the request metrics.
	Target() *scimclient.Client
}

// Host is the `run` process: the jobs, the runner that schedules them, the metrics listener and the
// signals. With File it runs one job and reloads all of it or none of it; with Dir it runs every job
// file of the folder and a reload applies each file on its own.
type Host struct {
	// Dir is the folder of job files (--jobs); File the one job file (--config) when Dir is empty.
	Dir, File string
	// Listen is --metrics-listen; with File and no Listen, the job's metrics.listen is used.
	Listen  string
	Options Options
	Wiring  Wiring
	// Status reads a job's stored status for its live status page.
	Status status.Reader
	Build  metrics.Build
	// Cycled, when set (tests), is told after each cycle once the status is up to date.
	Cycled chan<- struct{}

	single  bool
	metrics *metrics.Metrics
	runner  *Runner
	// servers counts the HTTP servers still shutting down.
	servers sync.WaitGroup

	// mu guards what a reload replaces.
	mu          sync.Mutex
	log         *zap.Logger
	jobs        map[string]*jobRun
	metricsAddr string
	stopMetrics func()
}

// JobConfig is the configuration of the named job as loaded now; nil when there is no such job. A
// Claimer uses it to tell which state backend holds the job.
func (h *Host) JobConfig(name string) *config.Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.jobs[name]; r != nil {
		return r.cfg
	}
	return nil
}

// Registry is the daemon's /metrics registry, for series the program adds (replicas); nil before Run.
func (h *Host) Registry() *prometheus.Registry {
	if h.metrics == nil {
		return nil
	}
	return h.metrics.Registry
}

// Logger is the daemon's logger.
func (h *Host) Logger() *zap.Logger { return h.logger() }

// daemonConfig applies a daemon configuration named by Dir: its maxConcurrent, claimInterval and
// metrics listener, unless the command line set them.
func (h *Host) daemonConfig() error {
	if h.single {
		return nil
	}
	d, err := DaemonConfig(h.Dir)
	if err != nil || d == nil {
		return err
	}
	if h.Options.MaxConcurrent <= 0 {
		h.Options.MaxConcurrent = d.MaxConcurrent
	}
	if h.Options.ClaimInterval <= 0 {
		h.Options.ClaimInterval = d.ClaimInterval
	}
	if h.Listen == "" {
		h.Listen = d.MetricsListen
	}
	return nil
}

// files lists the job files: the one File, or every file in Dir.
func (h *Host) files() ([]string, error) {
	if h.single {
		return []string{h.File}, nil
	}
	return JobFiles(h.Dir)
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

// Run runs the jobs until ctx ends or SIGTERM or SIGINT comes; SIGHUP reloads the job files. An
// error wrapping ErrConfig means the configuration cannot run.
func (h *Host) Run(parent context.Context) error {
	h.single = h.Dir == ""
	if err := h.daemonConfig(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		cancel()
		h.servers.Wait() // the listeners are closed when run returns: a new daemon can bind them
	}()
	h.metrics = metrics.New(h.Build)
	files, err := h.files()
	if err != nil {
		return err
	}
	runs, errs := h.openAll(files, nil)
	if err := h.startLog(runs, errs); err != nil {
		return err
	}
	if h.runner, err = New(jobList(runs), h.Options); err != nil {
		return configErr(err)
	}
	h.jobs = runs
	if addr := h.wantListen(runs); addr != "" {
		stop, err := h.serveMetrics(ctx, addr, h.log)
		if err != nil {
			return configErr(err)
		}
		h.metricsAddr, h.stopMetrics = addr, stop
	}
	for _, r := range runs {
		h.begin(ctx, r)
	}
	h.runner.Start(ctx)
	for _, r := range runs {
		r.setNext() // the schedule's ticks are known once it started
	}
	notifySystemd("READY=1")
	if h.single {
		cfg := runs[names(runs)[0]].cfg
		h.log.Info("scimsync started", zap.String("schedule", cfg.Schedule), zap.String("state", cfg.StatePath))
	} else {
		h.log.Info("scimsync started", zap.Strings("jobs", names(runs)), zap.Int("maxConcurrent", h.runner.opts.MaxConcurrent))
	}
	h.waitSignals(ctx, cancel)
	return nil
}

// startLog picks the daemon's logger and decides whether the jobs found are enough to start: the one
// job of --config must load; with --jobs, a bad file is logged and the others run.
func (h *Host) startLog(runs map[string]*jobRun, errs []error) error {
	if h.single {
		if len(errs) > 0 {
			return errs[0]
		}
		h.log = runs[names(runs)[0]].log
		return nil
	}
	log, err := h.Wiring.Logger(&config.Config{})
	if err != nil {
		return configErr(err)
	}
	h.log = log
	for _, err := range errs {
		log.Error("a job file is invalid; its job does not run", zap.Error(err))
	}
	if len(runs) == 0 {
		return configErr(errors.New("--jobs: no job to run (the folder holds no valid *.yaml or *.yml job file)"))
	}
	return nil
}

// begin makes a new job visible: its status (socket, state file copy) and its state gauges.
func (h *Host) begin(ctx context.Context, r *jobRun) {
	sctx, stop := context.WithCancel(ctx)
	r.stopSocket = stop
	r.live.Refresh(time.Now())
	r.live.ServeSocket(sctx, status.Socket(r.cfg), r.log, &h.servers)
	r.observeState(true)
	r.setNext()
}

// openAll loads and wires every job file. One that fails keeps its old job if it had one (in the
// result) and is reported in errs.
func (h *Host) openAll(files []string, old map[string]*jobRun) (map[string]*jobRun, []error) {
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
func (h *Host) openRun(file string, prev *jobRun, old map[string]*jobRun) (*jobRun, error) {
	// Every reload wires the job again, unchanged file or not: a secret file it names (a rotated
	// token) is read again. The runner keeps the cycle in flight either way.
	v := fileVersion(file)
	cfg, err := h.Wiring.Load(file)
	if err != nil {
		return nil, err
	}
	if p := old[cfg.Name]; p != nil {
		prev = p
	}
	if prev != nil && prev.cfg.StatePath != cfg.StatePath {
		return nil, &keyError{key: "state", err: fmt.Errorf("%s: %w (running %s, file %s)", file, errNeedsRestart, prev.cfg.StatePath, cfg.StatePath)}
	}
	log, err := h.Wiring.Logger(cfg)
	if err != nil {
		return nil, &keyError{key: "logging", err: configErr(err)}
	}
	log = log.With(zap.String("job", cfg.Name))
	r := &jobRun{h: h, file: file, version: v, cfg: cfg, log: log}
	if prev != nil {
		r.live, r.m, r.stopSocket = prev.live, prev.m, prev.stopSocket
	} else {
		r.live, r.m = status.NewLive(cfg, h.Status), h.metrics.Job(cfg.Name)
	}
	if r.j, err = h.Wiring.Open(cfg, log, r.live); err != nil {
		return nil, err
	}
	return r, nil
}

// jobList is what the runner schedules.
func jobList(runs map[string]*jobRun) []Job {
	out := make([]Job, 0, len(runs))
	for _, n := range names(runs) {
		r := runs[n]
		out = append(out, Job{Name: n, Schedule: r.cfg.Schedule, Version: r.version, Cycler: r})
	}
	return out
}

// wantListen is where /metrics listens: --metrics-listen, or the one job's metrics.listen.
func (h *Host) wantListen(runs map[string]*jobRun) string {
	if h.Listen != "" || !h.single {
		return h.Listen
	}
	for _, r := range runs {
		return metricsListen(r.cfg)
	}
	return ""
}

// logger is the daemon's current logger (a reload may replace it).
func (h *Host) logger() *zap.Logger {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log
}

// systemdStatus is the one-line state `systemctl status` shows; ended names the job whose cycle
// just ended (the runner learns of it only when Cycle returns).
func (h *Host) systemdStatus(ended string) {
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
func (h *Host) serveMetrics(ctx context.Context, addr string, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	ctx, stop = context.WithCancel(ctx)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.runner.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
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

// configErr marks err as a configuration that cannot run (exit code 2 for the CLI).
func configErr(err error) error { return fmt.Errorf("%w: %w", ErrConfig, err) }
